package bridge

import (
	"fmt"
	"time"
)

// GuardMode is how guards are attached to ports.
type GuardMode string

const (
	// GuardAuto is GuardTCX where the kernel has TCX links (Linux 6.6),
	// else GuardTC.
	GuardAuto GuardMode = "auto"
	// GuardTCX attaches each guard through a TCX link this process owns:
	// the kernel detaches it when the process dies.
	GuardTCX GuardMode = "tcx"
	// GuardTC puts each guard in a cls_bpf filter under the port's clsact
	// qdisc. A filter outlives the process, so its program reads a
	// heartbeat the process refreshes and passes every frame once the
	// heartbeat is older than GuardHeartbeatTimeout.
	GuardTC GuardMode = "tc"
)

// ParseGuardMode reads a mode as written in configuration ("" is auto).
func ParseGuardMode(s string) (GuardMode, error) {
	switch m := GuardMode(s); m {
	case "":
		return GuardAuto, nil
	case GuardAuto, GuardTCX, GuardTC:
		return m, nil
	}
	return "", fmt.Errorf("guard %q: must be auto, tcx or tc", s)
}

// The tc guard's fail-safe. The timeout is how long the bridge stays deaf
// to reports after the daemon died or froze: nobody learns in that time,
// but hosts repeat their unsolicited reports and answer the next query,
// and entries live a membership interval (260 s by default), so a few
// seconds cost no member its traffic. The period leaves room for two late
// refreshes (a stalled process, a GC pause, a loaded machine) before the
// guard opens by mistake; opening by mistake only lets the kernel learn
// alongside the daemon for a moment, the safe direction.
const (
	// GuardHeartbeatTimeout is how stale the heartbeat may get before a
	// tc guard passes everything.
	GuardHeartbeatTimeout = 3 * time.Second
	// GuardHeartbeatPeriod is how often the process refreshes it.
	GuardHeartbeatPeriod = time.Second
)
