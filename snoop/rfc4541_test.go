package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Tests named after RFC 4541's rules, numbered in the order the RFC gives
// them: Cn the control-packet rules of §2.1.1, Dn the data-forwarding
// rules of §2.1.2, Mn the MLD points of §3.

func TestRFC4541_C1_ReportsOnlyToRouterPortsOfTheirProtocol(t *testing.T) {
	e := newEngine(t)
	e.PortUp(t0, 8, "up6")
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	e.HandleMessage(t0, 8, mldMsg(wire.KindQuery, 2, router6, netip.IPv6Unspecified()), rawFrame)
	tx := kinds(e.HandleMessage(t0, hostA, report(2, grp), rawFrame), ActTransmit)
	if len(tx) != 1 || tx[0].Port != uplink || string(tx[0].Frame) != string(rawFrame) {
		t.Fatalf("IGMP report relayed %+v, want once to the IGMP router port", tx)
	}
	tx = kinds(e.HandleMessage(t0, hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame), ActTransmit)
	if len(tx) != 1 || tx[0].Port != 8 {
		t.Fatalf("MLD report relayed %+v, want once to the MLD router port", tx)
	}
	if tx := kinds(e.HandleMessage(t0, uplink, report(2, grp), rawFrame), ActTransmit); len(tx) != 0 {
		t.Fatalf("a report from the router port was sent %+v, want nowhere (never back out)", tx)
	}
}

func TestRFC4541_C2_RouterPortsFromQueriesNotFromZero(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostB, query(netip.IPv4Unspecified(), netip.IPv4Unspecified(), 2), rawFrame)
	if len(e.Routers(t0)) != 0 {
		t.Fatal("query from 0.0.0.0 made a router port")
	}
	acts := e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	if !slices.Contains(events(acts), EventRouterAdd) {
		t.Fatalf("events = %v, want router_add", events(acts))
	}
	oqpi := DefaultConfig().OtherQuerierPresentInterval()
	if oqpi != 255*time.Second {
		t.Fatalf("OQPI = %v, want 255s (RFC 3376 §8.5)", oqpi)
	}
	run(e, t0.Add(oqpi-time.Millisecond))
	if r := e.Routers(t0); len(r) != 1 || r[0].Via != "query" || r[0].Protocol != "igmp" {
		t.Fatalf("routers = %+v", r)
	}
	acts = run(e, t0.Add(oqpi))
	if len(e.Routers(t0)) != 0 || !slices.Contains(events(acts), EventRouterExpire) {
		t.Fatal("router port did not age out at the other querier present interval")
	}
}

func TestRFC4541_RouterDiscoveryPIMAndMRD(t *testing.T) {
	e := newEngine(t)
	pim := &wire.Message{Kind: wire.KindPIMHello, Proto: wire.IGMP, Src: routeIP}
	e.HandleMessage(t0, uplink, pim, rawFrame)
	mrd := &wire.Message{Kind: wire.KindMRDAdvert, Proto: wire.MLD, Src: router6, AdvertInterval: 20 * time.Second}
	e.HandleMessage(t0, hostB, mrd, rawFrame)
	rs := e.Routers(t0)
	if len(rs) != 2 || rs[0].Via != "mrd" || rs[0].Protocol != "mld" || rs[0].ExpiresMs != 60000 || rs[1].Via != "pim" {
		t.Fatalf("routers = %+v, want mrd (3 × 20 s) on b and pim on up", rs)
	}
	term := &wire.Message{Kind: wire.KindMRDTermination, Proto: wire.MLD, Src: router6}
	e.HandleMessage(t0.Add(time.Second), hostB, term, rawFrame)
	if rs := e.Routers(t0); len(rs) != 1 {
		t.Fatalf("MRD termination left %+v", rs)
	}
}

func TestRFC4541_StaticRouterPort(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Ports = map[string]PortPolicy{"st": {Router: true}} })
	e.PortUp(t0, 7, "st")
	run(e, t0.Add(24*time.Hour))
	rs := e.Routers(t0)
	if len(rs) != 2 || rs[0].Via != "static" || rs[0].ExpiresMs != 0 {
		t.Fatalf("routers = %+v, want a static IGMP and MLD router port", rs)
	}
	if tx := kinds(e.HandleMessage(t0, hostA, report(2, grp), rawFrame), ActTransmit); len(tx) != 1 || tx[0].Port != 7 {
		t.Fatalf("relayed %+v, want the static router port", tx)
	}
	// A query there does not make it expire.
	e.HandleMessage(t0, 7, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	run(e, t0.Add(48*time.Hour))
	if len(e.Routers(t0)) != 2 {
		t.Fatal("static router port aged out")
	}
}

