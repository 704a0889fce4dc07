package snoop

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

type port struct {
	name   string
	up     bool
	policy PortPolicy
	// kernelLearns: the kernel learns the port's memberships itself (see
	// SetKernelLearns).
	kernelLearns bool
}

// Engine is the snooping state machine of one bridge. See the package doc.
type Engine struct {
	cfg      Config
	table    *fdb.Table
	ports    map[int]*port
	families map[famKey]*family
	timers   timerHeap
	stats    counters
	out      []Action
	scratch  []int
	// floodReports lists, in port order, the ports whose policy says
	// FloodReports, so relaying a report need not visit every port.
	floodReports []int
	srcKeys      map[srcKey]int // installed (S,G) keys, by how many port groups hold them
	// routerPushed is when each dynamic router port was last pushed to
	// the kernel with ActRouterPort.
	routerPushed map[int]time.Time
	portCounters map[int]*portCounters
	ssm          []netip.Prefix // the SSM ranges in force
	// nd lists, by port, the groups learned from ND there (see nd.go),
	// and ndScratch holds the addresses of the ND message being handled.
	nd        map[int][]fdb.Key
	ndScratch []netip.Addr
}

// New returns an engine for cfg, which must be valid. origin anchors the
// compact times of its table (see fdb.Clock): they reach about 146 years
// either side of it. The engine reads no clock, so the caller gives it:
// a daemon time.Now(), whose monotonic reading makes every later
// time.Now() it passes count by the monotonic clock; a replay its
// capture's first timestamp.
func New(cfg Config, origin time.Time) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("snoop config: %w", err)
	}
	return &Engine{
		cfg:      cfg,
		table:    fdb.New(cfg.Limits, origin),
		ports:    make(map[int]*port),
		families: make(map[famKey]*family),
		srcKeys:  make(map[srcKey]int),

		routerPushed: make(map[int]time.Time),
		portCounters: make(map[int]*portCounters),
		ssm:          cfg.ssmRanges(),
		nd:           make(map[int][]fdb.Key),
	}, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Start begins querying if the engine is configured as querier: startup
// queries (RFC 3376 §8.6/§8.7), then general queries every query interval
// for as long as no querier with a lower address is heard.
func (e *Engine) Start(now time.Time) []Action {
	e.out = e.out[:0]
	if e.cfg.Querier {
		for _, v6 := range []bool{false, true} {
			f := e.family(famKey{IPv6: v6})
			if e.canQuery(f) {
				f.startupLeft = e.cfg.startupQueryCount()
				e.becomeQuerier(now, f)
			}
		}
	}
	return e.out
}

// SetQuerierAddr6 sets the link-local source of our MLD queries, for a
// bridge whose address appeared after start (it needs carrier first), and
// starts querying MLD if we are a querier with nobody better around.
func (e *Engine) SetQuerierAddr6(now time.Time, a netip.Addr) []Action {
	e.out = e.out[:0]
	if !a.Is6() || !a.IsLinkLocalUnicast() || a == e.cfg.QuerierAddr6 {
		return e.out
	}
	hadNone := !e.cfg.QuerierAddr6.IsValid()
	e.cfg.QuerierAddr6 = a
	if hadNone {
		// MLD routers could not be asked before: ask them now.
		for i, p := range e.ports {
			if p.up {
				e.solicitFrom(i, p, a)
			}
		}
	}
	if f := e.family(famKey{IPv6: true}); e.cfg.Querier && !f.ownActive && !f.other.addr.IsValid() {
		f.startupLeft = e.cfg.startupQueryCount()
		e.becomeQuerier(now, f)
	}
	return e.out
}

// PortAdded makes a port known before it is active (down, or not yet
// learning by STP), so that Ports lists it; PortUp activates it. For a
// known port that is not active it takes the name (and the policy that
// goes with it) the port has now: Linux renames only ports that are down.
// An active port is left as it is.
func (e *Engine) PortAdded(ifindex int, name string) {
	p := e.ports[ifindex]
	if p != nil && (p.up || p.name == name) {
		return
	}
	if p == nil {
		p = &port{}
		e.ports[ifindex] = p
	}
	p.name, p.policy = name, e.cfg.Policy(name)
	e.portsChanged()
}

