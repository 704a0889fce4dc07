package snoop

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// handleReport applies a v1/v2 report, a leave, or each record of a v3
// report. IGMPv1/v2 and MLDv1 messages are their v3 equivalents
// (RFC 3376 §7.3.2): a report is IS_EX({}), a leave TO_IN({}).
func (e *Engine) handleReport(now time.Time, ifindex int, p *port, m *wire.Message, frame []byte) {
	gen := m.Generation()
	switch m.Kind {
	case wire.KindReport, wire.KindLeave:
		t := wire.ModeIsExclude
		if m.Kind == wire.KindLeave {
			t = wire.ChangeToInclude
		}
		if !e.applyRecord(now, ifindex, p, m.Src, gen, fdb.Key{VLAN: m.VLAN, Group: m.Group}, t, nil) {
			e.relay(ifindex, m.VLAN, m.Src.Is6(), m.Relayed, frame)
		} else if m.Relayed {
			e.guardLeaked()
		}
	case wire.KindReportV3:
		for range m.SkippedRecords {
			e.ignore(ifindex, ignoreUnknownRecord)
		}
		refused := 0
		for i := range m.Records {
			r := &m.Records[i]
			if e.applyRecord(now, ifindex, p, m.Src, gen, fdb.Key{VLAN: m.VLAN, Group: r.Group}, r.Type, r.Sources) {
				r.Type = 0 // marks it refused for relayRecords
				refused++
			}
		}
		switch {
		case refused == 0:
			e.relay(ifindex, m.VLAN, m.Src.Is6(), m.Relayed, frame)
		case m.Relayed:
			e.guardLeaked()
		case refused < len(m.Records):
			e.relayRecords(ifindex, m)
		}
	}
}

// guardLeaked counts a report the guard relayed that the engine then
// refused, in part or whole: RelaysFrom was wrong about its port, or the
// table filled faster than RelaysFrom knew. It reached the routers.
func (e *Engine) guardLeaked() { e.stats.guardRelayedRefused++ }

// relayRecords passes on a report without its refused records: what a
// limit or profile turned down here must not reach the routers either, or
// a flood refused at our bridge would fill theirs.
func (e *Engine) relayRecords(ifindex int, m *wire.Message) {
	kept := make([]wire.GroupRecord, 0, len(m.Records))
	for _, r := range m.Records {
		if r.Type != 0 {
			kept = append(kept, r)
		}
	}
	frame, err := wire.EncodeReport(wire.Report{Version: m.Version, SrcMAC: m.SrcMAC, Src: m.Src, Records: kept, VLAN: m.VLAN})
	if err != nil {
		e.event(Event{Kind: EventQueryFailed, Port: ifindex, Addr: m.Src, Detail: "re-encode report: " + err.Error()})
		return
	}
	e.relay(ifindex, m.VLAN, m.Src.Is6(), false, frame)
}

// filter applies the port's profile to a record that can add traffic: a
// denied any-source join is dropped whole, denied sources are left out of
// a source list (RFC 4541 leaves policy to the switch; this is Cisco's
// `ip igmp filter`). It reports false if nothing of the record is left.
func (e *Engine) filter(ifindex int, p *port, host netip.Addr, key fdb.Key, t wire.RecordType, sources []netip.Addr) ([]netip.Addr, bool) {
	prof := p.policy.Profile
	if prof == nil {
		return sources, true
	}
	if t == wire.ModeIsExclude || t == wire.ChangeToExclude {
		if prof.Allows(key.Group, netip.Addr{}) {
			return sources, true
		}
	} else {
		kept := sources[:0:0]
		for _, s := range sources {
			if prof.Allows(key.Group, s) {
				kept = append(kept, s)
			}
		}
		if len(kept) > 0 || len(sources) == 0 {
			return kept, true
		}
	}
	e.ignore(ifindex, ignoreFilterDeny)
	e.event(Event{Kind: EventFilterDeny, Port: ifindex, Key: key, Addr: host, Detail: "profile " + prof.Name})
	return nil, false
}

