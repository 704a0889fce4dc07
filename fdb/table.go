package fdb

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"time"
)

// Key names a group in a VLAN (0 = untagged). IPv4 groups are IGMP's,
// IPv6 groups MLD's.
type Key struct {
	VLAN  uint16
	Group netip.Addr
}

// FilterMode is a port group's filter mode (RFC 3376 §6.2.1).
type FilterMode uint8

// Filter modes. INCLUDE forwards only the listed sources; EXCLUDE forwards
// every source except those whose timer is off.
const (
	Include FilterMode = 1
	Exclude FilterMode = 2
)

func (m FilterMode) String() string {
	switch m {
	case Include:
		return "include"
	case Exclude:
		return "exclude"
	}
	return "none"
}

// Source is one source record of a port group. In INCLUDE mode every
// source forwards while its timer runs; in EXCLUDE mode a source whose
// timer is off (zero Expires) is excluded, one whose timer runs is
// requested (RFC 3376 §6.2.1, lists X and Y).
type Source struct {
	Addr    netip.Addr
	Expires Time
}

// Host is one reporter behind a port and what it asked for (explicit host
// tracking): its own filter mode and sources as of its latest report.
type Host struct {
	Addr    netip.Addr
	Mode    FilterMode
	Sources []netip.Addr
	Expires Time
}

// Wants reports whether the host wants traffic from src (invalid src: any).
func (h *Host) Wants(src netip.Addr) bool {
	in := src.IsValid() && slices.Contains(h.Sources, src)
	if h.Mode == Exclude {
		return !in
	}
	return in
}

// PortGroup is one port's membership of one group: the router-side state
// of RFC 3376 §6 (and RFC 3810 §7) for that port. A bridge may hold 100 000
// of them, so it is kept small: its times are compact Times, and the state
// few memberships need (last-member queries, older IGMPv1 hosts,
// untrackable reporters) lives apart and only while set, behind accessors
// (QueriesLeft, SetQueriesLeft, ...).
type PortGroup struct {
	Key  Key
	Port int
	Mode FilterMode
	// Generation of the latest report: 1 IGMPv1, 2 IGMPv2/MLDv1,
	// 3 IGMPv3/MLDv2; 0 if unknown (adopted from an earlier run).
	Generation uint8
	// Static memberships never expire and ignore reports.
	Static bool
	// Leaving is set while a leave (or a source block) is being queried,
	// and cleared by a report that keeps the group.
	Leaving bool
	// ND marks a solicited-node group learned from a guest's neighbour
	// discovery rather than (or as well as) from its reports: it lives for
	// the ND lifetime, and its owner rewrites the kernel's entry before
	// the kernel's timer runs out.
	ND bool
	// InstalledMode and InstalledSources are what the MDB entry holds.
	InstalledMode FilterMode
	// GroupExpires is the group timer; it runs in EXCLUDE mode only.
	GroupExpires Time
	// Sources, sorted by address.
	Sources []Source
	// V2HostUntil is the IGMPv2/MLDv1 Older Host Present timer (RFC 3376
	// §7.3.2, RFC 3810 §8.3.2); the IGMPv1 one is V1HostUntil().
	V2HostUntil Time
	// Refreshed is when the latest report arrived.
	Refreshed Time
	// Since is when the membership began (its uptime's start): set by the
	// owner when it creates the membership, kept while it lasts.
	Since Time
	// Installed is when the MDB entry was last written, so the owner can
	// rate-limit refreshes of the kernel's own timer; zero forces a write.
	Installed Time
	// Hosts are the reporters behind the port (explicit host tracking),
	// newest first.
	Hosts            []Host
	InstalledSources []netip.Addr
	// Wake is when the owner's timer for this port group is set to fire
	// (zero: none). It lets the owner keep one timer per port group.
	Wake Time
	// rare holds what few port groups need; nil while all of it is zero.
	rare *rareState
	// host is where a new port group's first tracked host goes: Join
	// points Hosts at it, so the first report of a join allocates nothing.
	// Copies share it as they would share any backing array; Clone's do
	// not.
	host [1]Host
}

