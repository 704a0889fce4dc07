package snoop

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// famKey names a protocol (IGMP on IPv4, MLD on IPv6) in a VLAN: each has
// its own querier and timers.
type famKey struct {
	VLAN uint16
	IPv6 bool
}

// querier is a querier heard on the LAN.
type querier struct {
	addr       netip.Addr
	port       int
	generation int
	since      time.Time
	expires    time.Time
}

// family is the querier-side state of one protocol in one VLAN.
type family struct {
	key famKey
	// Timers in force: configured, or adopted from the querier's queries
	// (QRV, QQIC and MRC; RFC 3376 §4.1.6, §4.1.7, §8.3).
	robustness int
	qi, qri    time.Duration
	// other is the best other querier heard; zero if none.
	other querier
	// olderUntil[g] runs while a querier of generation g (1: IGMPv1,
	// 2: IGMPv2 or MLDv1) is present (RFC 3376 §7.3.1, §8.12).
	olderUntil [3]time.Time
	// Our own querier: active while we are the querier.
	ownActive   bool
	ownSince    time.Time
	startupLeft int
	nextQuery   time.Time
	wake        time.Time
	// clampedGen is the older generation whose queries had their response
	// time cut to its limit, so that the event is given once, not per query.
	clampedGen int
}

func (f *family) gmi() time.Duration {
	return time.Duration(f.robustness)*f.qi + f.qri
}

func (f *family) oqpi() time.Duration {
	return time.Duration(f.robustness)*f.qi + f.qri/2
}

func (e *Engine) family(k famKey) *family {
	f := e.families[k]
	if f == nil {
		f = &family{key: k}
		e.resetTimers(f)
		e.families[k] = f
	}
	return f
}

func (e *Engine) familyOf(k fdb.Key) *family {
	return e.family(famKey{VLAN: k.VLAN, IPv6: k.Group.Is6()})
}

// resetTimers puts f back on the configured timers, as our queries
// advertise them: a v3 query's codes round some values up (QQIC 300 s is
// 304 s), and the other routers and snoopers time memberships by what
// they decode, so ours must too.
func (e *Engine) resetTimers(f *family) {
	f.robustness, f.qi, f.qri = e.cfg.Robustness, e.cfg.QueryInterval, e.cfg.QueryResponseInterval
	if e.configuredGeneration(f) < 3 {
		return // no QQIC; the response time is exact in tenths or milliseconds
	}
	f.qi = wire.AdvertisedCode(f.qi, wire.QueryIntervalUnit)
	if f.key.IPv6 {
		f.qri = wire.AdvertisedMLDCode(f.qri)
	} else {
		f.qri = wire.AdvertisedCode(f.qri, wire.MaxRespUnit)
	}
}

// BridgeMembershipInterval is what the bridge's mcast_membership_interval
// must be for our entries to outlive our own timers: the largest group
// membership interval in force, plus the refresh interval.
func (e *Engine) BridgeMembershipInterval() time.Duration {
	gmi := e.cfg.GroupMembershipInterval()
	for _, f := range e.families {
		gmi = max(gmi, f.gmi())
	}
	return gmi + e.cfg.MDBRefreshInterval
}

// OtherQuerierPresentInterval is the longest other-querier-present
// interval in force: how long a querier counts as present after its last
// query. The bridge must believe in queriers no longer than we do, or it
// prunes by entries we have already aged out.
func (e *Engine) OtherQuerierPresentInterval() time.Duration {
	oqpi := e.cfg.OtherQuerierPresentInterval()
	for _, f := range e.families {
		oqpi = max(oqpi, f.oqpi())
	}
	return oqpi
}

// ownAddr is the source of our queries for f; invalid if we cannot query.
func (e *Engine) ownAddr(f *family) netip.Addr {
	if f.key.IPv6 {
		return e.cfg.QuerierAddr6
	}
	if e.cfg.QuerierAddr4.IsValid() {
		return e.cfg.QuerierAddr4
	}
	return netip.IPv4Unspecified()
}

// canQuery tells whether we can act as f's querier: hosts ignore MLD
// queries that do not come from a link-local address, and only the
// untagged LAN is ours to query.
func (e *Engine) canQuery(f *family) bool {
	return f.key.VLAN == 0 && e.ownAddr(f).IsValid()
}

// better reports whether a querier at a beats one at b: the lowest address
// wins (RFC 3376 §6.6.2, RFC 3810 §7.6.2); 0.0.0.0 never wins (RFC 4541 C5).
func better(a, b netip.Addr) bool {
	if a.IsUnspecified() {
		return false
	}
	return !b.IsValid() || b.IsUnspecified() || a.Less(b)
}