// makeRoom enforces the port's group limit before a new group: refuse it,
// or drop the port's least recently refreshed learned group for it.
func (e *Engine) makeRoom(ifindex int, p *port, key fdb.Key, host netip.Addr) bool {
	max := p.policy.MaxGroups
	if max == 0 || e.table.PortLen(ifindex) < max {
		return true
	}
	if !p.policy.ReplaceOldest {
		e.limitHit(ifindex, key, host, fdb.ErrPortLimit)
		return false
	}
	var learned []*fdb.PortGroup
	for _, k := range e.table.KeysOf(ifindex) {
		if pg := e.table.Get(k, ifindex); !pg.Static {
			learned = append(learned, pg)
		}
	}
	if len(learned) == 0 {
		e.limitHit(ifindex, key, host, fdb.ErrPortLimit)
		return false
	}
	oldest := slices.MinFunc(learned, func(a, b *fdb.PortGroup) int { return cmp.Compare(a.Refreshed, b.Refreshed) })
	e.ignore(ifindex, ignorePortLimit)
	e.event(Event{Kind: EventLimit, Port: ifindex, Key: key, Addr: host, Detail: "port limit: replaced " + oldest.Key.Group.String()})
	e.remove(oldest)
	return true
}

// createsState tells whether a record can create a membership that does
// not exist (INCLUDE {} is no membership at all).
func createsState(t wire.RecordType, sources []netip.Addr) bool {
	switch t {
	case wire.ModeIsExclude, wire.ChangeToExclude:
		return true
	case wire.ModeIsInclude, wire.ChangeToInclude, wire.AllowNewSources:
		return len(sources) > 0
	}
	return false
}

// isReduction tells whether a record can only take traffic away.
func isReduction(t wire.RecordType, sources []netip.Addr) bool {
	return t == wire.BlockOldSources || (t == wire.ChangeToInclude || t == wire.ModeIsInclude) && len(sources) == 0
}

// compat is a port group's compatibility mode (RFC 3376 §7.3.2): the oldest
// generation whose Older Host Present timer runs.
func compat(pg *fdb.PortGroup, now fdb.Time) int {
	if pg.V1HostUntil() > now {
		return 1
	}
	if pg.V2HostUntil > now {
		return 2
	}
	return 3
}

