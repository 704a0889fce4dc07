package snoop

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

type port struct {
	name      string
	up        bool
	fastLeave bool
}

// querier is the querier currently heard on the LAN.
type querier struct {
	addr    netip.Addr
	port    int
	version int
	since   time.Time
	expires time.Time
}

// Engine is the snooping state machine of one bridge. See the package doc.
type Engine struct {
	cfg     Config
	table   *fdb.Table
	ports   map[int]*port
	timers  timerHeap
	querier querier
	stats   counters
	out     []Action
	scratch []int
}

// New returns an engine for cfg, which must be valid.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("snoop config: %w", err)
	}
	return &Engine{
		cfg:   cfg,
		table: fdb.New(cfg.Limits),
		ports: make(map[int]*port),
	}, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// PortUp makes a port known and able to learn.
func (e *Engine) PortUp(ifindex int, name string) {
	p := e.ports[ifindex]
	if p == nil {
		p = &port{}
		e.ports[ifindex] = p
	}
	p.name, p.up, p.fastLeave = name, true, e.cfg.FastLeave[name]
}

// PortDown forgets everything learned on a port that lost its link: the
// kernel drops its temporary entries too, and its hosts re-report when
// queried after it comes back.
func (e *Engine) PortDown(now time.Time, ifindex int) []Action {
	e.out = e.out[:0]
	if p := e.ports[ifindex]; p != nil {
		p.up = false
	}
	e.flushPort(ifindex)
	return e.out
}

// PortRemoved forgets a port that left the bridge.
func (e *Engine) PortRemoved(now time.Time, ifindex int) []Action {
	e.out = e.out[:0]
	e.flushPort(ifindex)
	delete(e.ports, ifindex)
	return e.out
}

func (e *Engine) flushPort(ifindex int) {
	for _, m := range e.table.RemovePort(ifindex) {
		e.emit(Action{Kind: ActRemove, Port: ifindex, Key: m.Key})
		e.event(Event{Kind: EventFlush, Port: ifindex, Key: m.Key})
	}
}

// Adopt takes over an MDB entry installed by an earlier run of the daemon,
// so a restart does not interrupt forwarding: it lives for the kernel's
// remaining time (at most one membership interval) unless a report
// refreshes it.
func (e *Engine) Adopt(now time.Time, ifindex int, key fdb.Key, remaining time.Duration) []Action {
	e.out = e.out[:0]
	if !e.learnable(key.Group) {
		e.stats.ignored[ignoreNotLearnable]++
		return e.out
	}
	m, created, err := e.table.Join(key, ifindex)
	if err != nil {
		e.limitHit(ifindex, key, netip.Addr{}, err)
		return e.out
	}
	gmi := e.cfg.GroupMembershipInterval()
	if remaining <= 0 || remaining > gmi {
		remaining = gmi
	}
	m.Expires = now.Add(remaining)
	// Installed stays zero so the next report rewrites the entry.
	e.schedule(m)
	if created {
		e.event(Event{Kind: EventAdopt, Port: ifindex, Key: key})
	}
	return e.out
}

// InstallFailed tells the engine an ActInstall could not be applied, so
// the next report for that membership tries again instead of waiting out
// the refresh interval.
func (e *Engine) InstallFailed(ifindex int, key fdb.Key) {
	if m := e.table.Get(key, ifindex); m != nil {
		m.Installed = time.Time{}
	}
	e.stats.installFailed++
}

// Refused counts a frame the decoder refused on a port.
func (e *Engine) Refused(ifindex int, reason wire.Reason) {
	e.stats.refused[reason]++
}