func TestRFC4541_D2_M2_M3_NeverLearned(t *testing.T) {
	tests := []struct {
		name string
		msg  *wire.Message
	}{
		{"D2 224.0.0.251 report", report(2, netip.MustParseAddr("224.0.0.251"))},
		{"D2 224.0.0.1 v3 TO_EX", v3(wire.GroupRecord{Type: wire.ChangeToExclude, Group: netip.MustParseAddr("224.0.0.1")})},
		{"unicast group (the kernel learns it, we do not)", report(2, netip.MustParseAddr("10.1.1.1"))},
		{"M2 ff02::1", mldMsg(wire.KindReport, 1, host6, netip.MustParseAddr("ff02::1"))},
		{"M3 ff01::5 interface-local", mldMsg(wire.KindReport, 1, host6, netip.MustParseAddr("ff01::5"))},
		{"M3 ff00::5 reserved", mldMsg(wire.KindReport, 1, host6, netip.MustParseAddr("ff00::5"))},
		{"BLOCK is not a join", v3(rec(wire.BlockOldSources, hostIP))},
		{"ALLOW{} is not a join", v3(rec(wire.AllowNewSources))},
		{"IS_IN{} is not a join", v3(rec(wire.ModeIsInclude))},
		{"query is not a join", query(routeIP, grp, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t)
			acts := e.HandleMessage(t0, hostA, tt.msg, rawFrame)
			if e.table.Len() != 0 || len(kinds(acts, ActInstall)) != 0 {
				t.Fatalf("learned: %+v", e.Groups(t0))
			}
		})
	}
}

func TestRFC4541_M4_MLDReportFromUnspecifiedAccepted(t *testing.T) {
	e := newEngine(t)
	sn := netip.MustParseAddr("ff02::1:ff00:11") // solicited-node: must be learned, or ND breaks
	acts := e.HandleMessage(t0, hostA, mldMsg(wire.KindReportV3, 2, netip.IPv6Unspecified(), netip.Addr{},
		wire.GroupRecord{Type: wire.ChangeToExclude, Group: sn}), rawFrame)
	if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Key.Group != sn {
		t.Fatalf("MLDv2 report from :: not learned: %+v", acts)
	}
}

// TestRFC4541_D7_SourceFiltering: S→G reaches a port only if a member there
// wants S. The engine expresses it as the MDB entry's mode and sources.
func TestRFC4541_D7_SourceFiltering(t *testing.T) {
	e := newEngine(t)
	acts := slices.Clone(e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame))
	acts = append(acts, e.HandleMessage(t0, hostB, v3(rec(wire.ModeIsExclude, addrs(2)...)), rawFrame)...)
	in := kinds(acts, ActInstall)
	if len(in) != 2 || in[0].Port != hostA || in[0].Mode != fdb.Include || !slices.Equal(in[0].Sources, addrs(1, 2)) ||
		in[1].Port != hostB || in[1].Mode != fdb.Exclude || !slices.Equal(in[1].Sources, addrs(2)) {
		t.Fatalf("installs = %+v, want a: INCLUDE {1,2}, b: EXCLUDE {2}", in)
	}
	rows := e.Groups(t0)
	if len(rows) != 3 || rows[0].Source != "10.0.0.1" || rows[0].Mode != "include" || rows[2].Source != "" || !slices.Equal(rows[2].Excluded, []string{"10.0.0.2"}) {
		t.Fatalf("rows = %+v", rows)
	}
}