// applyRecord applies one record; it reports refused when a limit or the
// port's profile turned the record down, so that it is not passed on
// upstream either.
func (e *Engine) applyRecord(now time.Time, ifindex int, p *port, host netip.Addr, gen int, key fdb.Key, t wire.RecordType, sources []netip.Addr) (refused bool) {
	if !learnable(key.Group) {
		e.ignore(ifindex, ignoreNotLearnable)
		return false
	}
	if p.policy.NoSnooping {
		e.ignore(ifindex, ignoreNoSnooping)
		return false
	}
	if (gen < 3 || t == wire.ModeIsExclude || t == wire.ChangeToExclude) && e.inSSMRange(key.Group) {
		// RFC 4604 §2.2.1 (IGMP) and §2.2.2 (MLD): in an SSM range only
		// source-specific (INCLUDE) state exists; any-source requests and
		// v1/v2 messages are ignored, and not passed upstream either.
		e.ignore(ifindex, ignoreSSMExclude)
		return true
	}
	if !isReduction(t, sources) {
		var ok bool
		if sources, ok = e.filter(ifindex, p, host, key, t, sources); !ok {
			return true
		}
	}
	f := e.familyOf(key)
	gmi := f.gmi()
	pg := e.table.Get(key, ifindex)
	created := false
	if pg == nil {
		if !createsState(t, sources) {
			e.ignore(ifindex, ignoreLeaveUnknown)
			return false
		}
		if !e.makeRoom(ifindex, p, key, host) {
			return true
		}
		if max := e.cfg.Limits.MaxKeys; max > 0 && e.table.Keys()+len(e.srcKeys) >= max && e.table.KeyLen(key) == 0 {
			// (S,G) keys count toward mcast_hash_max like groups do.
			e.limitHit(ifindex, key, host, fdb.ErrKeyLimit)
			return true
		}
		var err error
		if pg, created, err = e.table.Join(key, ifindex); err != nil {
			e.limitHit(ifindex, key, host, err)
			return true
		}
		pg.Mode, pg.Since = fdb.Include, e.table.TimeOf(now)
	}
	if pg.Static {
		return false
	}
	n := e.table.TimeOf(now)
	// Older Host Present timers run from reports only (RFC 3376 §7.3.2,
	// RFC 3810 §8.3.2): a v2 leave is a TO_IN {}, and one from any host
	// must not switch source filtering off for the group.
	if t != wire.ChangeToInclude {
		switch gen {
		case 1:
			pg.SetV1HostUntil(e.table.TimeOf(now.Add(gmi)))
		case 2:
			pg.V2HostUntil = e.table.TimeOf(now.Add(gmi))
		}
	}
	// RFC 3376 §7.3.2 (and RFC 3810 §8.3.2): with older hosts present, a
	// group is any-source, so BLOCK and exclude lists mean nothing, and an
	// IGMPv1 host cannot leave, so leaves are ignored.
	if c := compat(pg, n); c < 3 {
		if t == wire.BlockOldSources || t == wire.ChangeToInclude && c == 1 {
			e.ignore(ifindex, ignoreCompat)
			return false
		}
		if t == wire.ModeIsExclude || t == wire.ChangeToExclude {
			sources = nil
		}
	}
	if !isReduction(t, sources) {
		pg.Generation = uint8(gen)
		pg.Refreshed = n
	}
	e.trackHost(now, gmi, pg, host, t, sources)
	groupQuery, sourceQuery := e.transition(now, gmi, pg, t, sources)
	if !isReduction(t, sources) && t != wire.ChangeToInclude {
		pg.Leaving = false
	}
	if groupQuery || len(sourceQuery) > 0 {
		if p.policy.FastLeave && pg.UntrackedUntil() <= n {
			e.fastLeave(now, pg, groupQuery, sourceQuery)
		} else {
			e.startQueries(now, f, pg, groupQuery, sourceQuery)
		}
	}
	if created {
		e.event(Event{Kind: EventJoin, Port: ifindex, Key: key, Addr: host})
	}
	if e.expire(now, pg) {
		return false
	}
	e.sync(now, pg, !isReduction(t, sources))
	e.schedule(pg)
	return false
}