func (e *Engine) handleQuery(now time.Time, ifindex int, m *wire.Message, frame []byte) {
	f := e.family(famKey{VLAN: m.VLAN, IPv6: m.Src.Is6()})
	if m.Src.IsUnspecified() {
		// A snooping switch's proxy query, or a host's forgery: the ingress
		// guard keeps it from the bridge, which would make its port a router
		// port, so we pass it on ourselves, to host ports only (see
		// flood). It neither makes a router port nor wins an election
		// (RFC 4541 C2, C5).
		e.flood(ifindex, frame, false)
	} else {
		// Elect first: it adopts the querier's timers, which the router
		// port's and older querier's lifetimes depend on.
		e.elect(now, f, ifindex, m)
		e.setRouter(now, fdb.RouterKey{Port: ifindex, VLAN: m.VLAN, IPv6: m.Src.Is6()}, now.Add(f.oqpi()), "query", m.Src)
		if gen := m.Generation(); gen >= 1 && gen < 3 {
			f.olderUntil[gen] = now.Add(f.gmi())
		}
		if !m.IsGeneralQuery() {
			e.groupQueried(now, f, m)
		}
	}
}

// elect runs the querier election on a query from another router.
func (e *Engine) elect(now time.Time, f *family, ifindex int, m *wire.Message) {
	if f.ownActive && !better(m.Src, e.ownAddr(f)) {
		return // we stay querier; it will stop when it hears us
	}
	o := &f.other
	if o.addr.IsValid() && o.addr != m.Src && !better(m.Src, o.addr) {
		return
	}
	if o.addr != m.Src {
		*o = querier{addr: m.Src, since: now}
		detail := "querier heard"
		if f.ownActive {
			f.ownActive = false
			detail = "a querier with a lower address took over"
		}
		e.event(Event{Kind: EventQuerierHeard, Port: ifindex, Addr: m.Src, Detail: detail})
	}
	o.port, o.generation = ifindex, m.Generation()
	if m.IsGeneralQuery() {
		e.adoptTimers(f, m)
	}
	o.expires = now.Add(f.oqpi())
	e.scheduleFamily(f)
}

// adoptTimers takes the querier's robustness, query interval and response
// time as they are, as non-queriers must (RFC 3376 §4.1.6, §4.1.7, §8;
// RFC 3810 §9): our membership timers must match the queries hosts
// actually answer. A field the query does not carry (IGMPv2 and MLDv1
// queries, QRV 0, QQIC 0) means the configured value (§4.1.6, §4.1.7),
// not the last one adopted. The fields' own widths bound what a query can
// ask for (QRV ≤ 7, QQIC ≤ 31744 s, MRC ≤ 3174.4 s / 8387.584 s); forged
// queries are kept out by the election and by ports that refuse queries,
// not by distorting a real querier's timers.
func (e *Engine) adoptTimers(f *family, m *wire.Message) {
	r, qi, qri := e.cfg.Robustness, e.cfg.QueryInterval, e.cfg.QueryResponseInterval
	if m.QRV > 0 {
		r = int(m.QRV)
	}
	if m.QueryInterval > 0 {
		qi = m.QueryInterval
	}
	if m.MaxResp > 0 {
		qri = m.MaxResp
	}
	if r == f.robustness && qi == f.qi && qri == f.qri {
		return
	}
	f.robustness, f.qi, f.qri = r, qi, qri
	e.event(Event{Kind: EventTimersChanged, Addr: m.Src, Detail: "membership interval " + f.gmi().String()})
}

// groupQueried follows a group-specific (or group-and-source-specific)
// query from another querier, as a non-querier router does (RFC 3376
// §6.6.1): timers lowered to LMQC × MRT unless the S flag is set. The
// kernel bridge sees the query too and may lower its own timer for the
// group, so the next report must rewrite the MDB entry whatever the flag.
func (e *Engine) groupQueried(now time.Time, f *family, m *wire.Message) {
	// An MRC of 0 would prune every port at once: never less than our own
	// last member query time.
	lmqt := e.table.TimeOf(now.Add(time.Duration(e.cfg.LastMemberQueryCount) * max(m.MaxResp, e.cfg.LastMemberQueryInterval)))
	key := fdb.Key{VLAN: m.VLAN, Group: m.Group}
	for pi := range e.ports {
		pg := e.table.Get(key, pi)
		if pg == nil || pg.Static {
			continue
		}
		pg.Installed = 0
		if m.SuppressRouterSide {
			continue
		}
		if len(m.Sources) == 0 {
			if pg.Mode == fdb.Exclude {
				pg.GroupExpires = min(pg.GroupExpires, lmqt)
			}
		} else {
			for _, s := range m.Sources {
				if i, ok := pg.Source(s); ok {
					pg.Sources[i].Expires = min(pg.Sources[i].Expires, lmqt) // an excluded source's 0 stays
				}
			}
		}
		e.schedule(pg)
	}
}