func TestSourceListsFallBackToAnySource(t *testing.T) {
	t.Run("kernel without source lists", func(t *testing.T) {
		e := newEngine(t, func(c *Config) { c.SourceLists = false })
		in := kinds(e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1)...)), rawFrame), ActInstall)
		if len(in) != 1 || in[0].Mode != fdb.Exclude || len(in[0].Sources) != 0 {
			t.Fatalf("install = %+v, want any-source (a superset)", in)
		}
	})
	t.Run("more sources than the kernel takes", func(t *testing.T) {
		e := newEngine(t)
		var many []netip.Addr
		for i := 1; i <= 32; i++ {
			many = append(many, addr(i))
		}
		in := kinds(e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, many...)), rawFrame), ActInstall)
		if len(in) != 1 || in[0].Mode != fdb.Exclude || len(in[0].Sources) != 0 {
			t.Fatalf("install = %+v, want any-source", in)
		}
	})
	t.Run("source limit", func(t *testing.T) {
		e := newEngine(t, func(c *Config) { c.MaxSources = 2 })
		acts := e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2, 3)...)), rawFrame)
		if pg := e.table.Get(grpKey, hostA); pg.Mode != fdb.Exclude || len(pg.Sources) != 0 || !slices.Contains(events(acts), EventLimit) {
			t.Fatalf("over the source limit: %+v, events %v; want EXCLUDE {} and a limit event", pg, events(acts))
		}
		if e.Stats().Ignored["source_limit"] == 0 {
			t.Fatal("source limit not counted")
		}
	})
}

// TestExplicitHostTracking: fast-leave on a shared port only cuts what no
// remaining host wants.
func TestExplicitHostTracking(t *testing.T) {
	const fast = 5
	t.Run("any-source leave", func(t *testing.T) {
		e := newEngine(t)
		e.PortUp(t0, fast, "fast")
		e.HandleMessage(t0, fast, v3From(hostIP, rec(wire.ModeIsExclude)), rawFrame)
		e.HandleMessage(t0, fast, v3From(hostIP2, rec(wire.ModeIsExclude)), rawFrame)
		if rows := e.Groups(t0); len(rows[0].Reporters) != 2 {
			t.Fatalf("reporters = %v", rows[0].Reporters)
		}
		acts := e.HandleMessage(t0.Add(time.Second), fast, v3From(hostIP, rec(wire.ChangeToInclude)), rawFrame)
		if !isMember(e, fast, grp) || len(queries(t, acts)) != 0 {
			t.Fatal("one host's leave cut the other host off (or queried on a fast-leave port)")
		}
		if rows := e.Groups(t0.Add(time.Second)); rows[0].Leaving {
			t.Fatal("shown as leaving while another tracked host still wants the group")
		}
		acts = e.HandleMessage(t0.Add(2*time.Second), fast, v3From(hostIP2, rec(wire.ChangeToInclude)), rawFrame)
		if isMember(e, fast, grp) || len(kinds(acts, ActRemove)) != 1 {
			t.Fatal("the last host's leave did not take effect at once")
		}
		if ev := events(acts); !slices.Contains(ev, EventLeave) {
			t.Fatalf("events %v: the last host's leave must end in a leave, not an expiry", ev)
		}
	})
	t.Run("source-specific block", func(t *testing.T) {
		e := newEngine(t)
		e.PortUp(t0, fast, "fast")
		e.HandleMessage(t0, fast, v3From(hostIP, rec(wire.ModeIsInclude, addrs(1)...)), rawFrame)
		e.HandleMessage(t0, fast, v3From(hostIP2, rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Second), fast, v3From(hostIP2, rec(wire.BlockOldSources, addrs(1, 2)...)), rawFrame)
		in := kinds(acts, ActInstall)
		if len(in) != 1 || !slices.Equal(in[0].Sources, addrs(1)) {
			t.Fatalf("after h2 blocked {1,2}: installs %+v, want INCLUDE {1} (h1 still wants 1)", in)
		}
	})
	t.Run("untracked host makes fast-leave query", func(t *testing.T) {
		e := newEngine(t)
		e.PortUp(t0, fast, "fast")
		e.HandleMessage(t0, fast, v3From(netip.IPv4Unspecified(), rec(wire.ModeIsExclude)), rawFrame)
		e.HandleMessage(t0, fast, v3From(hostIP, rec(wire.ModeIsExclude)), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Second), fast, v3From(hostIP, rec(wire.ChangeToInclude)), rawFrame)
		if !isMember(e, fast, grp) || len(queries(t, acts)) != 1 {
			t.Fatal("with an untracked listener behind it, a fast-leave port must query instead")
		}
	})
	t.Run("v2 leave on a fast-leave port", func(t *testing.T) {
		e := newEngine(t)
		e.PortUp(t0, fast, "fast")
		e.HandleMessage(t0, fast, report(2, grp), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Second), fast, leave(grp), rawFrame)
		if isMember(e, fast, grp) || len(kinds(acts, ActRemove)) != 1 || len(kinds(acts, ActTransmit)) != 0 {
			t.Fatalf("fast-leave: member=%v actions=%+v", isMember(e, fast, grp), acts)
		}
	})
}