// transition applies one record to a port group: RFC 3376 §6.4.1 and
// §6.4.2 (RFC 3810 §7.4 is the same for MLD). A is the current source set;
// in EXCLUDE mode X has running timers and Y (timer off) is excluded. It
// returns whether Q(G) and which Q(G,S) the tables ask for.
func (e *Engine) transition(now time.Time, gmi time.Duration, pg *fdb.PortGroup, t wire.RecordType, b []netip.Addr) (groupQuery bool, sourceQuery []netip.Addr) {
	until := e.table.TimeOf(now.Add(gmi))
	has := func(s netip.Addr) bool { _, ok := pg.Source(s); return ok }
	excluded := func(s netip.Addr) bool { i, ok := pg.Source(s); return ok && pg.Sources[i].Expires.IsZero() }
	inB := func(s netip.Addr) bool { return slices.Contains(b, s) }
	setAll := func(expires fdb.Time) {
		for _, s := range b {
			e.setSource(now, gmi, pg, s, expires)
		}
	}
	// keepOnly deletes the sources not in B (Delete (A-B), (X-A), (Y-A)).
	keepOnly := func() {
		pg.Sources = slices.DeleteFunc(pg.Sources, func(s fdb.Source) bool { return !inB(s.Addr) })
	}
	if pg.Mode == fdb.Include {
		switch t {
		case wire.ModeIsInclude, wire.AllowNewSources: // INCLUDE (A+B); (B)=GMI
			setAll(until)
		case wire.ChangeToInclude: // INCLUDE (A+B); (B)=GMI; Send Q(G,A-B)
			for _, s := range pg.Sources {
				if !inB(s.Addr) {
					sourceQuery = append(sourceQuery, s.Addr)
				}
			}
			setAll(until)
		case wire.BlockOldSources: // INCLUDE (A); Send Q(G,A*B)
			for _, s := range b {
				if has(s) {
					sourceQuery = append(sourceQuery, s)
				}
			}
		case wire.ModeIsExclude, wire.ChangeToExclude:
			// EXCLUDE (A*B, B-A); (B-A)=0; Delete (A-B); Group Timer=GMI;
			// TO_EX also sends Q(G,A*B).
			for _, s := range b {
				if has(s) {
					if t == wire.ChangeToExclude {
						sourceQuery = append(sourceQuery, s)
					}
				} else {
					e.setSource(now, gmi, pg, s, 0)
				}
			}
			keepOnly()
			pg.Mode, pg.GroupExpires = fdb.Exclude, until
		}
		return groupQuery, sourceQuery
	}
	switch t {
	case wire.ModeIsInclude, wire.AllowNewSources: // EXCLUDE (X+A, Y-A); (A)=GMI
		setAll(until)
	case wire.ChangeToInclude: // EXCLUDE (X+A, Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)
		for _, s := range pg.Sources {
			if !s.Expires.IsZero() && !inB(s.Addr) {
				sourceQuery = append(sourceQuery, s.Addr)
			}
		}
		setAll(until)
		groupQuery = true
	case wire.BlockOldSources: // EXCLUDE (X+(A-Y), Y); (A-X-Y)=Group Timer; Send Q(G,A-Y)
		for _, s := range b {
			if excluded(s) {
				continue
			}
			if !has(s) {
				e.setSource(now, gmi, pg, s, pg.GroupExpires)
			}
			sourceQuery = append(sourceQuery, s)
		}
	case wire.ModeIsExclude, wire.ChangeToExclude:
		// IS_EX: EXCLUDE (A-Y, Y*A); (A-X-Y)=GMI; Delete (X-A), (Y-A)
		// TO_EX: the same but (A-X-Y)=Group Timer; Send Q(G,A-Y)
		newTimer := until
		if t == wire.ChangeToExclude {
			newTimer = pg.GroupExpires
		}
		for _, s := range b {
			if excluded(s) {
				continue
			}
			if !has(s) {
				e.setSource(now, gmi, pg, s, newTimer)
			}
			if t == wire.ChangeToExclude {
				sourceQuery = append(sourceQuery, s)
			}
		}
		keepOnly()
		pg.GroupExpires = until
	}
	return groupQuery, sourceQuery
}

// setSource sets a source timer. Past the source limit the port group
// becomes EXCLUDE {} (every source forwards): a superset, never a loss.
func (e *Engine) setSource(now time.Time, gmi time.Duration, pg *fdb.PortGroup, s netip.Addr, expires fdb.Time) {
	if pg.SetSource(s, expires, e.cfg.MaxSources) {
		return
	}
	e.ignore(pg.Port, ignoreSourceLimit)
	e.event(Event{Kind: EventLimit, Port: pg.Port, Key: pg.Key, Addr: s, Detail: "source limit: forwarding every source"})
	pg.Sources = pg.Sources[:0]
	pg.Mode = fdb.Exclude
	pg.GroupExpires = max(pg.GroupExpires, e.table.TimeOf(now.Add(gmi)))
}

