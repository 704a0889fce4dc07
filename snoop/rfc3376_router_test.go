package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Router-side rules of RFC 3376 §6-§8 (RFC 3810 §7-§9 for MLD) that the
// transition table of rfc3376_test.go does not reach: what received
// queries do to our timers, the timers new sources get, and how long an
// older host keeps a group in compatibility mode.

// requested reports whether src has a running timer in the port group
// (INCLUDE: forwarded; EXCLUDE: in X), and excluded whether it is in Y.
func sourceState(e *Engine, port int, g, src netip.Addr) (requested, excluded bool) {
	pg := e.table.Get(fdb.Key{Group: g}, port)
	if pg == nil {
		return false, false
	}
	i, ok := pg.Source(src)
	if !ok {
		return false, false
	}
	return !pg.Sources[i].Expires.IsZero(), pg.Sources[i].Expires.IsZero()
}

// RFC 3376 §6.6.1 (RFC 3810 §7.6.1): a non-querier lowers its group and
// source timers to LMQC × Max Resp Time on a group(-and-source)-specific
// query only when the S flag is clear; with S set the querier says a
// report has just refreshed them, and they stay.
func TestReceivedQueriesLowerTimersOnlyWithoutTheSFlag(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	t1 := t0.Add(time.Second)
	for _, tc := range []struct {
		name     string
		join     *wire.Message // at t0, on port a
		sources  []netip.Addr  // queried sources (none: Q(G))
		sFlag    bool
		mrc      time.Duration
		lowered  time.Duration // the queried state ends this long after t1 (0: not lowered)
		survivor netip.Addr    // a source the query does not name, which must stay (invalid: none)
	}{
		{"Q(G) S clear lowers the group timer to LMQC × MRT", report(2, grp), nil, false, 10 * time.Second, 20 * time.Second, netip.Addr{}},
		{"Q(G) S set keeps the group timer", report(2, grp), nil, true, 10 * time.Second, 0, netip.Addr{}},
		{"Q(G,S) S clear lowers the named source timers", v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), addrs(1), false, 3 * time.Second, 6 * time.Second, addr(2)},
		{"Q(G,S) S set keeps the source timers", v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), addrs(1), true, 3 * time.Second, 0, addr(2)},
		{"Q(G,S) MRC below LMQI lowers to LMQC × LMQI", v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), addrs(1), false, 100 * time.Millisecond, 2 * time.Second, addr(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, hostA, tc.join, rawFrame)
			q := query(routeIP, grp, 3)
			q.Sources, q.SuppressRouterSide, q.MaxResp = tc.sources, tc.sFlag, tc.mrc
			e.HandleMessage(t1, uplink, q, rawFrame)
			gone := func(at time.Time) bool {
				run(e, at)
				if len(tc.sources) == 0 {
					return !isMember(e, hostA, grp)
				}
				req, _ := sourceState(e, hostA, grp, tc.sources[0])
				return !req
			}
			end := t0.Add(gmi) // unlowered, the state lasts the membership interval
			if tc.lowered > 0 {
				end = t1.Add(tc.lowered)
			}
			if gone(end.Add(-time.Millisecond)) {
				t.Fatalf("queried state gone before %v", end.Sub(t0))
			}
			if !gone(end) {
				t.Fatalf("queried state still there at %v", end.Sub(t0))
			}
			if tc.lowered > 0 && tc.survivor.IsValid() {
				if req, _ := sourceState(e, hostA, grp, tc.survivor); !req {
					t.Fatalf("source %v, not named by the query, lost its timer", tc.survivor)
				}
			}
		})
	}
}

// RFC 3376 §6.6.1: a query only ever lowers timers. One that would end a
// state later than its own timer leaves the timer as it was.
func TestReceivedQueryNeverRaisesATimer(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	for _, tc := range []struct {
		name    string
		join    *wire.Message
		sources []netip.Addr
	}{
		{"group timer", report(2, grp), nil},
		{"source timer", v3(rec(wire.ModeIsInclude, addr(1))), addrs(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, hostA, tc.join, rawFrame)
			q := query(routeIP, grp, 3)
			q.Sources = tc.sources
			e.HandleMessage(t0.Add(gmi-time.Second), uplink, q, rawFrame) // LMQC × 10 s: past the timer
			run(e, t0.Add(gmi))
			if isMember(e, hostA, grp) {
				t.Fatal("a query extended the membership past its own timer")
			}
		})
	}
}

