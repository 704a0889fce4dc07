package daemon

import (
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// relay keeps a bridge's guard relay (bridge.Relay) in step with the
// engine: the guards relay the reports of RelayShape from the ports the
// engine says they may (snoop.Engine.RelaysFrom) to its relay targets,
// in the kernel, and the loop marks those frames Relayed so that the
// engine does not send them again.
//
// The guard decides as a frame arrives, the loop when it reads the frame
// from the port's socket; in between, a port's state may change (a router
// port comes or goes, the table nears its limit, a reload). When the guard
// starts relaying a protocol from a port, the reports already queued in
// its socket were not relayed: the loop takes the port's reports for its
// own (pending) until a read after the change finds the queue empty, so
// some may go out twice (harmless), none not at all. When it stops, the
// queued ones were relayed and go out again. Leaves (and every report that
// would lessen a membership) are never relayed by the guard, so none can
// overtake its join.
type relay struct {
	kernel bridge.Relay // nil: the guards relay nothing
	log    *zap.Logger
	// targets and from are what the kernel has, as last set: the targets
	// per protocol (IGMP, MLD), and the protocols relayed from each port
	// (relayIGMP, relayMLD).
	targets [2][]int
	from    map[int]uint8
	// pending are the protocols (relayIGMP, relayMLD) whose relay from a
	// port started at pendingAt, before its queue was seen empty.
	pending   map[int]uint8
	pendingAt map[int]time.Time
	// unset are the marks the kernel refused (its map full, say), not
	// asked again, nor warned of, until they change.
	unset map[int]uint8
	// ssm are the SSM ranges the relay was made with, which RelayShape
	// checks as the guards do.
	ssm     []netip.Prefix
	scratch []int
}

// Bits of relay.from.
const (
	relayIGMP uint8 = 1
	relayMLD  uint8 = 2
)

// open creates the bridge's relay in the kernel; on failure the guards
// relay nothing and the daemon relays every report, as before.
func (r *relay) open(k Kernel, e *snoop.Engine, log *zap.Logger) {
	r.close()
	r.log = log
	ssm := e.SSMRanges()
	kr, err := k.OpenRelay(ssm)
	if err != nil {
		log.Warn("guard relay unavailable: the daemon relays every report", zap.Error(err))
		return
	}
	r.kernel, r.from, r.ssm = kr, make(map[int]uint8), ssm
	r.pending, r.pendingAt, r.unset = make(map[int]uint8), make(map[int]time.Time), make(map[int]uint8)
}

// guard is the relay for a port's guard options (nil if off).
func (r *relay) guard() bridge.Relay { return r.kernel }

// sync brings the kernel's relay in line with the engine and the ports.
// It runs after everything the loop does, so it is cheap when nothing
// changed: two target lists and a map lookup per port.
func (r *relay) sync(e *snoop.Engine, ports map[int]*portIO) {
	if r.kernel == nil {
		return
	}
	var ok [2]bool
	for i := range r.targets {
		// Out of forwarding ports only, as apply sends.
		r.scratch = slices.DeleteFunc(e.RelayTargets(r.scratch[:0], i == 1), func(port int) bool {
			p := ports[port]
			return p == nil || !p.link.Up || !p.link.Forwarding()
		})
		if !slices.Equal(r.scratch, r.targets[i]) {
			if err := r.kernel.SetTargets(i == 1, r.scratch); err != nil {
				r.log.Warn("guard relay: cannot set targets", zap.Error(err))
			} else {
				r.targets[i] = append(r.targets[i][:0], r.scratch...)
			}
		}
		// Only with the kernel holding the targets wanted.
		ok[i] = slices.Equal(r.scratch, r.targets[i]) && len(r.scratch) > 0 && len(r.scratch) <= bridge.MaxRelayTargets
	}
	for ifindex, p := range ports {
		var bits uint8
		// Only ports whose guard holds this relay (not one a failed
		// reload left on the old).
		if p.relay == r.kernel && p.link.Forwarding() && e.RelaysFrom(ifindex) {
			if ok[0] {
				bits |= relayIGMP
			}
			if ok[1] {
				bits |= relayMLD
			}
		}
		r.setPort(ifindex, bits)
	}
	for ifindex := range r.from {
		if ports[ifindex] == nil {
			r.setPort(ifindex, 0)
		}
	}
}

func (r *relay) setPort(ifindex int, bits uint8) {
	was := r.from[ifindex]
	if was == bits {
		return
	}
	if b, ok := r.unset[ifindex]; ok && b == bits {
		return
	}
	if err := r.kernel.SetPort(ifindex, bits&relayIGMP != 0, bits&relayMLD != 0); err != nil {
		r.log.Warn("guard relay: cannot mark a port: the daemon relays its reports", zap.Int("ifindex", ifindex), zap.Error(err))
		r.unset[ifindex] = bits
		return
	}
	delete(r.unset, ifindex)
	if bits == 0 {
		delete(r.from, ifindex)
		delete(r.pending, ifindex)
		delete(r.pendingAt, ifindex)
		return
	}
	r.from[ifindex] = bits
	if started := bits &^ was; started != 0 {
		r.pending[ifindex] |= started
		r.pendingAt[ifindex] = time.Now()
	}
}

// drained tells the relay that a read of port that began at readAt found
// its queue empty: every report read from it from now on arrived after
// a relay that started before readAt.
func (r *relay) drained(port int, readAt time.Time) {
	if r.pending[port] != 0 && readAt.After(r.pendingAt[port]) {
		delete(r.pending, port)
		delete(r.pendingAt, port)
	}
}

// relayed tells whether the guard of port relayed frame itself.
func (r *relay) relayed(port int, frame []byte) bool {
	bits := r.from[port] &^ r.pending[port]
	if bits == 0 || !bridge.RelayShape(frame, r.ssm) {
		return false
	}
	if frame[12] == 0x86 { // IPv6: RelayShape read the EtherType
		return bits&relayMLD != 0
	}
	return bits&relayIGMP != 0
}

// close frees the kernel's relay; the guards must be gone or updated.
func (r *relay) close() {
	if r.kernel == nil {
		return
	}
	if err := r.kernel.Close(); err != nil {
		r.log.Debug("guard relay close", zap.Error(err))
	}
	*r = relay{scratch: r.scratch}
}