// rareState is the part of a port group's state that most port groups
// never set: see the PortGroup accessors.
type rareState struct {
	v1HostUntil, untrackedUntil, nextQuery Time
	queriesLeft, sourceQueriesLeft         uint8
	sourceQueries                          []netip.Addr
}

// edit returns the rare state to change, allocating it if need be.
func (pg *PortGroup) edit() *rareState {
	if pg.rare == nil {
		pg.rare = new(rareState)
	}
	return pg.rare
}

// tidy drops NextQuery once no queries are left, and frees the rare
// state once all of it is zero again. It follows edit, so there is rare
// state.
func (pg *PortGroup) tidy() {
	r := pg.rare
	if r.queriesLeft == 0 && r.sourceQueriesLeft == 0 {
		r.nextQuery = 0
	}
	if r.v1HostUntil == 0 && r.untrackedUntil == 0 && r.queriesLeft == 0 && r.sourceQueriesLeft == 0 &&
		len(r.sourceQueries) == 0 {
		pg.rare = nil
	}
}

// V1HostUntil is the IGMPv1 Older Host Present timer (RFC 3376 §7.3.2).
func (pg *PortGroup) V1HostUntil() Time {
	if pg.rare == nil {
		return 0
	}
	return pg.rare.v1HostUntil
}

// SetV1HostUntil sets the IGMPv1 Older Host Present timer.
func (pg *PortGroup) SetV1HostUntil(t Time) {
	if t != 0 || pg.rare != nil {
		pg.edit().v1HostUntil = t
		pg.tidy()
	}
}

// UntrackedUntil is when the last report from an untrackable host (from
// 0.0.0.0 or ::, or one too many to track) stops counting: it could
// still be listening until then.
func (pg *PortGroup) UntrackedUntil() Time {
	if pg.rare == nil {
		return 0
	}
	return pg.rare.untrackedUntil
}

// SetUntrackedUntil sets UntrackedUntil.
func (pg *PortGroup) SetUntrackedUntil(t Time) {
	if t != 0 || pg.rare != nil {
		pg.edit().untrackedUntil = t
		pg.tidy()
	}
}

// QueriesLeft counts the group-specific queries still to send after a
// leave; NextQuery is when the next is due.
func (pg *PortGroup) QueriesLeft() uint8 {
	if pg.rare == nil {
		return 0
	}
	return pg.rare.queriesLeft
}

// SetQueriesLeft sets QueriesLeft.
func (pg *PortGroup) SetQueriesLeft(n uint8) {
	if n != 0 || pg.rare != nil {
		pg.edit().queriesLeft = n
		pg.tidy()
	}
}

// NextQuery is when the next group(-and-source)-specific query is due;
// it is zero while no queries are left.
func (pg *PortGroup) NextQuery() Time {
	if pg.rare == nil {
		return 0
	}
	return pg.rare.nextQuery
}

// SetNextQuery sets NextQuery. With no queries left it is not kept.
func (pg *PortGroup) SetNextQuery(t Time) {
	if pg.rare != nil { // else no queries are left
		pg.rare.nextQuery = t
		pg.tidy()
	}
}

// SourceQueries lists the sources still being queried after a block or
// a change of filter, and SourceQueriesLeft how many queries remain.
func (pg *PortGroup) SourceQueries() []netip.Addr {
	if pg.rare == nil {
		return nil
	}
	return pg.rare.sourceQueries
}

// SetSourceQueries sets SourceQueries (the slice is kept, not copied).
func (pg *PortGroup) SetSourceQueries(s []netip.Addr) {
	if len(s) != 0 || pg.rare != nil {
		pg.edit().sourceQueries = s
		pg.tidy()
	}
}

// SourceQueriesLeft counts the group-and-source-specific queries still to
// send.
func (pg *PortGroup) SourceQueriesLeft() uint8 {
	if pg.rare == nil {
		return 0
	}
	return pg.rare.sourceQueriesLeft
}

// SetSourceQueriesLeft sets SourceQueriesLeft.
func (pg *PortGroup) SetSourceQueriesLeft(n uint8) {
	if n != 0 || pg.rare != nil {
		pg.edit().sourceQueriesLeft = n
		pg.tidy()
	}
}