// RFC 3376 §6.4.2: in EXCLUDE mode, sources new to the router that a
// TO_EX or BLOCK names get the group timer ((A-X-Y)=Group Timer), not
// the membership interval: they were forwarded only because the group
// is, and must not outlive it. TO_EX then sets the group timer to GMI;
// BLOCK leaves it. The records arrive a second before the group timer
// runs out.
func TestToExAndBlockInExcludeModeGiveNewSourcesTheGroupTimer(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	t1 := t0.Add(gmi - time.Second)
	gt := t0.Add(gmi) // the group timer when the record arrives
	for _, tc := range []struct {
		name string
		rec  wire.GroupRecord
		// At the old group timer: the group is gone (BLOCK), or it lives on
		// (TO_EX refreshed it) with the new source moved to the exclude list.
		groupEnds bool
	}{
		{"TO_EX", rec(wire.ChangeToExclude, addr(3), addr(5)), false},
		{"BLOCK", rec(wire.BlockOldSources, addr(5)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude, addr(3))), rawFrame)
			e.HandleMessage(t1, hostA, v3(tc.rec), rawFrame)
			run(e, gt.Add(-time.Millisecond))
			if req, _ := sourceState(e, hostA, grp, addr(5)); !req {
				t.Fatal("new source 5 not requested until the group timer")
			}
			acts := run(e, gt)
			if tc.groupEnds {
				if isMember(e, hostA, grp) {
					t.Fatalf("group outlived its timer: %+v (the new source kept it in INCLUDE mode)", e.Groups(gt))
				}
				return
			}
			if _, ex := sourceState(e, hostA, grp, addr(5)); !ex {
				t.Fatalf("source 5 not excluded when the group timer it was given ran out: %+v", e.Groups(gt))
			}
			if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Mode != fdb.Exclude || !slices.Equal(in[0].Sources, addrs(3, 5)) {
				t.Fatalf("MDB at the old group timer: %+v, want EXCLUDE {3,5}", in)
			}
		})
	}
}

// RFC 3376 §7.3.2 and §8.13 (RFC 3810 §8.3.2, §9.12): an older host's
// report keeps the group in its compatibility mode for the Older Host
// Present Interval, RV × QI + QRI (the membership interval), and not a
// moment longer. In IGMPv1 mode leaves are ignored; in IGMPv2 (and MLDv1)
// mode BLOCK records are.
func TestOlderHostPresentIntervalIsTheMembershipInterval(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	v1Report := report(1, grp)
	mldV1 := mldMsg(wire.KindReport, 1, host6, grp6)
	block := func() *wire.Message { return v3(rec(wire.BlockOldSources, addr(1))) }
	block6 := func() *wire.Message {
		return mldMsg(wire.KindReportV3, 2, host6, netip.Addr{}, wire.GroupRecord{Type: wire.BlockOldSources, Group: grp6, Sources: []netip.Addr{netip.MustParseAddr("2001:db8::1")}})
	}
	refresh6 := mldMsg(wire.KindReportV3, 2, host6, netip.Addr{}, wire.GroupRecord{Type: wire.ModeIsExclude, Group: grp6})
	for _, tc := range []struct {
		name    string
		older   *wire.Message // at t0
		refresh *wire.Message // a current-version report keeping the group
		probe   func() *wire.Message
		group   netip.Addr
		compat  string
	}{
		{"IGMPv1 host: leaves ignored", v1Report, v3(rec(wire.ModeIsExclude)), func() *wire.Message { return leave(grp) }, grp, "v1"},
		{"IGMPv2 host: BLOCK ignored", report(2, grp), v3(rec(wire.ModeIsExclude)), block, grp, "v2"},
		{"MLDv1 host: BLOCK ignored", mldV1, refresh6, block6, grp6, "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, hostA, tc.older, rawFrame)
			e.HandleMessage(t0.Add(gmi-time.Minute), hostA, tc.refresh, rawFrame)
			before := t0.Add(gmi - time.Millisecond)
			acts := e.HandleMessage(before, hostA, tc.probe(), rawFrame)
			if qs := queries(t, acts); len(qs) != 0 {
				t.Fatalf("acted on 1 ms before the older host present interval ran out: queries %v", qs)
			}
			if g := e.Groups(before); len(g) != 1 || g[0].Compat != tc.compat {
				t.Fatalf("groups %+v, want compat %s", g, tc.compat)
			}
			at := t0.Add(gmi)
			if qs := queries(t, e.HandleMessage(at, hostA, tc.probe(), rawFrame)); len(qs) != 1 {
				t.Fatalf("not acted on once the interval ran out: queries %v", qs)
			}
			if g := e.Groups(at); len(g) == 0 || g[0].Compat == tc.compat {
				t.Fatalf("groups %+v, still in compat %s", g, tc.compat)
			}
		})
	}
}