// trackHost updates what one host behind the port wants (explicit host
// tracking), applying its record to its own state.
func (e *Engine) trackHost(now time.Time, gmi time.Duration, pg *fdb.PortGroup, addr netip.Addr, t wire.RecordType, b []netip.Addr) {
	n, until := e.table.TimeOf(now), e.table.TimeOf(now.Add(gmi))
	pg.Hosts = slices.DeleteFunc(pg.Hosts, func(h fdb.Host) bool { return h.Expires <= n })
	if !addr.IsValid() || addr.IsUnspecified() {
		pg.SetUntrackedUntil(until)
		return
	}
	h := pg.Host(addr)
	if h == nil {
		if isReduction(t, b) {
			return
		}
		if e.cfg.MaxHosts > 0 && len(pg.Hosts) >= e.cfg.MaxHosts {
			pg.SetUntrackedUntil(until)
			return
		}
		pg.Hosts = append(pg.Hosts, fdb.Host{Addr: addr, Mode: fdb.Include})
		h = &pg.Hosts[len(pg.Hosts)-1]
	}
	switch t {
	case wire.ModeIsInclude, wire.ChangeToInclude:
		h.Mode, h.Sources = fdb.Include, append(h.Sources[:0], b...)
	case wire.ModeIsExclude, wire.ChangeToExclude:
		h.Mode, h.Sources = fdb.Exclude, append(h.Sources[:0], b...)
	case wire.AllowNewSources, wire.BlockOldSources:
		add := (t == wire.AllowNewSources) == (h.Mode == fdb.Include)
		for _, s := range b {
			if i := slices.Index(h.Sources, s); add && i < 0 {
				h.Sources = append(h.Sources, s)
			} else if !add && i >= 0 {
				h.Sources = slices.Delete(h.Sources, i, i+1)
			}
		}
	}
	if max := e.cfg.MaxSources; max > 0 && len(h.Sources) > max {
		// Past the limit the host's wishes are unknown: stop trusting the
		// tracking for fast-leave rather than grow without bound.
		h.Sources = h.Sources[:max]
		pg.SetUntrackedUntil(until)
	}
	if h.Mode == fdb.Include && len(h.Sources) == 0 {
		pg.DeleteHost(addr)
		return
	}
	h.Expires = until
	// Newest first, so views show the latest reporter first.
	i := slices.IndexFunc(pg.Hosts, func(x fdb.Host) bool { return x.Addr == addr })
	hc := pg.Hosts[i]
	copy(pg.Hosts[1:i+1], pg.Hosts[:i])
	pg.Hosts[0] = hc
}

// fastLeave resolves a leave or block at once on a fast-leave port: what no
// other tracked host behind the port wants stops now; what one still wants
// stays. Explicit host tracking is what makes this safe on shared ports.
func (e *Engine) fastLeave(now time.Time, pg *fdb.PortGroup, groupQuery bool, sourceQuery []netip.Addr) {
	n := e.table.TimeOf(now)
	cut := false
	if groupQuery && !slices.ContainsFunc(pg.Hosts, func(h fdb.Host) bool { return h.Mode == fdb.Exclude }) {
		pg.GroupExpires, cut = n, true
	}
	for _, s := range sourceQuery {
		if slices.ContainsFunc(pg.Hosts, func(h fdb.Host) bool { return h.Wants(s) }) {
			continue
		}
		if i, ok := pg.Source(s); ok && !pg.Sources[i].Expires.IsZero() {
			pg.Sources[i].Expires, cut = n, true
		}
	}
	// Leaving marks what a leave ends (its removal is a leave, not an
	// expiry); a leave another tracked host outweighs ends nothing.
	pg.Leaving = pg.Leaving || cut
}