// Source returns the index of addr in Sources and whether it is there.
func (pg *PortGroup) Source(addr netip.Addr) (int, bool) {
	return slices.BinarySearchFunc(pg.Sources, addr, func(s Source, a netip.Addr) int { return s.Addr.Compare(a) })
}

// SetSource sets addr's timer, adding the source if new. It reports false
// if the source is new and max (> 0) sources are already there.
func (pg *PortGroup) SetSource(addr netip.Addr, expires Time, max int) bool {
	i, ok := pg.Source(addr)
	if ok {
		pg.Sources[i].Expires = expires
		return true
	}
	if max > 0 && len(pg.Sources) >= max {
		return false
	}
	pg.Sources = slices.Insert(pg.Sources, i, Source{Addr: addr, Expires: expires})
	return true
}

// Host returns the tracked host with addr, or nil.
func (pg *PortGroup) Host(addr netip.Addr) *Host {
	for i := range pg.Hosts {
		if pg.Hosts[i].Addr == addr {
			return &pg.Hosts[i]
		}
	}
	return nil
}

// DeleteHost stops tracking addr.
func (pg *PortGroup) DeleteHost(addr netip.Addr) {
	pg.Hosts = slices.DeleteFunc(pg.Hosts, func(h Host) bool { return h.Addr == addr })
}

// Forwarding returns the sources traffic flows from at now: in INCLUDE
// mode the sources with running timers, in EXCLUDE mode the excluded ones
// (everything else flows).
func (pg *PortGroup) Forwarding(now Time) (FilterMode, []netip.Addr) {
	var out []netip.Addr
	for _, s := range pg.Sources {
		if pg.Mode == Exclude && s.Expires.IsZero() || pg.Mode == Include && s.Expires > now {
			out = append(out, s.Addr)
		}
	}
	return pg.Mode, out
}

// Clone returns a deep copy, for views.
func (pg *PortGroup) Clone() PortGroup {
	c := *pg
	c.host = [1]Host{} // c.Hosts is a copy, not a view of this
	c.Sources = slices.Clone(pg.Sources)
	if pg.rare != nil {
		r := *pg.rare
		r.sourceQueries = slices.Clone(r.sourceQueries)
		c.rare = &r
	}
	c.InstalledSources = slices.Clone(pg.InstalledSources)
	c.Hosts = make([]Host, len(pg.Hosts))
	for i, h := range pg.Hosts {
		h.Sources = slices.Clone(h.Sources)
		c.Hosts[i] = h
	}
	return c
}

// Limits bound the table. Zero means unlimited.
type Limits struct {
	// MaxKeys bounds distinct groups, which is what the kernel's
	// mcast_hash_max counts: going over it there turns snooping off for the
	// whole bridge, so this must stay below it.
	MaxKeys int
	// MaxPerPort bounds the groups of any one port, so one port cannot
	// starve the others.
	MaxPerPort int
}

// Errors returned by Join when a limit refuses a new port group.
var (
	ErrKeyLimit  = errors.New("table full: group limit reached")
	ErrPortLimit = errors.New("port full: per-port group limit reached")
)

// RouterKey names a router port for one protocol (IPv4 for IGMP, IPv6 for
// MLD) in one VLAN: a router may speak only one of them.
type RouterKey struct {
	Port int
	VLAN uint16
	IPv6 bool
}

// Router is why and until when a port is a router port.
type Router struct {
	RouterKey
	Expires time.Time // zero: static
	// Via names what revealed the router: "query", "pim", "mrd", ViaStatic.
	Via string
	// Wake is when its owner's timer for it is due, as PortGroup.Wake:
	// other wake-ups found for it are stale.
	Wake Time
}

// ViaStatic is the Via of a router port configured as such: it never
// expires, and nothing learned replaces it.
const ViaStatic = "static"

// Static reports whether the router port is configured, not learned.
func (r *Router) Static() bool { return r.Via == ViaStatic }

// RouterPort reports whether port is a router port for any protocol or VLAN.
func (t *Table) RouterPort(port int) bool {
	for k := range t.routers {
		if k.Port == port {
			return true
		}
	}
	return false
}