func TestMLDLeaveQueriesFromLinkLocal(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
	qs := queries(t, e.HandleMessage(t0.Add(time.Second), hostA, mldMsg(wire.KindLeave, 1, host6, grp6), rawFrame))
	if len(qs) != 1 || qs[0].Src != self6 || qs[0].Group != grp6 || qs[0].Proto != wire.MLD {
		t.Fatalf("MLD done: queries %v, want one from %v for %v", qs, self6, grp6)
	}
	e2 := newEngine(t, func(c *Config) { c.QuerierAddr6 = netip.Addr{} })
	e2.HandleMessage(t0, hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
	acts := e2.HandleMessage(t0.Add(time.Second), hostA, mldMsg(wire.KindLeave, 1, host6, grp6), rawFrame)
	if !slices.Contains(events(acts), EventQueryFailed) {
		t.Fatal("no query_failed event without a link-local address")
	}
	run(e2, t0.Add(10*time.Second))
	if !isMember(e2, hostA, grp6) {
		t.Fatal("without a query to answer, the membership must age normally, not be cut")
	}
}

func TestVLANKeysAreIndependent(t *testing.T) {
	e := newEngine(t, vlanFiltering)
	q := query(routeIP, netip.IPv4Unspecified(), 2)
	q.VLAN = 10
	e.HandleMessage(t0, uplink, q, rawFrame)
	r10 := report(2, grp)
	r10.VLAN = 10
	acts := e.HandleMessage(t0, hostA, r10, rawFrame)
	if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Key.VLAN != 10 {
		t.Fatalf("install = %+v, want VLAN 10", in)
	}
	if tx := kinds(acts, ActTransmit); len(tx) != 1 || tx[0].Port != uplink {
		t.Fatalf("VLAN 10 report relayed to %+v, want the VLAN 10 router port", tx)
	}
	if tx := kinds(e.HandleMessage(t0, hostA, report(2, grp), rawFrame), ActTransmit); len(tx) != 0 {
		t.Fatalf("untagged report relayed to %+v; the router port is VLAN 10's only", tx)
	}
	if e.table.Len() != 2 {
		t.Fatalf("%d memberships, want one per VLAN", e.table.Len())
	}
	l := leave(grp)
	l.VLAN = 10
	e.HandleMessage(t0.Add(time.Second), hostA, l, rawFrame)
	run(e, t0.Add(5*time.Second))
	if e.table.Get(fdb.Key{VLAN: 10, Group: grp}, hostA) != nil || e.table.Get(grpKey, hostA) == nil {
		t.Fatal("a leave in VLAN 10 touched VLAN 0 (or did not prune VLAN 10)")
	}
}

// TestSourceEntriesCountTowardTheKeyLimit: each listed source becomes an
// (S,G) key in the kernel, and over mcast_hash_max keys the kernel turns
// snooping off for the whole bridge.
func TestSourceEntriesCountTowardTheKeyLimit(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Limits.MaxKeys = 3 })
	in := kinds(e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame), ActInstall)
	if len(in) != 1 || len(in[0].Sources) != 2 {
		t.Fatalf("1 group + 2 sources fit 3 keys: %+v", in)
	}
	in = kinds(e.HandleMessage(t0, hostA, v3(rec(wire.AllowNewSources, addrs(3)...)), rawFrame), ActInstall)
	if len(in) != 1 || in[0].Mode != fdb.Exclude || len(in[0].Sources) != 0 {
		t.Fatalf("a fourth key: %+v, want any-source instead", in)
	}
	// The same sources on another port add no keys.
	in = kinds(e.HandleMessage(t0, hostB, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame), ActInstall)
	if len(in) != 1 || !slices.Equal(in[0].Sources, addrs(1, 2)) {
		t.Fatalf("install on b: %+v, want INCLUDE {1,2} (a's fallback freed those keys)", in)
	}
}

func TestRFC4541_C3_ReportFromZeroAccepted(t *testing.T) {
	e := newEngine(t)
	r := report(2, grp)
	r.Src = netip.IPv4Unspecified()
	if in := kinds(e.HandleMessage(t0, hostA, r, rawFrame), ActInstall); len(in) != 1 {
		t.Fatal("a report from 0.0.0.0 was not learned (RFC 3376 §4.2.13)")
	}
	if rows := e.Groups(t0); len(rows[0].Reporters) != 0 {
		t.Fatalf("0.0.0.0 tracked as a host: %v", rows[0].Reporters)
	}
}