// HandleMessage processes one decoded message received on port ifindex.
// frame is the raw frame, relayed to router ports for reports and leaves.
func (e *Engine) HandleMessage(now time.Time, ifindex int, m *wire.Message, frame []byte) []Action {
	e.out = e.out[:0]
	p := e.ports[ifindex]
	if p == nil || !p.up {
		e.stats.ignored[ignoreUnknownPort]++
		return e.out
	}
	e.stats.count(m)
	switch m.Kind {
	case wire.KindQuery:
		e.handleQuery(now, ifindex, m)
	case wire.KindReport:
		e.join(now, ifindex, p, fdb.Key{VLAN: m.VLAN, Group: m.Group}, uint8(m.Version), m.Src)
		e.relay(ifindex, frame)
	case wire.KindLeave:
		e.leave(now, ifindex, p, fdb.Key{VLAN: m.VLAN, Group: m.Group})
		e.relay(ifindex, frame)
	case wire.KindReportV3:
		for i := range m.Records {
			e.record(now, ifindex, p, m, &m.Records[i])
		}
		e.relay(ifindex, frame)
	}
	// Other IGMP types pass the ingress guard and the bridge floods them
	// (RFC 4541 C4); nothing to learn.
	return e.out
}

// record applies one IGMPv3 group record as a (*,G) join or leave, which
// RFC 4541 §2.1.2 (D3) allows: a request for any source keeps the group
// flowing, an empty include list is a leave, and BLOCK never joins.
func (e *Engine) record(now time.Time, ifindex int, p *port, m *wire.Message, r *wire.GroupRecord) {
	key := fdb.Key{VLAN: m.VLAN, Group: r.Group}
	switch r.Type {
	case wire.ModeIsExclude, wire.ChangeToExclude:
		e.join(now, ifindex, p, key, 3, m.Src)
	case wire.ModeIsInclude, wire.ChangeToInclude:
		if len(r.Sources) == 0 {
			e.leave(now, ifindex, p, key)
		} else {
			e.join(now, ifindex, p, key, 3, m.Src)
		}
	case wire.AllowNewSources:
		if len(r.Sources) > 0 {
			e.join(now, ifindex, p, key, 3, m.Src)
		}
	case wire.BlockOldSources:
		// Not a join: counting it as one would keep dead state alive
		// (an Open vSwitch flaw).
	}
}

// learnable tells whether a group may be learned: 224.0.0.0/24 is always
// flooded (RFC 4541 D2) and the kernel refuses MDB entries for it.
func (e *Engine) learnable(g netip.Addr) bool {
	if !g.Is4() || !g.IsMulticast() {
		return false
	}
	b := g.As4()
	return !(b[0] == 224 && b[1] == 0 && b[2] == 0)
}

func (e *Engine) join(now time.Time, ifindex int, p *port, key fdb.Key, version uint8, reporter netip.Addr) {
	if !e.learnable(key.Group) {
		e.stats.ignored[ignoreNotLearnable]++
		return
	}
	m, created, err := e.table.Join(key, ifindex)
	if err != nil {
		e.limitHit(ifindex, key, reporter, err)
		return
	}
	m.Version = version
	m.Refreshed = now
	m.Expires = now.Add(e.cfg.GroupMembershipInterval())
	// A report answers any pending last-member query.
	m.QueriesLeft, m.NextQuery = 0, time.Time{}
	m.AddReporter(reporter)
	if created || m.Installed.IsZero() || now.Sub(m.Installed) >= e.cfg.MDBRefreshInterval {
		m.Installed = now
		e.emit(Action{Kind: ActInstall, Port: ifindex, Key: key})
	}
	e.schedule(m)
	if created {
		e.event(Event{Kind: EventJoin, Port: ifindex, Key: key, Addr: reporter})
	}
}

func (e *Engine) leave(now time.Time, ifindex int, p *port, key fdb.Key) {
	if !e.learnable(key.Group) {
		e.stats.ignored[ignoreNotLearnable]++
		return
	}
	m := e.table.Get(key, ifindex)
	if m == nil || m.Static {
		e.stats.ignored[ignoreLeaveUnknown]++
		return
	}
	if p.fastLeave {
		e.remove(m, EventLeave)
		return
	}
	if m.QueriesLeft > 0 {
		return // already querying
	}
	// RFC 3376 §6.4.1 as a snooper: query the port, keep the membership
	// for the Last Member Query Time, and let a report save it.
	if lmqt := now.Add(e.cfg.LastMemberQueryTime()); lmqt.Before(m.Expires) {
		m.Expires = lmqt
	}
	m.QueriesLeft = uint8(e.cfg.LastMemberQueryCount)
	m.NextQuery = now
	e.lastMemberQuery(now, m)
	e.schedule(m)
}