// Table is the membership and router-port table of one bridge. It is not
// safe for concurrent use: one goroutine (the engine's) owns it.
//
// Port groups are indexed by group, each group's by port: one map entry
// per group rather than per (group, port), and a pointer per membership.
// A bridge's groups are bounded by mcast_hash_max, so large tables have
// many ports per group, and this keeps the index to a few bytes per
// membership (BenchmarkTableMemory).
//
// Its Times count from its own Clock, so every Time in its port groups
// means something only to it (TimeOf, TimeAt).
type Table struct {
	clock   Clock
	limits  Limits
	groups  map[Key][]*PortGroup // each sorted by port
	n       int                  // port groups
	ports   map[int]int          // port groups per port
	routers map[RouterKey]*Router
	store   store // where port groups and one-member group slices come from
}

// New returns an empty table with the given limits, whose Times count
// from origin (see Clock; time.Now() is the one to give).
func New(limits Limits, origin time.Time) *Table {
	return &Table{
		clock:   NewClock(origin),
		limits:  limits,
		groups:  make(map[Key][]*PortGroup),
		ports:   make(map[int]int),
		routers: make(map[RouterKey]*Router),
	}
}

// SetLimits changes the limits; existing port groups stay.
func (t *Table) SetLimits(l Limits) { t.limits = l }

// TimeOf returns x as a Time of this table (see Clock.TimeOf).
func (t *Table) TimeOf(x time.Time) Time { return t.clock.TimeOf(x) }

// TimeAt returns the instant a Time of this table stands for (see
// Clock.TimeAt).
func (t *Table) TimeAt(x Time) time.Time { return t.clock.TimeAt(x) }

// find returns where port's membership is, or would be, in pgs.
func find(pgs []*PortGroup, port int) (int, bool) {
	return slices.BinarySearchFunc(pgs, port, func(pg *PortGroup, p int) int { return cmp.Compare(pg.Port, p) })
}

// Get returns port's membership of k, or nil.
func (t *Table) Get(k Key, port int) *PortGroup {
	pgs := t.groups[k]
	if i, ok := find(pgs, port); ok {
		return pgs[i]
	}
	return nil
}

// Join returns port's membership of k, creating it if the limits allow.
// created tells whether it is new; a new one has no mode, zero times and
// no hosts. It allocates only now and then (see store).
func (t *Table) Join(k Key, port int) (pg *PortGroup, created bool, err error) {
	pgs := t.groups[k]
	i, ok := find(pgs, port)
	if ok {
		return pgs[i], false, nil
	}
	if t.limits.MaxPerPort > 0 && t.ports[port] >= t.limits.MaxPerPort {
		return nil, false, ErrPortLimit
	}
	if t.limits.MaxKeys > 0 && len(pgs) == 0 && len(t.groups) >= t.limits.MaxKeys {
		return nil, false, ErrKeyLimit
	}
	pg = t.store.portGroup(k, port)
	grown := pgs
	if len(pgs) == 0 {
		grown = t.store.members()
	}
	grown = slices.Insert(grown, i, pg)
	if len(pgs) == 1 {
		t.store.freeMembers(pgs) // it was full: Insert moved the members
	}
	t.groups[k] = grown
	t.n++
	t.ports[port]++
	return pg, true, nil
}

// Remove deletes port's membership of k and reports whether there was one.
// The port group is zeroed and reused by a later Join: drop pointers to it.
func (t *Table) Remove(k Key, port int) bool {
	pgs := t.groups[k]
	i, ok := find(pgs, port)
	if !ok {
		return false
	}
	pg := pgs[i]
	if len(pgs) == 1 {
		delete(t.groups, k)
		t.store.freeMembers(pgs)
	} else {
		t.groups[k] = slices.Delete(pgs, i, i+1)
	}
	t.store.free(pg)
	t.n--
	if t.ports[port]--; t.ports[port] == 0 {
		delete(t.ports, port)
	}
	return true
}

// RemovePort deletes every membership of port and its router-port state,
// returning the memberships removed in a stable order.
func (t *Table) RemovePort(port int) []PortGroup {
	var gone []PortGroup
	for _, k := range t.KeysOf(port) {
		gone = append(gone, t.Get(k, port).Clone()) // Remove recycles the original
		t.Remove(k, port)
	}
	for k := range t.routers {
		if k.Port == port {
			delete(t.routers, k)
		}
	}
	sortGroups(gone)
	return gone
}

