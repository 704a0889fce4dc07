package snoop

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Guests that never send MLD (PortPolicy.NDGuests). Once an MLD querier
// exists the bridge sends a neighbour solicitation, multicast to the
// target's solicited-node group, only to router ports and to ports whose
// MDB entries hold that group (br_multicast_ipv6_rcv marks it
// mrouters_only); a guest that never reports its solicited-node groups is
// then unreachable. On an NDGuests port the engine learns the guest's
// addresses from the neighbour discovery it sends and holds their
// solicited-node groups for it, as if it had reported them.
const (
	// DefaultNDLifetime is how long a solicited-node group learned from
	// ND lives after the guest's last ND message showing the address. It
	// is long because a guest that only answers sends no ND until someone
	// reaches it: a stale group costs one MDB entry and the solicitations
	// for it, which a bridge without a querier floods anyway.
	DefaultNDLifetime = 24 * time.Hour
	// DefaultNDMaxGroups bounds the solicited-node groups learned from ND
	// on one port: a host sending ND from thousands of addresses must not
	// fill the table. Past it the least recently seen one makes room.
	DefaultNDMaxGroups = 16
)

// ndLifetime and ndMaxGroups are the ND settings in force.
func (c *Config) ndLifetime() time.Duration {
	if c.NDLifetime > 0 {
		return c.NDLifetime
	}
	return DefaultNDLifetime
}

func (c *Config) ndMaxGroups() int {
	if c.NDMaxGroups > 0 {
		return c.NDMaxGroups
	}
	return DefaultNDMaxGroups
}

// NDGuests reports whether the port learns its guests from their
// neighbour discovery: the caller reads ND from it only then.
func (e *Engine) NDGuests(ifindex int) bool {
	p := e.ports[ifindex]
	return p != nil && p.policy.NDGuests
}

// handleND learns the addresses a guest shows it holds in a neighbour
// discovery message and keeps their solicited-node groups on its port.
func (e *Engine) handleND(now time.Time, ifindex int, p *port, m *wire.Message) {
	if !p.policy.NDGuests {
		e.ignore(ifindex, ignoreNDOff)
		return
	}
	if p.policy.NoSnooping {
		e.ignore(ifindex, ignoreNoSnooping)
		return
	}
	e.ndScratch = wire.NDAddresses(e.ndScratch[:0], m)
	if len(e.ndScratch) == 0 {
		e.ignore(ifindex, ignoreNDNoAddress) // a router solicitation from ::
		return
	}
	for _, a := range e.ndScratch {
		e.ndLearn(now, ifindex, p, fdb.Key{VLAN: m.VLAN, Group: wire.SolicitedNode(a)}, a)
	}
}

// ndLearn holds key, the solicited-node group of guest address a, on the
// port for the ND lifetime: an any-source membership (EXCLUDE {}) whose
// reporter is a, kept in the kernel by the same writes as any other.
func (e *Engine) ndLearn(now time.Time, ifindex int, p *port, key fdb.Key, a netip.Addr) {
	lifetime := e.cfg.ndLifetime()
	pg := e.table.Get(key, ifindex)
	created := pg == nil
	if created {
		if _, ok := e.filter(ifindex, p, a, key, wire.ModeIsExclude, nil); !ok {
			return
		}
		if !e.ndMakeRoom(ifindex, key, a) {
			return
		}
		if max := p.policy.MaxGroups; max > 0 && e.table.PortLen(ifindex) >= max {
			// The port's own limit is the operator's: ND never replaces
			// a group a host asked for.
			e.limitHit(ifindex, key, a, fdb.ErrPortLimit)
			return
		}
		if max := e.cfg.Limits.MaxKeys; max > 0 && e.table.Keys()+len(e.srcKeys) >= max && e.table.KeyLen(key) == 0 {
			e.limitHit(ifindex, key, a, fdb.ErrKeyLimit)
			return
		}
		var err error
		if pg, _, err = e.table.Join(key, ifindex); err != nil {
			e.limitHit(ifindex, key, a, err)
			return
		}
		pg.Since = e.table.TimeOf(now)
	}
	if pg.Static {
		return
	}
	if !pg.ND {
		e.nd[ifindex] = append(e.nd[ifindex], key)
	}
	n := e.table.TimeOf(now)
	until := e.table.TimeOf(now.Add(lifetime))
	// The guest wants every sender's solicitations: EXCLUDE {}. A report
	// may since have cut the group timer (to its GMI, or the last member
	// query time after a done): ND puts the lifetime back.
	pg.ND, pg.Mode, pg.Refreshed, pg.Leaving = true, fdb.Exclude, n, false
	pg.Sources = pg.Sources[:0]
	pg.GroupExpires = max(pg.GroupExpires, until)
	e.trackHost(now, lifetime, pg, a, wire.ModeIsExclude, nil)
	if created {
		e.event(Event{Kind: EventJoin, Port: ifindex, Key: key, Addr: a, Detail: "nd"})
	}
	e.sync(now, pg, true)
	e.schedule(pg)
}

// ndGroups returns the port's groups learned from ND, dropping from its
// list those that are gone (expired, left, flushed) or no longer ND's.
func (e *Engine) ndGroups(ifindex int) []*fdb.PortGroup {
	keys := e.nd[ifindex]
	var out []*fdb.PortGroup
	kept := keys[:0]
	for _, k := range keys {
		if pg := e.table.Get(k, ifindex); pg != nil && pg.ND {
			kept = append(kept, k)
			out = append(out, pg)
		}
	}
	clear(keys[len(kept):])
	if len(kept) == 0 {
		delete(e.nd, ifindex)
	} else {
		e.nd[ifindex] = kept
	}
	return out
}

// ndMakeRoom keeps the port's ND groups under the bound: the guest's
// current addresses matter more than ones it has not shown for longest.
func (e *Engine) ndMakeRoom(ifindex int, key fdb.Key, a netip.Addr) bool {
	pgs := e.ndGroups(ifindex)
	if len(pgs) < e.cfg.ndMaxGroups() {
		return true
	}
	oldest := slices.MinFunc(pgs, func(x, y *fdb.PortGroup) int { return cmp.Compare(x.Refreshed, y.Refreshed) })
	e.ignore(ifindex, ignoreNDLimit)
	e.event(Event{Kind: EventLimit, Port: ifindex, Key: key, Addr: a, Detail: "nd limit: replaced " + oldest.Key.Group.String()})
	e.remove(oldest)
	return true
}

// ndPolicy drops what ND taught a port whose policy no longer asks for it.
func (e *Engine) ndPolicy(ifindex int, p *port) {
	if p.policy.NDGuests {
		return
	}
	for _, pg := range e.ndGroups(ifindex) {
		e.remove(pg)
	}
	delete(e.nd, ifindex)
}

// ndRefreshAt is when an ND group's MDB entry must be rewritten: its
// lifetime outlasts the kernel's timer (the bridge's membership interval,
// at least the group membership interval plus the MDB refresh interval),
// and no report renews it. Zero for other groups.
func (e *Engine) ndRefreshAt(pg *fdb.PortGroup) fdb.Time {
	if !pg.ND || pg.Installed.IsZero() {
		return 0
	}
	return pg.Installed + fdb.Time(e.cfg.GroupMembershipInterval())
}