// becomeQuerier makes us f's querier and sends a general query now.
func (e *Engine) becomeQuerier(now time.Time, f *family) {
	f.ownActive, f.ownSince = true, now
	e.event(Event{Kind: EventQuerierSelf, Addr: e.ownAddr(f)})
	e.generalQuery(now, f)
}

// queryGeneration is the generation our queries use: the configured one,
// or an older one while a querier of it is present (RFC 3376 §7.3.1).
func (e *Engine) queryGeneration(now time.Time, f *family) int {
	gen := e.configuredGeneration(f)
	for g := 1; g < gen; g++ {
		if f.olderUntil[g].After(now) {
			return g
		}
	}
	return gen
}

// configuredGeneration is the generation of the version we query with.
func (e *Engine) configuredGeneration(f *family) int {
	if f.key.IPv6 {
		return e.cfg.MLDVersion + 1
	}
	return e.cfg.IGMPVersion
}

func (e *Engine) generalQuery(now time.Time, f *family) {
	gen := e.queryGeneration(now, f)
	frame, err := e.encodeQuery(f, gen, e.ownAddr(f), netip.Addr{}, nil, f.qri, false)
	if err == nil {
		e.emit(Action{Kind: ActTransmit, Port: ThroughBridge, Frame: frame})
		e.stats.sentQueries++
	} else {
		e.event(Event{Kind: EventQueryFailed, Detail: err.Error()})
	}
	// Startup Query Count queries in all, Startup Query Interval apart
	// (RFC 3376 §8.6, §8.7), this one included; then every query interval.
	f.startupLeft = max(f.startupLeft-1, 0)
	interval := f.qi
	if f.startupLeft > 0 {
		interval = e.cfg.startupQueryInterval()
	}
	f.nextQuery = now.Add(interval)
	e.scheduleFamily(f)
}

// encodeQuery builds a query of generation gen for f from src, for group
// (invalid: general) and sources.
func (e *Engine) encodeQuery(f *family, gen int, src, group netip.Addr, sources []netip.Addr, maxResp time.Duration, suppress bool) ([]byte, error) {
	// The configuration's timers fit its versions (Config.Validate); an
	// older querier or host can lower the version below them at run time.
	// Cut the response time to what that version carries, and say so,
	// rather than send no query.
	if limit := maxRespOf(gen, f.key.IPv6); maxResp > limit {
		if f.clampedGen != gen {
			f.clampedGen = gen
			e.event(Event{Kind: EventQueryClamped, Detail: fmt.Sprintf("%s v%d queries carry at most %v: response time %v cut to it",
				protoName(f.key.IPv6), version(gen, f.key.IPv6), limit, maxResp)})
		}
		maxResp = limit
	} else if gen == e.configuredGeneration(f) {
		f.clampedGen = 0 // back to our version: a later drop is news again
	}
	q := wire.Query{
		Version: version(gen, f.key.IPv6), SrcMAC: e.cfg.QuerySourceMAC, Src: src, Group: group,
		MaxResp: maxResp, Sources: sources, VLAN: f.key.VLAN, SuppressRouterSide: suppress,
	}
	if gen == 3 {
		q.QRV, q.QueryInterval = uint8(min(f.robustness, 7)), f.qi
	}
	return wire.EncodeQuery(q)
}

func (e *Engine) scheduleFamily(f *family) {
	var at time.Time
	if f.other.addr.IsValid() {
		at = f.other.expires
	}
	if f.ownActive && (at.IsZero() || f.nextQuery.Before(at)) {
		at = f.nextQuery
	}
	if at.IsZero() || !f.wake.IsZero() && !at.Before(f.wake) {
		return
	}
	f.wake = at
	e.timers.add(familyWake(e.table.TimeOf(at), f.key))
}

func (e *Engine) familyTimer(now time.Time, t timer) {
	f := e.families[t.family()]
	if f == nil || t.at != e.table.TimeOf(f.wake) {
		return
	}
	f.wake = time.Time{}
	if o := f.other; o.addr.IsValid() && !o.expires.After(now) {
		f.other = querier{}
		e.resetTimers(f)
		e.event(Event{Kind: EventQuerierLost, Port: o.port, Addr: o.addr})
		if e.cfg.Querier && e.canQuery(f) && !f.ownActive {
			// RFC 3376 §6.6.2: after the other querier present interval
			// without a better querier, take over.
			e.becomeQuerier(now, f)
		}
	}
	if f.ownActive && !f.nextQuery.After(now) {
		e.generalQuery(now, f)
	}
	e.scheduleFamily(f)
}

// sortFamKeys orders families as views list them: by VLAN, IGMP before
// MLD.
func sortFamKeys(ks []famKey) {
	slices.SortFunc(ks, func(a, b famKey) int {
		return cmp.Or(cmp.Compare(a.VLAN, b.VLAN), strings.Compare(protoName(a.IPv6), protoName(b.IPv6)))
	})
}
