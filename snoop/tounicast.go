package snoop

import (
	"net/netip"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// SetKernelLearns says whether the kernel learns a known port's
// memberships itself: the caller lets the port's reports and leaves reach
// the bridge, as it must for a port with mcast_to_unicast on, where the
// kernel delivers a group as one copy per reporting host, addressed to the
// host's MAC, which only the port groups it learned itself carry.
//
// On such a port the engine still learns from every report it is given
// (its memberships show, count and meet the port's limits and profile),
// but installs and removes no MDB entries of its own (its entry would add
// a copy addressed to the group), except static groups, and relays none
// of the port's reports or leaves: the bridge forwards them itself.
// Switching on removes the port's entries installed so far; switching off
// installs the port's memberships, taking over from the kernel.
func (e *Engine) SetKernelLearns(now time.Time, ifindex int, on bool) []Action {
	e.out = e.out[:0]
	p := e.ports[ifindex]
	if p == nil || p.kernelLearns == on {
		return e.out
	}
	p.kernelLearns = on
	for _, k := range e.table.KeysOf(ifindex) {
		pg := e.table.Get(k, ifindex)
		if pg.Static {
			continue
		}
		if on {
			if !pg.Installed.IsZero() {
				e.countSourceKeys(pg.Key, pg.InstalledSources, -1)
				e.emit(Action{Kind: ActRemove, Port: ifindex, Key: pg.Key})
			}
			pg.Installed, pg.InstalledMode, pg.InstalledSources = 0, fdb.Exclude, nil
			continue
		}
		e.sync(now, pg, false) // never installed: installs now
	}
	return e.out
}

// KernelLearns tells whether the kernel learns the port's memberships
// (see SetKernelLearns).
func (e *Engine) KernelLearns(ifindex int) bool {
	p := e.ports[ifindex]
	return p != nil && p.kernelLearns
}

// ownsEntry tells whether the MDB entry of a port group is the engine's to
// install and remove: not on a port where the kernel learns, unless static.
func (e *Engine) ownsEntry(pg *fdb.PortGroup) bool {
	return pg.Static || !e.KernelLearns(pg.Port)
}

// ProfileDenies tells whether the port's profile refuses any-source joins
// of group: what the caller removes from a port where the kernel learns.
func (e *Engine) ProfileDenies(ifindex int, group netip.Addr) bool {
	p := e.ports[ifindex]
	return p != nil && p.policy.Profile != nil && !p.policy.Profile.Allows(group, netip.Addr{})
}