// PortUp makes a port known and able to learn, with its policy: static
// router port, static groups.
func (e *Engine) PortUp(now time.Time, ifindex int, name string) []Action {
	e.out = e.out[:0]
	p := e.ports[ifindex]
	if p == nil {
		p = &port{}
		e.ports[ifindex] = p
	}
	p.name, p.up, p.policy = name, true, e.cfg.Policy(name)
	e.portsChanged()
	e.applyPolicy(now, ifindex, p)
	e.solicit(ifindex, p)
	return e.out
}

// applyPolicy brings a port's static router state and static groups in
// line with its policy.
func (e *Engine) applyPolicy(now time.Time, ifindex int, p *port) {
	for _, v6 := range []bool{false, true} {
		k := fdb.RouterKey{Port: ifindex, IPv6: v6}
		r := e.table.Router(k)
		static := r != nil && r.Static()
		if p.policy.Router && !static {
			e.table.RemoveRouter(k)
			e.setRouter(now, k, time.Time{}, fdb.ViaStatic, netip.Addr{})
		} else if !p.policy.Router && static {
			e.table.RemoveRouter(k)
			e.event(Event{Kind: EventRouterExpire, Port: ifindex, Detail: "no longer static"})
		}
	}
	want := make(map[fdb.Key]StaticGroup, len(p.policy.StaticGroups))
	for _, sg := range p.policy.StaticGroups {
		want[fdb.Key{VLAN: sg.VLAN, Group: sg.Group}] = sg
	}
	for _, k := range e.table.KeysOf(ifindex) {
		if pg := e.table.Get(k, ifindex); pg.Static {
			if _, ok := want[k]; !ok {
				e.remove(pg)
			}
		}
	}
	for k, sg := range want {
		e.addStatic(now, ifindex, k, sg)
	}
	e.ndPolicy(ifindex, p)
}