// lastMemberQuery sends one group-specific query out of the membership's
// port. It uses source 0.0.0.0, as a proxy query must (RFC 4541 C5): it never
// wins a querier election nor makes a router port.
func (e *Engine) lastMemberQuery(now time.Time, m *fdb.Membership) {
	version := e.querier.version
	if version == 0 {
		version = int(m.Version)
	}
	if version < 2 {
		version = 2 // IGMPv1 has no group-specific query
	}
	q := wire.Query{
		Version: version,
		SrcMAC:  e.cfg.QuerySourceMAC,
		Src:     netip.IPv4Unspecified(),
		Group:   m.Key.Group,
		MaxResp: e.cfg.LastMemberQueryInterval,
	}
	if version == 3 {
		q.QRV, q.QueryInterval = uint8(e.cfg.Robustness), e.cfg.QueryInterval
	}
	frame, err := wire.EncodeQuery(q)
	m.QueriesLeft--
	m.NextQuery = now.Add(e.cfg.LastMemberQueryInterval)
	if err != nil {
		e.event(Event{Kind: EventQueryFailed, Port: m.Port, Key: m.Key, Detail: err.Error()})
		return
	}
	e.stats.sentQueries++
	e.emit(Action{Kind: ActTransmit, Port: m.Port, Frame: frame})
}

func (e *Engine) handleQuery(now time.Time, ifindex int, m *wire.Message) {
	oqpi := e.cfg.OtherQuerierPresentInterval()
	// A query from 0.0.0.0 is a snooping switch's proxy query: it neither
	// marks a router port (RFC 4541 C2) nor wins an election (C5), though it
	// does show someone is querying.
	if !m.Src.IsUnspecified() {
		if _, ok := e.table.Router(ifindex); !ok {
			e.event(Event{Kind: EventRouterAdd, Port: ifindex, Addr: m.Src})
			e.timers.add(timer{at: now.Add(oqpi), kind: timerRouter, port: ifindex})
		}
		e.table.SetRouter(ifindex, now.Add(oqpi))
	}
	q := &e.querier
	present := q.addr.IsValid()
	if !present || q.addr.IsUnspecified() || m.Src.Compare(q.addr) <= 0 && !m.Src.IsUnspecified() || m.Src == q.addr {
		if !present || q.addr != m.Src {
			q.since = now
		}
		q.addr, q.port, q.version = m.Src, ifindex, m.Version
		q.expires = now.Add(oqpi)
		e.timers.add(timer{at: q.expires, kind: timerQuerier})
		if !present {
			e.event(Event{Kind: EventQuerierHeard, Port: ifindex, Addr: m.Src})
		}
	}
	if !m.IsGeneralQuery() && len(m.Sources) == 0 {
		e.groupQueried(now, m)
	}
}

// groupQueried follows a group-specific query. The kernel bridge sees it
// too and lowers its timers for the group to LMQC × MRT, ignoring the S
// flag unless the bridge runs IGMPv3, so the next report must rewrite the
// MDB entry whatever the flag says. Our own timer follows RFC 3376 §6.4.1:
// lowered only when the S flag is clear.
func (e *Engine) groupQueried(now time.Time, m *wire.Message) {
	lmqt := now.Add(time.Duration(e.cfg.LastMemberQueryCount) * m.MaxResp)
	for pi := range e.ports {
		mem := e.table.Get(fdb.Key{VLAN: m.VLAN, Group: m.Group}, pi)
		if mem == nil || mem.Static {
			continue
		}
		mem.Installed = time.Time{}
		if !m.SuppressRouterSide && lmqt.Before(mem.Expires) {
			mem.Expires = lmqt
			e.schedule(mem)
		}
	}
}

