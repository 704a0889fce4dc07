package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/lab"
)

// The core scenarios (join, leave, aging, restart adoption, SIGKILL with
// and without restart, source lists installed as any-source) run twice:
// as the daemon runs on this kernel, and in the mode of a long-term
// kernel before 6.2 and 6.6 (issue 14), forced here with --guard tc
// --mdb-replace off: a tc filter with the heartbeat fail-safe instead of
// a TCX link, and entries refreshed by delete and add, proto static.
//
// Checked failing: with the tc program's heartbeat timeout an hour (no
// fail-safe), the kernel never learns h3's join after the SIGKILL
// (...FallsBackToKernelLTS); with --mdb-replace off ignored, the entries
// say proto 77 (...EndToEndLTS, ...RestartAdoptsLTS,
// ...UnderTrafficLTS, ...AnySourceEntriesLTS); with the tc filters left
// at exit, each port keeps one after SIGTERM (...RestartAdoptsLTS).

// snoopMode is how a core scenario runs the daemon, and what it then
// expects of the kernel.
type snoopMode struct {
	// extra are the daemon arguments that choose the mode.
	extra []string
	// proto is the rt_protocol the daemon's MDB entries say.
	proto uint8
	// tcGuard: the guards are tc filters, which outlive a SIGKILL and
	// stand down only once their heartbeat is GuardHeartbeatTimeout old.
	tcGuard bool
	// kernelLearns bounds how long after a SIGKILL the kernel may take to
	// learn a join by itself.
	kernelLearns time.Duration
}

var (
	// nowMode is the daemon as it runs on this kernel: TCX, replace and
	// our proto.
	nowMode = snoopMode{proto: ourProto, kernelLearns: 5 * time.Second}
	// ltsMode is the daemon as it runs on Linux 5.15 and 6.1.
	ltsMode = snoopMode{
		extra:        []string{"--guard", "tc", "--mdb-replace", "off"},
		proto:        bridge.ProtoStatic,
		tcGuard:      true,
		kernelLearns: 2 * bridge.GuardHeartbeatTimeout,
	}
)

// args are base (timers and the like) with the mode's arguments.
func (m snoopMode) args(base ...string) []string {
	return append(append([]string{}, base...), m.extra...)
}

// expectGuards checks, in tc mode, that each port has want filters of
// ours (and no TCX program); in TCX mode there is nothing left to see
// after the process.
func (m snoopMode) expectGuards(t *testing.T, l *lab.Lab, want int, when string) {
	t.Helper()
	if m.tcGuard {
		expectGuardFilters(t, l, want, when)
	}
}

// expectProto checks that every port entry in the MDB says the mode's
// proto: that the daemon wrote them in the mode asked for.
func (m snoopMode) expectProto(t *testing.T, l *lab.Lab, when string) {
	t.Helper()
	all, _ := portEntries(l, mdb(t, l))
	for _, e := range all {
		if !strings.HasSuffix(e, fmt.Sprintf("/proto%d", m.proto)) {
			t.Errorf("%s: MDB entry %s does not say proto %d (all: %v)", when, e, m.proto, all)
		}
	}
}

// TestSnoopingEndToEndLTS: members receive, non-members do not, leaves
// prune and a silent host ages out with --guard tc --mdb-replace off.
func TestSnoopingEndToEndLTS(t *testing.T) { snoopingEndToEnd(t, ltsMode) }

// TestStopRemovesEntriesAndRestartAdoptsLTS: restart adoption after a
// SIGKILL, and a SIGTERM leaving neither entries nor filters of ours,
// with --guard tc --mdb-replace off.
func TestStopRemovesEntriesAndRestartAdoptsLTS(t *testing.T) {
	stopRemovesEntriesAndRestartAdopts(t, ltsMode)
}

// TestCrashAndRestartUnderTrafficLTS: a SIGKILL and restart lose at most
// 2 % of a member's frames and the new daemon adopts, with --guard tc
// --mdb-replace off.
func TestCrashAndRestartUnderTrafficLTS(t *testing.T) { crashAndRestartUnderTraffic(t, ltsMode) }

// TestCrashWithoutRestartFallsBackToKernelLTS: after a SIGKILL without
// restart the filters left behind stand down and the kernel learns the
// next join within twice the heartbeat timeout, and the entries of
// members that left go within one membership interval, with --guard tc
// --mdb-replace off.
func TestCrashWithoutRestartFallsBackToKernelLTS(t *testing.T) {
	crashWithoutRestartFallsBackToKernel(t, ltsMode)
}

// TestAnySourceInstallsAnySourceEntriesLTS: source-specific joins
// installed as any-source entries, with --guard tc --mdb-replace off.
//
// A kernel before 6.2 takes no source lists, and the daemon then installs
// any-source entries (bridgeKernel.prepare: ProbeSourceLists false). This
// kernel takes them and nothing makes its probe fail, so the scenario uses
// --any-source, which leaves the daemon in the very state the fallback
// does (no source lists in the engine, the bridge's IGMP version left
// as it is) without the probe; TestSourceListFallbackOnOldKernel (daemon,
// over the fake kernel) covers the probe's answer.
func TestAnySourceInstallsAnySourceEntriesLTS(t *testing.T) {
	anySourceInstallsAnySourceEntries(t, ltsMode)
}