// forever is the timer of static memberships: they never run out.
var forever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// addStatic installs a configured membership, replacing learned state.
func (e *Engine) addStatic(now time.Time, ifindex int, k fdb.Key, sg StaticGroup) {
	pg, created, err := e.table.Join(k, ifindex)
	if err != nil {
		e.limitHit(ifindex, k, netip.Addr{}, err)
		return
	}
	if created {
		pg.Since = e.table.TimeOf(now)
	}
	pg.Static, pg.Leaving = true, false
	pg.SetQueriesLeft(0)
	pg.SetSourceQueriesLeft(0)
	pg.Sources = pg.Sources[:0]
	end := e.table.TimeOf(forever)
	if len(sg.Sources) > 0 {
		pg.Mode, pg.GroupExpires = fdb.Include, 0
		for _, s := range sg.Sources {
			pg.SetSource(s, end, 0)
		}
	} else {
		pg.Mode, pg.GroupExpires = fdb.Exclude, end
	}
	if created {
		e.event(Event{Kind: EventJoin, Port: ifindex, Key: k, Detail: "static"})
	}
	e.sync(now, pg, false)
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

// PortRemoved forgets a port that left the bridge. The kernel deleted its
// MDB entries with it: only events come out.
func (e *Engine) PortRemoved(now time.Time, ifindex int) []Action {
	e.out = e.out[:0]
	e.flushPort(ifindex)
	e.out = slices.DeleteFunc(e.out, func(a Action) bool { return a.Kind == ActRemove })
	delete(e.ports, ifindex)
	delete(e.portCounters, ifindex)
	e.portsChanged()
	return e.out
}

func (e *Engine) flushPort(ifindex int) {
	delete(e.routerPushed, ifindex) // the kernel forgets a port's router state with it
	delete(e.nd, ifindex)
	for _, pg := range e.table.RemovePort(ifindex) {
		e.countSourceKeys(pg.Key, pg.InstalledSources, -1)
		if e.ownsEntry(&pg) {
			e.emit(Action{Kind: ActRemove, Port: ifindex, Key: pg.Key})
		}
		e.event(Event{Kind: EventFlush, Port: ifindex, Key: pg.Key})
	}
}

// Adopt takes over an MDB entry installed by an earlier run of the daemon,
// so a restart does not interrupt forwarding: it lives for the kernel's
// remaining time (at most one membership interval) unless a report
// refreshes it.
func (e *Engine) Adopt(now time.Time, ifindex int, key fdb.Key, mode fdb.FilterMode, sources []netip.Addr, remaining time.Duration) []Action {
	e.out = e.out[:0]
	if !learnable(key.Group) {
		e.ignore(ifindex, ignoreNotLearnable)
		return e.out
	}
	pg, created, err := e.table.Join(key, ifindex)
	if err != nil {
		e.limitHit(ifindex, key, netip.Addr{}, err)
		return e.out
	}
	if pg.Static {
		return e.out // the configuration says what it holds
	}
	if created {
		// Its uptime counts from the adoption: when the earlier run
		// created the entry is not known.
		pg.Since = e.table.TimeOf(now)
	}
	gmi := e.familyOf(key).gmi()
	if remaining <= 0 {
		remaining = gmi // unknown
	}
	until := e.table.TimeOf(now.Add(min(remaining, gmi)))
	pg.Sources = pg.Sources[:0]
	if mode == fdb.Include && len(sources) > 0 {
		pg.Mode = fdb.Include
		for _, s := range sources {
			pg.SetSource(s, until, e.cfg.MaxSources)
		}
	} else {
		pg.Mode, pg.GroupExpires = fdb.Exclude, until
		for _, s := range sources {
			pg.SetSource(s, 0, e.cfg.MaxSources)
		}
	}
	e.countSourceKeys(key, pg.InstalledSources, -1)
	pg.InstalledMode, pg.InstalledSources = pg.Forwarding(e.table.TimeOf(now))
	e.countSourceKeys(key, pg.InstalledSources, +1)
	// Installed stays zero so the next report rewrites the entry.
	e.schedule(pg)
	if created {
		e.event(Event{Kind: EventAdopt, Port: ifindex, Key: key})
	}
	return e.out
}

// Refused counts a frame the decoder refused on a port.
func (e *Engine) Refused(ifindex int, reason wire.Reason) {
	e.stats.refused[reason]++
	if c := e.portStats(ifindex); c != nil {
		c.refused[reason]++
	}
}

// ignore counts a valid message that changed nothing, and why.
func (e *Engine) ignore(ifindex int, r ignoreReason) {
	e.stats.ignored[r]++
	if c := e.portStats(ifindex); c != nil {
		c.ignored[r]++
	}
}

// InstallFailed tells the engine an ActInstall could not be applied, so
// the next report for that membership tries again instead of waiting out
// the refresh interval.
func (e *Engine) InstallFailed(ifindex int, key fdb.Key) {
	if pg := e.table.Get(key, ifindex); pg != nil {
		pg.Installed = 0
	}
	e.stats.installFailed++
}

// HandleMessage processes one decoded message received on port ifindex.
// frame is the raw frame, relayed to router ports for reports and leaves.
// It may change m: without VLANFiltering its VLAN becomes 0.
func (e *Engine) HandleMessage(now time.Time, ifindex int, m *wire.Message, frame []byte) []Action {
	e.out = e.out[:0]
	if !e.cfg.VLANFiltering {
		m.VLAN = 0 // see Config.VLANFiltering
	}
	p := e.ports[ifindex]
	if p == nil || !p.up {
		e.ignore(ifindex, ignoreUnknownPort)
		return e.out
	}
	e.stats.count(m)
	if c := e.portStats(ifindex); c != nil {
		c.received++
	}
	if p.policy.RefuseQueries && (m.Kind == wire.KindQuery || m.Kind == wire.KindPIMHello || m.Kind == wire.KindMRDAdvert || m.Kind == wire.KindMRDTermination) {
		e.ignore(ifindex, ignoreRouterRefused)
		return e.out
	}
	switch m.Kind {
	case wire.KindQuery:
		e.handleQuery(now, ifindex, m, frame)
	case wire.KindReport, wire.KindLeave, wire.KindReportV3:
		e.handleReport(now, ifindex, p, m, frame)
	case wire.KindPIMHello, wire.KindMRDAdvert, wire.KindMRDTermination:
		e.handleRouterMessage(now, ifindex, m)
	case wire.KindND:
		e.handleND(now, ifindex, p, m)
	case wire.KindOther:
		// RFC 4541 C4: every other IGMP type reaches every port. The bridge
		// floods those to 224.0.0.0/24 itself; others the guard keeps from
		// it (it would forward them like data), and we flood them.
		if m.Dst.Is4() && !m.Dst.IsLinkLocalMulticast() {
			e.flood(ifindex, frame, true)
		}
	}
	e.maybeCompact()
	return e.out
}

// learnable tells whether a group may be learned. 224.0.0.0/24 and ff02::1
// are always flooded (RFC 4541 D2, M2) and the kernel refuses MDB entries
// for them; ff00::/15 (reserved and interface-local scopes) never appears
// on a link (M3).
func learnable(g netip.Addr) bool {
	if !g.IsMulticast() {
		return false
	}
	if g.Is4() {
		return !g.IsLinkLocalMulticast() // 224.0.0.0/24
	}
	b := g.As16()
	if scope := b[1] & 0x0f; scope <= 1 {
		return false
	}
	return g != wire.AllNodes
}

// inSSMRange tells whether g is in one of the SSM ranges.
func (e *Engine) inSSMRange(g netip.Addr) bool {
	for _, p := range e.ssm {
		if p.Contains(g) {
			return true
		}
	}
	return false
}

// relay sends a report or leave to every router port of its protocol and
// VLAN but the one it came in on (RFC 4541 C1): the ingress guard keeps it
// from the bridge, which would otherwise have forwarded it. Never to host
// ports, or their hosts would suppress their own reports, unless the
// operator says so (FloodReports). Nothing from a port where the kernel
// learns: the guard passes its reports and the bridge forwards them; and
// nothing the guard relayed already (wire.Message.Relayed).
func (e *Engine) relay(ingress int, vlan uint16, v6, relayed bool, frame []byte) {
	if e.KernelLearns(ingress) {
		return
	}
	if relayed {
		e.stats.guardRelayed++
		return
	}
	e.scratch = e.relayTargets(e.scratch[:0], vlan, v6, ingress)
	for _, rp := range e.scratch {
		e.emit(Action{Kind: ActTransmit, Port: rp, Frame: frame})
		e.stats.relayed++
	}
}

// portsChanged recomputes what is derived from the ports and their
// policies; call it whenever a port comes, goes or changes policy.
func (e *Engine) portsChanged() {
	e.floodReports = e.floodReports[:0]
	for i, p := range e.ports {
		if p.policy.FloodReports {
			e.floodReports = append(e.floodReports, i)
		}
	}
	slices.Sort(e.floodReports)
}

// flood sends a frame out of every port but ingress, router ports only
// if toRouters. A proxy query (one whose source takes no part in
// elections, or must not) goes to host ports only: a querier behind a
// router port compares addresses, and 0.0.0.0, the lowest, would silence
// it (RFC 3376 §6.6.2 as FRR and Linux implement it), leaving the LAN
// without a querier and the bridge flooding.
func (e *Engine) flood(ingress int, frame []byte, toRouters bool) {
	for i, p := range e.ports {
		if i != ingress && p.up && (toRouters || !e.table.RouterPort(i)) {
			e.emit(Action{Kind: ActTransmit, Port: i, Frame: frame})
		}
	}
}

func (e *Engine) limitHit(ifindex int, key fdb.Key, reporter netip.Addr, err error) {
	if err == fdb.ErrPortLimit {
		e.ignore(ifindex, ignorePortLimit)
	} else {
		e.ignore(ifindex, ignoreTableLimit)
	}
	e.event(Event{Kind: EventLimit, Port: ifindex, Key: key, Addr: reporter, Detail: err.Error()})
}

// NextDeadline returns when Tick next has work, if ever.
func (e *Engine) NextDeadline() (time.Time, bool) {
	at, ok := e.timers.next()
	if !ok {
		return time.Time{}, false
	}
	return e.table.TimeAt(at), true
}

// Tick runs every timer due at now: expiries, queries, router port and
// querier aging.
func (e *Engine) Tick(now time.Time) []Action {
	e.out = e.out[:0]
	n := e.table.TimeOf(now)
	for {
		t, ok := e.timers.popDue(n)
		if !ok {
			e.maybeCompact()
			return e.out
		}
		switch t.kind {
		case timerGroup:
			e.groupTimer(now, t)
		case timerRouter:
			e.routerTimer(now, t)
		case timerFamily:
			e.familyTimer(now, t)
		}
	}
}

// QuerierPresent reports whether the bridge has a querier: another one
// heard within the other-querier-present interval, or ourselves. Without
// one the Linux bridge floods and ignores its MDB: it forwards by the MDB
// only while it has heard a querier (or is one) within its
// mcast_querier_interval.
func (e *Engine) QuerierPresent() bool {
	for _, f := range e.families {
		if f.other.addr.IsValid() || f.ownActive {
			return true
		}
	}
	return false
}

// Resync rewrites every MDB entry: the kernel dropped its temporary
// entries (snooping switched off and on, the bridge down and up).
func (e *Engine) Resync(now time.Time) []Action {
	e.out = e.out[:0]
	for _, k := range e.table.AllKeys() {
		pg := e.table.Get(k.Key, k.Port)
		pg.Installed = 0
		e.sync(now, pg, false)
	}
	return e.out
}

// Memberships returns a copy of every port group, for shutdown and views.
func (e *Engine) Memberships() []fdb.PortGroup { return e.table.Groups() }

func (e *Engine) emit(a Action) { e.out = append(e.out, a) }

func (e *Engine) event(ev Event) {
	e.emit(Action{Kind: ActEvent, Port: ev.Port, Key: ev.Key, Event: ev})
}

// Reconfigure applies a new configuration without losing learned state:
// timers, limits and port policies change, static groups and static
// router ports follow, and memberships over a lowered limit stay until
// they leave or expire.
func (e *Engine) Reconfigure(now time.Time, cfg Config) ([]Action, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("snoop config: %w", err)
	}
	if cfg.VLANFiltering != e.cfg.VLANFiltering {
		return nil, fmt.Errorf("snoop config: VLAN filtering %v cannot change to %v without a new engine: memberships, queriers and router ports are keyed by it", e.cfg.VLANFiltering, cfg.VLANFiltering)
	}
	e.out = e.out[:0]
	wasQuerier := e.cfg.Querier
	e.cfg = cfg
	e.ssm = cfg.ssmRanges()
	e.table.SetLimits(cfg.Limits)
	for _, f := range e.families {
		if !f.other.addr.IsValid() {
			e.resetTimers(f)
		}
		if wasQuerier && !cfg.Querier && f.ownActive {
			f.ownActive = false
			e.event(Event{Kind: EventQuerierLost, Addr: e.ownAddr(f), Detail: "querier switched off by configuration"})
		}
	}
	if cfg.Querier && !wasQuerier {
		for _, v6 := range []bool{false, true} {
			if f := e.family(famKey{IPv6: v6}); e.canQuery(f) && !f.ownActive && !f.other.addr.IsValid() {
				f.startupLeft = e.cfg.startupQueryCount()
				e.becomeQuerier(now, f)
			}
		}
	}
	for _, p := range e.ports {
		p.policy = cfg.Policy(p.name)
	}
	e.portsChanged()
	for i, p := range e.ports {
		if p.up {
			e.applyPolicy(now, i, p)
		}
	}
	return e.out, nil
}
