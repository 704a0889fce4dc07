package fdb

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"time"
)

// Key names a multicast forwarding entry: a group, optionally one source
// (an invalid Source means any source, (*,G)), in a VLAN (0 = untagged).
type Key struct {
	VLAN   uint16
	Group  netip.Addr
	Source netip.Addr
}

// MaxReporters bounds the reporters remembered per membership: enough to
// see who is behind a port, without letting a spoofing host grow memory.
const MaxReporters = 4

// Membership is one port's membership of one Key.
type Membership struct {
	Key  Key
	Port int
	// Version is the protocol version of the latest report (1, 2 or 3).
	Version uint8
	// Static memberships never expire.
	Static bool
	// Expires is when the membership ends unless refreshed (the Group
	// Membership Interval after the latest report, or sooner after a leave).
	Expires time.Time
	// Refreshed is when the latest report arrived.
	Refreshed time.Time
	// Installed is when the MDB entry was last written, so the caller can
	// rate-limit refreshes of the kernel's own timer.
	Installed time.Time
	// QueriesLeft counts the last-member queries still to send after a
	// leave; NextQuery is when the next one is due.
	QueriesLeft uint8
	NextQuery   time.Time
	// Wake is when the owner's timer for this membership is set to fire
	// (zero: none set). It lets the owner keep one timer per membership.
	Wake time.Time

	reporters [MaxReporters]netip.Addr
	nrep      uint8
}

// Reporters returns the most recent distinct reporter addresses, newest first.
func (m *Membership) Reporters() []netip.Addr {
	return slices.Clone(m.reporters[:m.nrep])
}

// AddReporter records addr as the newest reporter, forgetting the oldest
// when full.
func (m *Membership) AddReporter(addr netip.Addr) {
	n := int(m.nrep)
	i := slices.Index(m.reporters[:n], addr)
	switch {
	case i == 0:
		return
	case i > 0:
		copy(m.reporters[1:i+1], m.reporters[:i])
	default:
		if n < MaxReporters {
			m.nrep++
			n++
		}
		copy(m.reporters[1:n], m.reporters[:n-1])
	}
	m.reporters[0] = addr
}

// Limits bound the table. Zero means unlimited.
type Limits struct {
	// MaxKeys bounds distinct keys, which is what the kernel's
	// mcast_hash_max counts: going over it there turns snooping off for the
	// whole bridge, so this must stay below it.
	MaxKeys int
	// MaxPerPort bounds the memberships of any one port, so one port cannot
	// starve the others.
	MaxPerPort int
}

// Errors returned by Join when a limit refuses a new membership.
var (
	ErrKeyLimit  = errors.New("table full: key limit reached")
	ErrPortLimit = errors.New("port full: per-port membership limit reached")
)

type memberKey struct {
	Key
	port int
}

// Table is the membership and router-port table of one bridge. It is not
// safe for concurrent use: one goroutine (the engine's) owns it.
type Table struct {
	limits  Limits
	members map[memberKey]*Membership
	keys    map[Key]int // memberships per key
	ports   map[int]int // memberships per port
	routers map[int]time.Time
}

// New returns an empty table with the given limits.
func New(limits Limits) *Table {
	return &Table{
		limits:  limits,
		members: make(map[memberKey]*Membership),
		keys:    make(map[Key]int),
		ports:   make(map[int]int),
		routers: make(map[int]time.Time),
	}
}

// Get returns port's membership of k, or nil.
func (t *Table) Get(k Key, port int) *Membership {
	return t.members[memberKey{k, port}]
}

// Join returns port's membership of k, creating it if the limits allow.
// created tells whether it is new; a new membership has zero times.
func (t *Table) Join(k Key, port int) (m *Membership, created bool, err error) {
	mk := memberKey{k, port}
	if m := t.members[mk]; m != nil {
		return m, false, nil
	}
	if t.limits.MaxPerPort > 0 && t.ports[port] >= t.limits.MaxPerPort {
		return nil, false, ErrPortLimit
	}
	if t.limits.MaxKeys > 0 && t.keys[k] == 0 && len(t.keys) >= t.limits.MaxKeys {
		return nil, false, ErrKeyLimit
	}
	m = &Membership{Key: k, Port: port}
	t.members[mk] = m
	t.keys[k]++
	t.ports[port]++
	return m, true, nil
}

// Remove deletes port's membership of k and reports whether there was one.
func (t *Table) Remove(k Key, port int) bool {
	mk := memberKey{k, port}
	if _, ok := t.members[mk]; !ok {
		return false
	}
	delete(t.members, mk)
	if t.keys[k]--; t.keys[k] <= 0 {
		delete(t.keys, k)
	}
	if t.ports[port]--; t.ports[port] <= 0 {
		delete(t.ports, port)
	}
	return true
}

// RemovePort deletes every membership of port and its router-port state,
// returning the memberships removed in a stable order.
func (t *Table) RemovePort(port int) []Membership {
	var gone []Membership
	for mk, m := range t.members {
		if mk.port == port {
			gone = append(gone, *m)
		}
	}
	for i := range gone {
		t.Remove(gone[i].Key, port)
	}
	delete(t.routers, port)
	sortMemberships(gone)
	return gone
}

// Len returns the number of memberships.
func (t *Table) Len() int { return len(t.members) }

// Keys returns the number of distinct keys.
func (t *Table) Keys() int { return len(t.keys) }

// PortLen returns the number of memberships of port.
func (t *Table) PortLen(port int) int { return t.ports[port] }

// Memberships returns copies of all memberships ordered by VLAN, group,
// source and port, for display.
func (t *Table) Memberships() []Membership {
	out := make([]Membership, 0, len(t.members))
	for _, m := range t.members {
		out = append(out, *m)
	}
	sortMemberships(out)
	return out
}

func sortMemberships(ms []Membership) {
	slices.SortFunc(ms, func(a, b Membership) int {
		return cmp.Or(
			cmp.Compare(a.Key.VLAN, b.Key.VLAN),
			a.Key.Group.Compare(b.Key.Group),
			a.Key.Source.Compare(b.Key.Source),
			cmp.Compare(a.Port, b.Port),
		)
	})
}

// SetRouter marks port as a router port until expires (zero time: forever,
// for static router ports).
func (t *Table) SetRouter(port int, expires time.Time) {
	t.routers[port] = expires
}

// Router returns when port stops being a router port, and whether it is one.
func (t *Table) Router(port int) (expires time.Time, ok bool) {
	expires, ok = t.routers[port]
	return expires, ok
}

// RemoveRouter makes port a non-router port and reports whether it was one.
func (t *Table) RemoveRouter(port int) bool {
	_, ok := t.routers[port]
	delete(t.routers, port)
	return ok
}

// RouterPort is a port leading to a multicast router.
type RouterPort struct {
	Port    int
	Expires time.Time // zero for static
}

// Routers returns the router ports in port order.
func (t *Table) Routers() []RouterPort {
	out := make([]RouterPort, 0, len(t.routers))
	for p, e := range t.routers {
		out = append(out, RouterPort{Port: p, Expires: e})
	}
	slices.SortFunc(out, func(a, b RouterPort) int { return cmp.Compare(a.Port, b.Port) })
	return out
}

// AppendRouterPorts appends the router ports other than except to dst in
// port order, without allocating when dst has room.
func (t *Table) AppendRouterPorts(dst []int, except int) []int {
	start := len(dst)
	for p := range t.routers {
		if p != except {
			dst = append(dst, p)
		}
	}
	slices.Sort(dst[start:])
	return dst
}