// Len returns the number of port groups.
func (t *Table) Len() int { return t.n }

// Keys returns the number of distinct groups.
func (t *Table) Keys() int { return len(t.groups) }

// KeyLen returns the number of port groups of k: the ports with a
// membership of it.
func (t *Table) KeyLen(k Key) int { return len(t.groups[k]) }

// EachGroup calls f with every group and its memberships (in port order),
// groups in no particular order. f must not change the table.
func (t *Table) EachGroup(f func(k Key, members []*PortGroup)) {
	for k, pgs := range t.groups {
		f(k, pgs)
	}
}

// PortLen returns the number of port groups of port.
func (t *Table) PortLen(port int) int { return t.ports[port] }

// MemberKey names one port group.
type MemberKey struct {
	Key
	Port int
}

// AllKeys returns every (group, port) in no particular order.
func (t *Table) AllKeys() []MemberKey {
	out := make([]MemberKey, 0, t.n)
	for k, pgs := range t.groups {
		for _, pg := range pgs {
			out = append(out, MemberKey{k, pg.Port})
		}
	}
	return out
}

// RouterCount returns the number of router-port entries.
func (t *Table) RouterCount() int { return len(t.routers) }

// KeysOf returns the groups port is a member of.
func (t *Table) KeysOf(port int) []Key {
	if t.ports[port] == 0 {
		return nil
	}
	var out []Key
	for k, pgs := range t.groups {
		if _, ok := find(pgs, port); ok {
			out = append(out, k)
		}
	}
	return out
}

// Groups returns deep copies of all port groups ordered by VLAN, group
// and port, for display.
func (t *Table) Groups() []PortGroup {
	out := make([]PortGroup, 0, t.n)
	for _, pgs := range t.groups {
		for _, pg := range pgs {
			out = append(out, pg.Clone())
		}
	}
	sortGroups(out)
	return out
}

func sortGroups(gs []PortGroup) {
	slices.SortFunc(gs, func(a, b PortGroup) int {
		return cmp.Or(
			cmp.Compare(a.Key.VLAN, b.Key.VLAN),
			a.Key.Group.Compare(b.Key.Group),
			cmp.Compare(a.Port, b.Port),
		)
	})
}

// SetRouter makes k a router port until expires (zero: forever, static)
// and reports whether it is new. A static router port stays static.
func (t *Table) SetRouter(k RouterKey, expires time.Time, via string) (created bool) {
	r := t.routers[k]
	if r == nil {
		t.routers[k] = &Router{RouterKey: k, Expires: expires, Via: via}
		return true
	}
	if r.Static() {
		return false
	}
	if expires.IsZero() || expires.After(r.Expires) {
		r.Expires = expires
	}
	r.Via = via
	if expires.IsZero() {
		r.Via = ViaStatic
	}
	return false
}

// Router returns the router state of k, or nil.
func (t *Table) Router(k RouterKey) *Router { return t.routers[k] }

// RemoveRouter makes k a non-router port and reports whether it was one.
func (t *Table) RemoveRouter(k RouterKey) bool {
	_, ok := t.routers[k]
	delete(t.routers, k)
	return ok
}

// Routers returns copies of the router ports in (port, VLAN, family) order.
func (t *Table) Routers() []Router {
	out := make([]Router, 0, len(t.routers))
	for _, r := range t.routers {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Router) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.VLAN, b.VLAN), cmp.Compare(family(a.IPv6), family(b.IPv6)))
	})
	return out
}

// family is the IP version a router port's key is for, to order by.
func family(ipv6 bool) int {
	if ipv6 {
		return 6
	}
	return 4
}

// AppendRouterPorts appends, in port order, the router ports for a
// protocol and VLAN other than except, without allocating when dst has room.
// Static router ports serve every VLAN.
func (t *Table) AppendRouterPorts(dst []int, vlan uint16, ipv6 bool, except int) []int {
	start := len(dst)
	for k, r := range t.routers {
		if (k.VLAN == vlan || r.Static()) && k.IPv6 == ipv6 && k.Port != except && !slices.Contains(dst[start:], k.Port) {
			dst = append(dst, k.Port)
		}
	}
	slices.Sort(dst[start:])
	return dst
}