// startQueries lowers the queried timers to the last member query time
// and starts group(-and-source)-specific queries out of the port (RFC 3376
// §6.6.3). Without a usable query source (MLD needs a link-local one) the
// timers stay: nobody would be asked to answer.
func (e *Engine) startQueries(now time.Time, f *family, pg *fdb.PortGroup, groupQuery bool, sourceQuery []netip.Addr) {
	if e.proxying(f) && e.table.RouterPort(pg.Port) {
		// A proxy query must not reach a router (see floodToHosts). The
		// leave reached the querier (it shares the port's segment, or we
		// relayed it): its own group-specific queries, which we follow
		// (groupQueried), decide; until then the timers stay.
		return
	}
	if !e.proxySource(f).IsValid() {
		e.event(Event{Kind: EventQueryFailed, Port: pg.Port, Key: pg.Key, Detail: "no link-local address to send MLD queries from"})
		return
	}
	lmqt := e.table.TimeOf(now.Add(e.cfg.LastMemberQueryTime()))
	count := uint8(e.cfg.LastMemberQueryCount)
	if e.sendGeneration(now, f) < 3 {
		// Only IGMPv3/MLDv2 queries name sources: without one to ask,
		// source timers must not be cut.
		sourceQuery = nil
	}
	if groupQuery && pg.Mode == fdb.Exclude {
		pg.GroupExpires = min(pg.GroupExpires, lmqt)
		pg.SetQueriesLeft(count)
	}
	for _, s := range sourceQuery {
		i, ok := pg.Source(s)
		if !ok || pg.Sources[i].Expires.IsZero() {
			continue
		}
		pg.Sources[i].Expires = min(pg.Sources[i].Expires, lmqt)
		if !slices.Contains(pg.SourceQueries(), s) {
			pg.SetSourceQueries(append(pg.SourceQueries(), s))
		}
		pg.SetSourceQueriesLeft(count)
	}
	if pg.QueriesLeft() > 0 || pg.SourceQueriesLeft() > 0 {
		pg.Leaving = true
		pg.SetNextQuery(e.table.TimeOf(now))
		e.sendQueries(now, f, pg)
	}
}

// proxying tells whether the queries we send for leaves are proxy queries
// (we are not the elected querier, or query from 0.0.0.0): they must not
// reach routers, whose elections they would disturb.
func (e *Engine) proxying(f *family) bool {
	return !f.ownActive || e.ownAddr(f).IsUnspecified()
}

// proxySource is the source of the queries we send for leaves. As the
// querier, our querier address. Otherwise for IGMP 0.0.0.0, which takes
// no part in elections (RFC 4541 §2.1.1 (4)). MLD has no such address:
// hosts drop queries not from a link-local source (RFC 3810 §5.1.14), and
// every router and snooper elects the lowest one it hears (§7.6.2), ours
// included. So while another querier is elected, we speak with its
// address: hosts answer as they would answer it, and whoever hears the
// query keeps the querier it has. Without one, our own link-local.
func (e *Engine) proxySource(f *family) netip.Addr {
	switch {
	case f.ownActive:
		return e.ownAddr(f)
	case !f.key.IPv6:
		return netip.IPv4Unspecified()
	case f.other.addr.IsValid():
		return f.other.addr
	}
	return e.cfg.QuerierAddr6
}

// sendQueries sends the queries due for a port group out of its port.
// Retransmissions go on after a report answers, with the S flag set so
// that other routers keep their timers (RFC 3376 §6.6.3.1, RFC 3810
// §7.6.3.1); group-and-source queries go in two halves, sources a report
// has renewed with S set, the others without (§6.6.3.2, §7.6.3.2).
func (e *Engine) sendQueries(now time.Time, f *family, pg *fdb.PortGroup) {
	if pg.NextQuery() > e.table.TimeOf(now) || pg.QueriesLeft() == 0 && pg.SourceQueriesLeft() == 0 {
		return
	}
	gen := e.sendGeneration(now, f)
	lmqi := e.cfg.LastMemberQueryInterval
	lmqt := e.table.TimeOf(now.Add(e.cfg.LastMemberQueryTime()))
	if n := pg.QueriesLeft(); n > 0 {
		pg.SetQueriesLeft(n - 1)
		e.transmitQuery(f, gen, pg, nil, lmqi, pg.Mode == fdb.Exclude && pg.GroupExpires > lmqt)
	}
	if n := pg.SourceQueriesLeft(); n > 0 {
		pg.SetSourceQueriesLeft(n - 1)
		// Sources gone or excluded since need no more asking.
		pg.SetSourceQueries(slices.DeleteFunc(pg.SourceQueries(), func(s netip.Addr) bool {
			i, ok := pg.Source(s)
			return !ok || pg.Sources[i].Expires.IsZero()
		}))
		if len(pg.SourceQueries()) == 0 || gen < 3 {
			pg.SetSourceQueriesLeft(0)
		} else {
			var renewed, waiting []netip.Addr
			for _, s := range pg.SourceQueries() {
				if i, _ := pg.Source(s); pg.Sources[i].Expires > lmqt {
					renewed = append(renewed, s)
				} else {
					waiting = append(waiting, s)
				}
			}
			if len(renewed) > 0 {
				e.transmitQuery(f, 3, pg, renewed, lmqi, true)
			}
			if len(waiting) > 0 {
				e.transmitQuery(f, 3, pg, waiting, lmqi, false)
			}
		}
		if pg.SourceQueriesLeft() == 0 {
			pg.SetSourceQueries(nil)
		}
	}
	pg.SetNextQuery(e.table.TimeOf(now.Add(lmqi)))
}