func TestRFC4541_C4_UnknownTypesNeitherLearnedNorRelayed(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	other := &wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: 0x1f, Src: hostIP, Group: grp}
	// The ingress guard lets them through and the bridge floods them; the
	// engine must not send copies of its own.
	if acts := e.HandleMessage(t0, hostA, other, rawFrame); len(acts) != 0 || e.table.Len() != 0 {
		t.Fatalf("mtrace frame produced %+v", acts)
	}
	if e.Stats().Received["igmp_other"] != 1 {
		t.Fatalf("received = %v", e.Stats().Received)
	}
}

func TestRFC4541_C5_ProxyQueriesNeverWin(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostB, query(netip.IPv4Unspecified(), netip.IPv4Unspecified(), 3), rawFrame)
	if e.QuerierPresent() {
		t.Fatal("a query from 0.0.0.0 counted as a querier")
	}
	e.HandleMessage(t0, uplink, query(netip.MustParseAddr("10.77.0.200"), netip.IPv4Unspecified(), 3), rawFrame)
	e.HandleMessage(t0, hostB, query(netip.IPv4Unspecified(), netip.IPv4Unspecified(), 3), rawFrame)
	if q := e.Queriers(t0)[0]; q.Address != "10.77.0.200" {
		t.Fatalf("querier = %+v, want 10.77.0.200", q)
	}
}

func TestRFC4541_C6_RefusalsCountedByName(t *testing.T) {
	e := newEngine(t)
	for _, r := range []wire.Reason{wire.ReasonBadIGMPChecksum, wire.ReasonBadIPChecksum, wire.ReasonBadIGMPChecksum} {
		e.Refused(hostA, r)
	}
	s := e.Stats()
	if s.Refused["bad_igmp_checksum"] != 2 || s.Refused["bad_ip_checksum"] != 1 || s.Memberships != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestRouterPortsPushedToKernel: the kernel ignores queriers with higher
// addresses than the one it counts, so the engine tells it its router
// ports, renewing them, and withdraws them when they age out.
func TestRouterPortsPushedToKernel(t *testing.T) {
	routerActs := func(as []Action) []Action { return kinds(as, ActRouterPort) }
	e := newEngine(t, func(c *Config) { c.Ports = map[string]PortPolicy{"st": {Router: true}} })
	e.PortUp(t0, 7, "st")
	q := query(routeIP, netip.IPv4Unspecified(), 2)
	if ra := routerActs(e.HandleMessage(t0, uplink, q, rawFrame)); len(ra) != 1 || ra[0].Port != uplink || !ra[0].Router {
		t.Fatalf("first query: %+v, want the uplink pushed as a router port", ra)
	}
	if ra := routerActs(e.HandleMessage(t0.Add(time.Second), uplink, q, rawFrame)); len(ra) != 0 {
		t.Fatalf("query 1 s later pushed %+v, want nothing within the refresh interval", ra)
	}
	if ra := routerActs(e.HandleMessage(t0.Add(20*time.Second), uplink, q, rawFrame)); len(ra) != 1 {
		t.Fatal("no renewal after the refresh interval")
	}
	// An MLD router on the same port keeps it a router port when IGMP's ages out.
	e.HandleMessage(t0.Add(200*time.Second), uplink, mldMsg(wire.KindQuery, 2, router6, netip.IPv6Unspecified()), rawFrame)
	withdrawals := func(as []Action) []Action {
		return slices.DeleteFunc(routerActs(as), func(a Action) bool { return a.Router })
	}
	if ra := withdrawals(run(e, t0.Add(20*time.Second+DefaultConfig().OtherQuerierPresentInterval()))); len(ra) != 0 {
		t.Fatalf("withdrawn while MLD still has a router there: %+v", ra)
	}
	ra := withdrawals(run(e, t0.Add(200*time.Second+DefaultConfig().OtherQuerierPresentInterval())))
	if len(ra) != 1 || ra[0].Port != uplink {
		t.Fatalf("after both aged out: %+v, want the uplink withdrawn", ra)
	}
	if ra := routerActs(e.HandleMessage(t0, 7, q, rawFrame)); len(ra) != 0 {
		t.Fatalf("a query on a static router port pushed %+v: it is permanent already", ra)
	}
	if ra := routerActs(e.Tick(t0.Add(48 * time.Hour))); len(ra) != 0 {
		t.Fatalf("static router port touched: %+v", ra)
	}
}