// RFC 3376 §4.1.1, §4.1.6, §4.1.7 and §8.3 (RFC 3810 §5.1.3, §5.1.8,
// §5.1.9): our general queries advertise the timers hosts and other
// routers must use: Max Resp = the Query Response Interval, QRV = the
// robustness variable, QQIC = the query interval.
func TestOwnGeneralQueryAdvertisesOurTimers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		r      int
		qi, ri time.Duration
	}{
		{"defaults", DefaultRobustness, DefaultQueryInterval, DefaultQueryResponseInterval},
		{"robustness 3, 60 s / 5 s", 3, 60 * time.Second, 5 * time.Second},
		{"robustness 7, 20 s / 2 s", 7, 20 * time.Second, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, func(c *Config) {
				c.Querier, c.QuerierAddr4 = true, netip.MustParseAddr("10.77.0.5")
				c.Robustness, c.QueryInterval, c.QueryResponseInterval = tc.r, tc.qi, tc.ri
				c.LastMemberQueryCount = tc.r
			})
			acts := e.Start(t0)
			for _, v6 := range []bool{false, true} {
				qs := generalQueries(t, acts, v6)
				if len(qs) != 1 {
					t.Fatalf("v6 %v: %d general queries, want 1", v6, len(qs))
				}
				q := qs[0]
				if q.MaxResp != tc.ri || int(q.QRV) != tc.r || q.QueryInterval != tc.qi || q.SuppressRouterSide {
					t.Fatalf("v6 %v: query MRC %v QRV %d QQIC %v S %v, want %v, %d, %v, S clear", v6, q.MaxResp, q.QRV, q.QueryInterval, q.SuppressRouterSide, tc.ri, tc.r, tc.qi)
				}
			}
		})
	}
}

// RFC 4541 §2.1.1 (1) and §3: reports and leaves go to the router ports
// (the querier must hear a leave to query the group), never to other host
// ports. A leave for a group the port has no state for goes too: the
// querier's state, not ours, decides.
func TestLeavesAreRelayedToRouterPorts(t *testing.T) {
	mldQuery := mldMsg(wire.KindQuery, 2, router6, netip.IPv6Unspecified())
	for _, tc := range []struct {
		name   string
		join   *wire.Message // nil: no membership
		leave  *wire.Message
		router *wire.Message
	}{
		{"IGMPv2 leave", report(2, grp), leave(grp), query(routeIP, netip.IPv4Unspecified(), 2)},
		{"IGMPv3 TO_IN {}", v3(rec(wire.ModeIsExclude)), v3(rec(wire.ChangeToInclude)), query(routeIP, netip.IPv4Unspecified(), 3)},
		{"IGMPv3 BLOCK", v3(rec(wire.ModeIsInclude, addr(1))), v3(rec(wire.BlockOldSources, addr(1))), query(routeIP, netip.IPv4Unspecified(), 3)},
		{"MLDv1 done", mldMsg(wire.KindReport, 1, host6, grp6), mldMsg(wire.KindLeave, 1, host6, grp6), mldQuery},
		{"IGMPv2 leave without membership", nil, leave(grp), query(routeIP, netip.IPv4Unspecified(), 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, uplink, tc.router, rawFrame)
			if tc.join != nil {
				e.HandleMessage(t0, hostA, tc.join, rawFrame)
			}
			acts := e.HandleMessage(t0.Add(time.Second), hostA, tc.leave, rawFrame)
			var relayed []int
			for _, a := range kinds(acts, ActTransmit) {
				if string(a.Frame) == string(rawFrame) {
					relayed = append(relayed, a.Port)
				}
			}
			if !slices.Equal(relayed, []int{uplink}) {
				t.Fatalf("leave relayed to %v, want the router port %d only", relayed, uplink)
			}
			want := uint64(1) // the leave
			if tc.join != nil {
				want++ // and the report before it
			}
			if n := e.Stats().Relayed; n != want {
				t.Fatalf("relayed counter %d, want %d", n, want)
			}
		})
	}
}