// sendGeneration is the version of the queries we send for leaves: the
// querier's, or ours; a group-specific query needs at least v2.
func (e *Engine) sendGeneration(now time.Time, f *family) int {
	gen := e.queryGeneration(now, f)
	if f.other.addr.IsValid() {
		gen = f.other.generation
	}
	return max(gen, 2)
}

func (e *Engine) transmitQuery(f *family, gen int, pg *fdb.PortGroup, sources []netip.Addr, maxResp time.Duration, suppress bool) {
	frame, err := e.encodeQuery(f, gen, e.proxySource(f), pg.Key.Group, sources, maxResp, suppress && gen == 3)
	if err != nil {
		e.event(Event{Kind: EventQueryFailed, Port: pg.Port, Key: pg.Key, Detail: err.Error()})
		return
	}
	e.stats.sentQueries++
	e.emit(Action{Kind: ActTransmit, Port: pg.Port, Frame: frame})
}

// expire applies the timers due at now (RFC 3376 §6.3, §6.5) and removes
// the port group if nothing is left, reporting whether it did.
func (e *Engine) expire(now time.Time, pg *fdb.PortGroup) bool {
	if pg.Static {
		return false
	}
	n := e.table.TimeOf(now)
	if pg.Mode == fdb.Include {
		// A source whose timer ran out stops forwarding and is deleted.
		pg.Sources = slices.DeleteFunc(pg.Sources, func(s fdb.Source) bool { return s.Expires <= n })
		if len(pg.Sources) == 0 {
			e.remove(pg)
			return true
		}
		return false
	}
	// EXCLUDE: an expired requested source becomes excluded.
	for i := range pg.Sources {
		if s := &pg.Sources[i]; !s.Expires.IsZero() && s.Expires <= n {
			s.Expires = 0
		}
	}
	if pg.GroupExpires > n {
		return false
	}
	// Group timer out: keep the requested sources in INCLUDE mode, or go.
	pg.Sources = slices.DeleteFunc(pg.Sources, func(s fdb.Source) bool { return s.Expires.IsZero() })
	if len(pg.Sources) == 0 {
		e.remove(pg)
		return true
	}
	pg.Mode, pg.GroupExpires = fdb.Include, 0
	return false
}

func (e *Engine) remove(pg *fdb.PortGroup) {
	why := EventExpire
	if pg.Leaving {
		why = EventLeave
	}
	key, port := pg.Key, pg.Port
	e.countSourceKeys(key, pg.InstalledSources, -1)
	owned := e.ownsEntry(pg)
	e.table.Remove(key, port)
	if owned {
		e.emit(Action{Kind: ActRemove, Port: port, Key: key})
	}
	e.event(Event{Kind: why, Port: port, Key: key})
}

// maxKernelSources is the most sources the kernel takes in one entry.
const maxKernelSources = 31

// mdbState is what the MDB entry of a port group must hold: its
// forwarding state, or any-source where the kernel cannot express it.
func (e *Engine) mdbState(now fdb.Time, pg *fdb.PortGroup) (fdb.FilterMode, []netip.Addr) {
	mode, srcs := pg.Forwarding(now)
	if !e.cfg.SourceLists || len(srcs) > maxKernelSources {
		return fdb.Exclude, nil
	}
	return mode, srcs
}