// relay sends a report or leave to every router port but the one it came
// in on (RFC 4541 C1): the ingress guard keeps it from the bridge, which
// would otherwise have forwarded it. Never to host ports, or their hosts
// would suppress their own reports.
func (e *Engine) relay(ingress int, frame []byte) {
	e.scratch = e.table.AppendRouterPorts(e.scratch[:0], ingress)
	for _, rp := range e.scratch {
		if p := e.ports[rp]; p != nil && p.up {
			e.emit(Action{Kind: ActTransmit, Port: rp, Frame: frame})
			e.stats.relayed++
		}
	}
}

func (e *Engine) remove(m *fdb.Membership, why EventKind) {
	key, port := m.Key, m.Port
	e.table.Remove(key, port)
	e.emit(Action{Kind: ActRemove, Port: port, Key: key})
	e.event(Event{Kind: why, Port: port, Key: key})
}

func (e *Engine) limitHit(ifindex int, key fdb.Key, reporter netip.Addr, err error) {
	if err == fdb.ErrPortLimit {
		e.stats.ignored[ignorePortLimit]++
	} else {
		e.stats.ignored[ignoreTableLimit]++
	}
	e.event(Event{Kind: EventLimit, Port: ifindex, Key: key, Addr: reporter, Detail: err.Error()})
}

// schedule makes sure a timer fires at the membership's next deadline.
func (e *Engine) schedule(m *fdb.Membership) {
	at := m.Expires
	if m.QueriesLeft > 0 && m.NextQuery.Before(at) {
		at = m.NextQuery
	}
	if m.Static {
		return
	}
	if m.Wake.IsZero() || at.Before(m.Wake) {
		m.Wake = at
		e.timers.add(timer{at: at, kind: timerMember, key: m.Key, port: m.Port})
	}
}

// NextDeadline returns when Tick next has work, if ever.
func (e *Engine) NextDeadline() (time.Time, bool) { return e.timers.next() }

// Tick runs every timer due at now: expiries, last-member queries, router
// port and querier aging.
func (e *Engine) Tick(now time.Time) []Action {
	e.out = e.out[:0]
	for {
		t, ok := e.timers.popDue(now)
		if !ok {
			return e.out
		}
		switch t.kind {
		case timerMember:
			e.memberTimer(now, t)
		case timerRouter:
			exp, ok := e.table.Router(t.port)
			switch {
			case !ok || exp.IsZero():
			case !exp.After(now):
				e.table.RemoveRouter(t.port)
				e.event(Event{Kind: EventRouterExpire, Port: t.port})
			case !exp.Equal(t.at):
				e.timers.add(timer{at: exp, kind: timerRouter, port: t.port})
			}
		case timerQuerier:
			q := &e.querier
			if q.addr.IsValid() && !q.expires.After(now) {
				e.event(Event{Kind: EventQuerierLost, Port: q.port, Addr: q.addr})
				*q = querier{}
			}
		}
	}
}

func (e *Engine) memberTimer(now time.Time, t timer) {
	m := e.table.Get(t.key, t.port)
	if m == nil || !m.Wake.Equal(t.at) {
		return // stale: the membership went or was rescheduled earlier
	}
	m.Wake = time.Time{}
	if !m.Expires.After(now) {
		why := EventExpire
		if !m.NextQuery.IsZero() { // a leave is unanswered
			why = EventLeave
		}
		e.remove(m, why)
		return
	}
	if m.QueriesLeft > 0 && !m.NextQuery.After(now) {
		e.lastMemberQuery(now, m)
	}
	e.schedule(m)
}

// QuerierPresent reports whether a querier has been heard within the
// other-querier-present interval. Without one the bridge floods and the
// MDB is not used (DESIGN.md, fact 2).
func (e *Engine) QuerierPresent() bool { return e.querier.addr.IsValid() }

// Memberships returns a copy of every membership, for shutdown and views.
func (e *Engine) Memberships() []fdb.Membership { return e.table.Memberships() }

func (e *Engine) emit(a Action) { e.out = append(e.out, a) }

func (e *Engine) event(ev Event) {
	e.emit(Action{Kind: ActEvent, Port: ev.Port, Key: ev.Key, Event: ev})
}