// sync writes the port group's MDB entry if what it must forward changed,
// or, on a report, if the kernel's timer needs refreshing.
func (e *Engine) sync(now time.Time, pg *fdb.PortGroup, refresh bool) {
	if !e.ownsEntry(pg) {
		return // the kernel's entries, learned from the same reports
	}
	n := e.table.TimeOf(now)
	mode, srcs := e.mdbState(n, pg)
	if !e.sourceKeysFit(pg, srcs) {
		if len(pg.InstalledSources) > 0 || pg.InstalledMode != fdb.Exclude {
			e.ignore(pg.Port, ignoreTableLimit)
		}
		mode, srcs = fdb.Exclude, nil
	}
	changed := mode != pg.InstalledMode || !slices.Equal(srcs, pg.InstalledSources)
	due := refresh && now.Sub(e.table.TimeAt(pg.Installed)) >= e.cfg.MDBRefreshInterval
	if !changed && !due && !pg.Installed.IsZero() {
		return
	}
	e.countSourceKeys(pg.Key, pg.InstalledSources, -1)
	e.countSourceKeys(pg.Key, srcs, +1)
	renew := !changed && !pg.Installed.IsZero()
	pg.Installed, pg.InstalledMode, pg.InstalledSources = n, mode, srcs
	e.emit(Action{Kind: ActInstall, Port: pg.Port, Key: pg.Key, Mode: mode, Sources: slices.Clone(srcs), Static: pg.Static, Refresh: renew})
}

// srcKey is an (S,G) key the kernel derives from a (*,G) entry's source
// list: it counts toward mcast_hash_max like a group does.
type srcKey struct {
	fdb.Key
	src netip.Addr
}

func (e *Engine) countSourceKeys(k fdb.Key, srcs []netip.Addr, delta int) {
	for _, s := range srcs {
		sk := srcKey{k, s}
		if e.srcKeys[sk] += delta; e.srcKeys[sk] <= 0 {
			delete(e.srcKeys, sk)
		}
	}
}

// sourceKeysFit tells whether installing srcs for pg keeps the kernel's
// keys (groups plus derived (S,G) entries) within the key limit: over
// mcast_hash_max the kernel turns snooping off for the whole bridge.
func (e *Engine) sourceKeysFit(pg *fdb.PortGroup, srcs []netip.Addr) bool {
	max := e.cfg.Limits.MaxKeys
	if max == 0 {
		return true
	}
	added := 0
	for _, s := range srcs {
		if e.srcKeys[srcKey{pg.Key, s}] == 0 {
			added++
		}
	}
	return e.table.Keys()+len(e.srcKeys)+added <= max
}

// schedule makes sure a timer fires at the port group's next deadline.
func (e *Engine) schedule(pg *fdb.PortGroup) {
	if pg.Static {
		return
	}
	var at fdb.Time // zero: none yet
	earliest := func(t fdb.Time) {
		if at == 0 {
			at = t
		} else if t != 0 {
			at = min(at, t)
		}
	}
	if pg.Mode == fdb.Exclude {
		earliest(pg.GroupExpires)
	}
	for _, s := range pg.Sources {
		earliest(s.Expires)
	}
	earliest(pg.NextQuery()) // zero while no queries are left
	earliest(e.ndRefreshAt(pg))
	if at == 0 {
		return
	}
	if pg.Wake == 0 || at < pg.Wake {
		pg.Wake = at
		e.timers.add(groupWake(at, pg))
	}
}

func (e *Engine) groupTimer(now time.Time, t timer) {
	pg := e.table.Get(t.key, t.port)
	if pg == nil || pg.Wake != t.at {
		return // stale: the port group went or was rescheduled earlier
	}
	pg.Wake = 0
	e.sendQueries(now, e.familyOf(pg.Key), pg)
	if e.expire(now, pg) {
		return
	}
	e.sync(now, pg, pg.ND) // an ND group's entry is renewed by its timer
	e.schedule(pg)
}
