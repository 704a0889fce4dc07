package snoop

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// transmitted returns the ports a frame went out of, sorted.
func transmitted(as []Action) []int {
	var out []int
	for _, a := range kinds(as, ActTransmit) {
		out = append(out, a.Port)
	}
	slices.Sort(out)
	return out
}

// RFC 4541 §2.1.1 (4) and §3 (C5): a query from 0.0.0.0 takes no part in
// elections, but RFC 3376 §6.6.2 routers (FRR, the Linux bridge querier)
// compare addresses and 0.0.0.0 is the lowest: passed to a router port it
// silences the LAN's querier. Every kind of proxy query reaches the host
// ports only.
func TestProxyQueriesNeverReachRouterPorts(t *testing.T) {
	general := query(netip.IPv4Unspecified(), netip.IPv4Unspecified(), 3)
	specific := query(netip.IPv4Unspecified(), grp, 3)
	v2 := query(netip.IPv4Unspecified(), netip.IPv4Unspecified(), 2)
	pimHello := &wire.Message{Kind: wire.KindPIMHello, Proto: wire.IGMP, Src: netip.MustParseAddr("10.77.0.7")}
	for _, tc := range []struct {
		name   string
		router func(e *Engine) // makes uplink a router port
	}{
		{"querier heard", func(e *Engine) { e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame) }},
		{"PIM router", func(e *Engine) { e.HandleMessage(t0, uplink, pimHello, rawFrame) }},
	} {
		for _, q := range []*wire.Message{general, specific, v2} {
			t.Run(tc.name+"/"+q.String(), func(t *testing.T) {
				e := newEngine(t)
				tc.router(e)
				acts := e.HandleMessage(t0.Add(time.Second), hostA, q, rawFrame)
				if got := transmitted(acts); !slices.Equal(got, []int{hostB}) {
					t.Fatalf("forged query sent out of %v, want the other host port %d only", got, hostB)
				}
			})
		}
	}
}

// The daemon's own proxy queries after a leave are not sent out of a
// router port either: that querier heard the leave, and its own
// group-specific query, which the engine follows, decides.
func TestLeaveOnARouterPortSendsNoProxyQuery(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	e.HandleMessage(t0, uplink, report(2, grp), rawFrame)
	acts := e.HandleMessage(t0.Add(time.Second), uplink, leave(grp), rawFrame)
	acts = append(acts, run(e, t0.Add(5*time.Second))...)
	if qs := queries(t, acts); len(qs) != 0 {
		t.Fatalf("proxy queries sent towards the querier: %v", qs)
	}
	if !isMember(e, uplink, grp) {
		t.Fatal("pruned without any query asking the port")
	}
	// The querier's own group-specific query lowers the timer (§6.6.1).
	gsq := query(routeIP, grp, 3)
	gsq.MaxResp = time.Second
	e.HandleMessage(t0.Add(5*time.Second), uplink, gsq, rawFrame)
	run(e, t0.Add(8*time.Second))
	if isMember(e, uplink, grp) {
		t.Fatal("the querier's group-specific query went unanswered, yet the membership stayed")
	}
}

// As the querier with a real address, our group-specific queries are the
// querier's: they may go out of a port with a PIM router behind it.
func TestQuerierSendsGroupQueriesEverywhere(t *testing.T) {
	e := querierEngine(t, "10.77.0.5")
	e.Start(t0)
	e.HandleMessage(t0, uplink, &wire.Message{Kind: wire.KindPIMHello, Proto: wire.IGMP, Src: netip.MustParseAddr("10.77.0.7")}, rawFrame)
	e.HandleMessage(t0, uplink, report(2, grp), rawFrame)
	acts := e.HandleMessage(t0.Add(time.Second), uplink, leave(grp), rawFrame)
	qs := queries(t, acts)
	if len(qs) != 1 || qs[0].Src != netip.MustParseAddr("10.77.0.5") || qs[0].Group != grp {
		t.Fatalf("queries = %v, want our group-specific query", qs)
	}
}

// RFC 3810 §5.1.14 makes hosts drop MLD queries that are not from a
// link-local address, and §7.6.2 makes every router (and snooper) elect
// the lowest one. While another querier is elected, our last-listener
// queries carry its address, so nobody who hears one changes querier.
func TestMLDProxyQueriesUseTheElectedQuerierAddress(t *testing.T) {
	e := newEngine(t) // ours is fe80::99, the querier's fe80::1
	mq := mldMsg(wire.KindQuery, 2, router6, netip.IPv6Unspecified())
	mq.MaxResp = 10 * time.Second
	e.HandleMessage(t0, uplink, mq, rawFrame)
	e.HandleMessage(t0, hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
	acts := e.HandleMessage(t0.Add(time.Second), hostA, mldMsg(wire.KindLeave, 1, host6, grp6), rawFrame)
	qs := queries(t, acts)
	if len(qs) != 1 || qs[0].Src != router6 || qs[0].Group != grp6 {
		t.Fatalf("MLD last-listener queries = %v, want one from the elected querier %v", qs, router6)
	}
	for _, a := range kinds(acts, ActTransmit) {
		if string(a.Frame) != string(rawFrame) && a.Port != hostA { // the Done itself is relayed to the router
			t.Fatalf("query sent out of port %d: want the leaving port only, never the querier's", a.Port)
		}
	}
	// Without another querier, our own link-local is all hosts accept.
	e = newEngine(t)
	e.HandleMessage(t0, hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
	qs = queries(t, e.HandleMessage(t0.Add(time.Second), hostA, mldMsg(wire.KindLeave, 1, host6, grp6), rawFrame))
	if len(qs) != 1 || qs[0].Src != self6 {
		t.Fatalf("MLD last-listener queries without a querier = %v, want one from our %v", qs, self6)
	}
}

// RFC 3376 §4.1.6-4.1.7, §8 and RFC 3810 §9: non-queriers use the
// querier's QRV, QQI and MRC as they are; a field the query does not
// carry (QRV 0, QQIC 0, an IGMPv2 query) means the configured value.
func TestQuerierTimersAdoptedAsTheyAre(t *testing.T) {
	q := func(qrv uint8, qi, mrc time.Duration, version int) *wire.Message {
		m := query(routeIP, netip.IPv4Unspecified(), version)
		m.QRV, m.QueryInterval, m.MaxResp = qrv, qi, mrc
		return m
	}
	type timers struct {
		r      int
		qi, ri time.Duration
	}
	for _, tc := range []struct {
		name    string
		queries []*wire.Message
		want    timers
	}{
		// FRR querying every 5 s: a silent host must go after 2×5+1 s.
		{"short query interval", []*wire.Message{q(2, 5*time.Second, time.Second, 3)}, timers{2, 5 * time.Second, time.Second}},
		{"long query interval", []*wire.Message{q(3, 1000*time.Second, 60*time.Second, 3)}, timers{3, 1000 * time.Second, 60 * time.Second}},
		{"response time above the query interval", []*wire.Message{q(2, 5*time.Second, 10*time.Second, 3)}, timers{2, 5 * time.Second, 10 * time.Second}},
		{"QRV 0 and QQIC 0 after other values", []*wire.Message{q(5, 5*time.Second, time.Second, 3), q(0, 0, 2*time.Second, 3)},
			timers{DefaultRobustness, DefaultQueryInterval, 2 * time.Second}},
		{"IGMPv2 querier after an IGMPv3 one", []*wire.Message{q(5, 5*time.Second, time.Second, 3), q(0, 0, 3*time.Second, 2)},
			timers{DefaultRobustness, DefaultQueryInterval, 3 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			for i, m := range tc.queries {
				e.HandleMessage(t0.Add(time.Duration(i)*time.Second), uplink, m, rawFrame)
			}
			v := e.Queriers(t0)[0]
			got := timers{v.Robustness, time.Duration(v.QueryIntervalMs) * time.Millisecond, time.Duration(v.QueryResponseMs) * time.Millisecond}
			if got != tc.want {
				t.Fatalf("timers %+v, want %+v", got, tc.want)
			}
			if gmi := time.Duration(tc.want.r)*tc.want.qi + tc.want.ri; v.MembershipIntervalMs != gmi.Milliseconds() {
				t.Fatalf("membership interval %d ms, want %v", v.MembershipIntervalMs, gmi)
			}
		})
	}
}

// A host that goes silent under a querier with a 5 s query interval is
// pruned within that querier's membership interval (2 × 5 s + 1 s).
func TestSilentHostPrunedByTheQueriersMembershipInterval(t *testing.T) {
	e := newEngine(t)
	m := query(routeIP, netip.IPv4Unspecified(), 3)
	m.QRV, m.QueryInterval, m.MaxResp = 2, 5*time.Second, time.Second
	e.HandleMessage(t0, uplink, m, rawFrame)
	e.HandleMessage(t0, hostA, report(3, grp), rawFrame)
	run(e, t0.Add(11*time.Second-time.Millisecond))
	if !isMember(e, hostA, grp) {
		t.Fatal("pruned before the membership interval")
	}
	run(e, t0.Add(11*time.Second))
	if isMember(e, hostA, grp) {
		t.Fatal("kept past the querier's membership interval of 11 s")
	}
}

// A query interval or response time the configured query version cannot
// carry is refused, naming the key, the flag and the limit: otherwise the
// encoder refuses the query and none is ever sent.
func TestConfigRefusesTimersTheQueryCannotCarry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   []string // in the error; nil: valid
	}{
		{"IGMPv2 response 30 s", func(c *Config) { c.IGMPVersion, c.QueryResponseInterval = 2, 30*time.Second },
			[]string{"query_response_interval 30s", "--query-response-interval", "IGMPv2", "25.5s"}},
		{"IGMPv2 response 25.5 s", func(c *Config) { c.IGMPVersion, c.QueryResponseInterval = 2, 25500*time.Millisecond }, nil},
		{"IGMPv2 last member 30 s", func(c *Config) { c.IGMPVersion, c.LastMemberQueryInterval = 2, 30*time.Second },
			[]string{"last_member_interval 30s", "--last-member-interval", "25.5s"}},
		{"MLDv1 response 70 s", func(c *Config) { c.MLDVersion, c.QueryResponseInterval = 1, 70*time.Second },
			[]string{"query_response_interval 1m10s", "MLDv1", "1m5.535s"}},
		{"MLDv1 response 65.535 s", func(c *Config) { c.MLDVersion, c.QueryResponseInterval = 1, 65535*time.Millisecond }, nil},
		{"IGMPv3 response 30 s", func(c *Config) { c.QueryResponseInterval = 30 * time.Second }, nil},
		{"IGMPv3 response beyond MRC", func(c *Config) { c.QueryInterval, c.QueryResponseInterval = 2*time.Hour, time.Hour },
			[]string{"query_response_interval 1h0m0s", "IGMPv3", "52m54.4s"}},
		{"query interval beyond QQIC", func(c *Config) { c.QueryInterval = 10 * time.Hour },
			[]string{"query_interval 10h0m0s", "--query-interval", "8h49m4s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// Where an older querier lowers the version at run time, the response
// time is cut to what the version carries, with an event, and the query
// is sent: no path skips a query silently.
func TestOlderQuerierClampsTheResponseTime(t *testing.T) {
	e := querierEngine(t, "10.77.0.5")
	cfg := e.Config()
	cfg.QueryResponseInterval, cfg.LastMemberQueryInterval = 30*time.Second, 30*time.Second
	if _, err := e.Reconfigure(t0, cfg); err != nil {
		t.Fatal(err)
	}
	e.Start(t0)
	// An IGMPv2 querier with a higher address: we stay querier, in v2.
	v2 := query(netip.MustParseAddr("10.77.0.9"), netip.IPv4Unspecified(), 2)
	e.HandleMessage(t0, uplink, v2, rawFrame)
	acts := run(e, t0.Add(cfg.QueryInterval+time.Second))
	qs := generalQueries(t, acts, false)
	if len(qs) == 0 {
		t.Fatal("no general query sent under an IGMPv2 querier")
	}
	for _, q := range qs {
		if q.Version != 2 || q.MaxResp != 25500*time.Millisecond {
			t.Fatalf("query %v: want IGMPv2 with max response 25.5 s", q)
		}
	}
	if n := slices.Index(events(acts), EventQueryClamped); n < 0 {
		t.Fatalf("no query_clamped event: %v", events(acts))
	}
	if c := strings.Count(strings.Join(eventNamesOf(acts), " "), "query_clamped"); c != 1 {
		t.Fatalf("%d query_clamped events, want one until the version changes", c)
	}
	// A leave: the group query goes out, clamped too, and the other
	// member behind the port, who answers within 25.5 s, stays.
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	acts = e.HandleMessage(t0.Add(cfg.QueryInterval+2*time.Second), hostA, leave(grp), rawFrame)
	gq := queries(t, acts)
	if len(gq) != 1 || gq[0].Group != grp || gq[0].MaxResp != 25500*time.Millisecond {
		t.Fatalf("group queries after the leave = %v, want one, max response 25.5 s", gq)
	}
}

func eventNamesOf(as []Action) []string {
	var out []string
	for _, k := range events(as) {
		out = append(out, k.String())
	}
	return out
}

// RFC 3376 §7.3.2 (RFC 3810 §8.3.2): the Older Host Present timer is set
// on reports; a leave sets none, so one IGMPv2 host leaving must not turn
// source filtering off for the group.
func TestLeaveStartsNoOlderHostTimer(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addr(1))), rawFrame)
	old := leave(grp)
	old.Src = hostIP2
	e.HandleMessage(t0.Add(time.Second), hostA, old, rawFrame)
	pg := e.table.Get(grpKey, hostA)
	if pg == nil {
		t.Fatal("membership gone")
	}
	if c := compat(pg, e.table.TimeOf(t0.Add(time.Second))); c != 3 {
		t.Fatalf("compatibility mode v%d after a leave, want v3", c)
	}
	if mode, srcs := pg.Forwarding(e.table.TimeOf(t0.Add(time.Second))); mode != fdb.Include || !slices.Equal(srcs, addrs(1)) {
		t.Fatalf("forwarding %v %v, want INCLUDE {10.0.0.1}", mode, srcs)
	}
}

// RFC 3376 §6.6.3.2: each retransmission of a group-and-source query is
// two messages: sources whose timers a report raised above LMQT with the
// S flag, the others without; an empty half is not sent.
func TestGroupAndSourceQueriesSplitByTheSFlag(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addr(1), addr(2))), rawFrame)
	acts := e.HandleMessage(t0.Add(time.Second), hostA, v3(rec(wire.BlockOldSources, addr(1), addr(2))), rawFrame)
	qs := queries(t, acts)
	if len(qs) != 1 || qs[0].SuppressRouterSide || !slices.Equal(qs[0].Sources, addrs(1, 2)) {
		t.Fatalf("first query = %v, want Q(G,{1,2}) with S clear", qs)
	}
	// A report renews source 1: the retransmission splits.
	e.HandleMessage(t0.Add(1500*time.Millisecond), hostA, v3(rec(wire.ModeIsInclude, addr(1))), rawFrame)
	qs = queries(t, run(e, t0.Add(2*time.Second)))
	if len(qs) != 2 {
		t.Fatalf("retransmission = %v, want two queries", qs)
	}
	slices.SortFunc(qs, func(a, b *wire.Message) int { return strings.Compare(a.String(), b.String()) })
	var withS, withoutS *wire.Message
	for _, q := range qs {
		if q.SuppressRouterSide {
			withS = q
		} else {
			withoutS = q
		}
	}
	if withS == nil || !slices.Equal(withS.Sources, addrs(1)) || withoutS == nil || !slices.Equal(withoutS.Sources, addrs(2)) {
		t.Fatalf("retransmission = %v, want Q(G,{1}) with S and Q(G,{2}) without", qs)
	}
	run(e, t0.Add(4*time.Second))
	pg := e.table.Get(grpKey, hostA)
	if _, ok := pg.Source(addr(2)); ok {
		t.Fatal("unanswered source 2 not pruned after LMQT")
	}
	if _, ok := pg.Source(addr(1)); !ok {
		t.Fatal("renewed source 1 pruned")
	}
}

// RFC 4604 §2.2: in an SSM range only INCLUDE state exists. IS_EX, TO_EX
// and v1/v2 reports are ignored and counted (ssm_exclude), and not relayed;
// INCLUDE records work.
func TestSSMRangeIgnoresAnySourceRequests(t *testing.T) {
	ssm := netip.MustParseAddr("232.1.1.1")
	ssm6 := netip.MustParseAddr("ff3e::8000:1")
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		msg     *wire.Message
		learned bool
	}{
		{"IS_EX {}", nil, v3(wire.GroupRecord{Type: wire.ModeIsExclude, Group: ssm}), false},
		{"TO_EX {S}", nil, v3(wire.GroupRecord{Type: wire.ChangeToExclude, Group: ssm, Sources: addrs(1)}), false},
		{"IGMPv2 report", nil, report(2, ssm), false},
		{"IGMPv1 report", nil, report(1, ssm), false},
		{"IGMPv2 leave", nil, leave(ssm), false},
		{"MLDv1 report", nil, mldMsg(wire.KindReport, 1, host6, ssm6), false},
		{"MLDv2 IS_EX", nil, mldMsg(wire.KindReportV3, 2, host6, netip.Addr{}, wire.GroupRecord{Type: wire.ModeIsExclude, Group: ssm6}), false},
		{"INCLUDE {S}", nil, v3(wire.GroupRecord{Type: wire.ModeIsInclude, Group: ssm, Sources: addrs(1)}), true},
		{"ALLOW {S}", nil, v3(wire.GroupRecord{Type: wire.AllowNewSources, Group: ssm, Sources: addrs(1)}), true},
		{"outside the range", nil, report(2, grp), true},
		{"configured range", func(c *Config) { c.SSMRanges = []netip.Prefix{netip.MustParsePrefix("239.1.2.0/24")} }, report(2, grp), false},
		{"configured range replaces the default", func(c *Config) { c.SSMRanges = []netip.Prefix{netip.MustParsePrefix("239.1.2.0/24")} }, report(2, ssm), true},
		{"no ranges", func(c *Config) { c.SSMRanges = []netip.Prefix{} }, report(2, ssm), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ms []func(*Config)
			if tc.mutate != nil {
				ms = append(ms, tc.mutate)
			}
			e := newEngine(t, ms...)
			e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
			e.HandleMessage(t0, uplink, mldMsg(wire.KindQuery, 2, router6, netip.IPv6Unspecified()), rawFrame)
			acts := e.HandleMessage(t0, hostA, tc.msg, rawFrame)
			if got := e.table.Len() == 1; got != tc.learned {
				t.Fatalf("learned %v, want %v", got, tc.learned)
			}
			relayed := slices.Contains(transmitted(acts), uplink)
			ignored := e.Stats().Ports["a"].Ignored["ssm_exclude"]
			if tc.learned && (!relayed || ignored != 0) || !tc.learned && (relayed || ignored != 1) {
				t.Fatalf("relayed %v, ignored ssm_exclude %d", relayed, ignored)
			}
		})
	}
	if r := DefaultSSMRanges(); len(r) != 17 || r[0].String() != "232.0.0.0/8" || r[16].String() != "ff3f::/96" {
		t.Fatalf("default SSM ranges %v", r)
	}
}

// With querier ports configured, a query from any other port is refused:
// a host cannot win the election.
func TestQuerierPortsAreTheOnlyOnesBelieved(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.QuerierPorts = []string{"up"} })
	e.HandleMessage(t0, hostA, query(netip.MustParseAddr("10.77.0.0"), netip.IPv4Unspecified(), 3), rawFrame)
	if q := e.Queriers(t0); len(q) > 0 && q[0].Present {
		t.Fatalf("a host port's query elected: %+v", q)
	}
	if n := e.Stats().Ports["a"].Ignored["query_refused"]; n != 1 {
		t.Fatalf("query_refused on the host port = %d, want 1", n)
	}
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	if q := e.Queriers(t0); len(q) == 0 || q[0].Address != routeIP.String() {
		t.Fatalf("the querier port's query not believed: %+v", q)
	}
	if p := e.cfg.Policy("b"); !p.RefuseQueries {
		t.Fatal("a port outside querier ports does not refuse queries (its guard would let them reach the kernel)")
	}
}

// An EXCLUDE (X, Y) membership shows its requested sources X with their
// timers beside the excluded Y (the MDB entry can only carry Y).
func TestGroupsShowRequestedSourcesOfExcludeMode(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude, addr(9))), rawFrame)
	e.HandleMessage(t0.Add(10*time.Second), hostA, v3(rec(wire.AllowNewSources, addr(1))), rawFrame)
	rows := e.Groups(t0.Add(20 * time.Second))
	if len(rows) != 1 {
		t.Fatalf("rows %+v, want one EXCLUDE row", rows)
	}
	r := rows[0]
	gmi := e.cfg.GroupMembershipInterval()
	want := []SourceTimerView{{Source: addr(1).String(), ExpiresMs: (gmi - 10*time.Second).Milliseconds()}}
	if r.Mode != "exclude" || !slices.Equal(r.Excluded, []string{addr(9).String()}) || !slices.Equal(r.Requested, want) {
		t.Fatalf("row %+v, want excluded [10.0.0.9] and requested %+v", r, want)
	}
	if r.ExpiresMs != (gmi - 20*time.Second).Milliseconds() {
		t.Fatalf("group timer %d ms, want %v", r.ExpiresMs, gmi-20*time.Second)
	}
}

// RFC 4286 §5.1: a snooping switch solicits MRD advertisements when a port
// starts snooping, from each family it can speak (MLD needs a link-local
// source); not on ports that refuse router messages.
func TestPortUpSolicitsRouterAdvertisements(t *testing.T) {
	solicitations := func(as []Action) (out []string) {
		for _, a := range kinds(as, ActTransmit) {
			m, err := wire.Decode(a.Frame)
			if err != nil {
				t.Fatalf("sent a frame that does not decode: %v", err)
			}
			if m.Kind == wire.KindOther && (m.IGMPType == wire.TypeMRDSolicit || m.IGMPType == wire.TypeMRDSolicit6) {
				out = append(out, m.Src.String()+">"+m.Dst.String())
			}
		}
		slices.Sort(out)
		return out
	}
	e := newEngine(t, withPort("host", PortPolicy{RefuseQueries: true}))
	got := solicitations(e.PortUp(t0, 5, "new"))
	if want := []string{"0.0.0.0>224.0.0.2", self6.String() + ">ff02::2"}; !slices.Equal(got, want) {
		t.Fatalf("solicitations on port up: %v, want %v", got, want)
	}
	if got := solicitations(e.PortUp(t0, 6, "host")); len(got) != 0 {
		t.Fatalf("solicitations on a port refusing router messages: %v", got)
	}
	// A bridge without a link-local address yet solicits MLD routers on
	// every port once it has one.
	e = newEngine(t, func(c *Config) { c.QuerierAddr6, c.QuerierAddr4 = netip.Addr{}, routeIP })
	if got := solicitations(e.PortUp(t0, 5, "new")); !slices.Equal(got, []string{routeIP.String() + ">224.0.0.2"}) {
		t.Fatalf("solicitations without a link-local address: %v", got)
	}
	acts := e.SetQuerierAddr6(t0, self6)
	if got := transmitted(acts); !slices.Equal(got, []int{hostA, hostB, 5, uplink}) {
		t.Fatalf("MLD solicitations once the link-local address came went out of %v, want every port", got)
	}
}

// RFC 7761 §4.9.2 and §4.3.1: a PIM hello's Holdtime is how long its
// router lasts (105 s without the option); 0 is a goodbye, taking the
// router port away at once; 0xffff never times out.
func TestPIMHelloHoldtime(t *testing.T) {
	hello := func(hold time.Duration, has bool) *wire.Message {
		return &wire.Message{Kind: wire.KindPIMHello, Proto: wire.IGMP, Src: netip.MustParseAddr("10.77.0.7"), Holdtime: hold, HasHoldtime: has}
	}
	routers := func(e *Engine, at time.Time) []RouterView { return e.Routers(at) }
	for _, tc := range []struct {
		name      string
		hold      time.Duration
		has       bool
		aliveAt   time.Duration // still a router port then
		goneAfter time.Duration // and not after (0: never checked)
	}{
		{"holdtime 30 s", 30 * time.Second, true, 30*time.Second - time.Millisecond, 30 * time.Second},
		{"no holdtime option", 0, false, wire.DefaultPIMHoldtime - time.Millisecond, wire.DefaultPIMHoldtime},
		{"holdtime forever", wire.HoldtimeForever, true, 365 * 24 * time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, uplink, hello(tc.hold, tc.has), rawFrame)
			run(e, t0.Add(tc.aliveAt))
			if r := routers(e, t0.Add(tc.aliveAt)); len(r) != 1 || r[0].Via != "pim" {
				t.Fatalf("router ports at %v: %+v", tc.aliveAt, r)
			}
			if tc.goneAfter > 0 {
				run(e, t0.Add(tc.goneAfter))
				if r := routers(e, t0.Add(tc.goneAfter)); len(r) != 0 {
					t.Fatalf("router ports at %v: %+v, want none", tc.goneAfter, r)
				}
			}
		})
	}
	t.Run("goodbye", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, uplink, hello(105*time.Second, true), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Second), uplink, hello(0, true), rawFrame)
		if r := routers(e, t0.Add(time.Second)); len(r) != 0 {
			t.Fatalf("router ports after a goodbye: %+v", r)
		}
		if ra := kinds(acts, ActRouterPort); len(ra) != 1 || ra[0].Router || ra[0].Port != uplink {
			t.Fatalf("router port actions %+v, want the kernel's router port withdrawn", ra)
		}
		if !slices.Contains(events(acts), EventRouterExpire) {
			t.Fatalf("events %v, want router_expire", events(acts))
		}
	})
	t.Run("goodbye where the querier is", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
		e.HandleMessage(t0, uplink, hello(105*time.Second, true), rawFrame)
		e.HandleMessage(t0.Add(time.Second), uplink, hello(0, true), rawFrame)
		if r := routers(e, t0.Add(time.Second)); len(r) != 1 || r[0].Via != "query" {
			t.Fatalf("router ports after a goodbye on the querier's port: %+v, want it kept for the querier", r)
		}
	})
}

// Our QQIC and Max Resp Code are rounded up to what the field carries
// (RFC 3376 §4.1.1, §4.1.7): the advertised values are never shorter than
// the real ones, and the engine times memberships by them, as every
// other router and snooper that decodes our queries does.
func TestOwnTimersAreTheAdvertisedOnes(t *testing.T) {
	e := querierEngine(t, "10.77.0.5")
	cfg := e.Config()
	cfg.QueryInterval, cfg.QueryResponseInterval = 300*time.Second, 20500*time.Millisecond
	if _, err := e.Reconfigure(t0, cfg); err != nil {
		t.Fatal(err)
	}
	qs := generalQueries(t, e.Start(t0), false)
	if len(qs) != 1 || qs[0].QueryInterval != 304*time.Second || qs[0].MaxResp != 20800*time.Millisecond {
		t.Fatalf("general query %v, want QQIC 304 s and MRC 20.8 s (300 s and 20.5 s rounded up)", qs)
	}
	v := e.Queriers(t0)[0]
	if v.QueryIntervalMs != 304000 || v.QueryResponseMs != 20800 || v.MembershipIntervalMs != 2*304000+20800 {
		t.Fatalf("timers in force %+v, want the advertised 304 s and 20.8 s", v)
	}
}

// A router port learned from a PIM hello lasts its Holdtime, but the
// kernel keeps a temporary router port only for the bridge's querier
// interval (the other querier present interval): the engine renews it
// in the kernel within every half of that, until the router expires.
func TestDynamicRouterPortsRenewedInTheKernel(t *testing.T) {
	e := newEngine(t, func(c *Config) {
		c.QueryInterval, c.QueryResponseInterval = 2*time.Second, time.Second // OQPI 4.5 s
	})
	hello := &wire.Message{Kind: wire.KindPIMHello, Proto: wire.IGMP, Src: netip.MustParseAddr("10.77.0.7"), Holdtime: 30 * time.Second, HasHoldtime: true}
	// A goodbye and a new hello leave the first router's wake-up in the
	// timer heap: stale, it must renew nothing (one renewal per period).
	goodbye := *hello
	goodbye.Holdtime = 0
	e.HandleMessage(t0, uplink, hello, rawFrame)
	e.HandleMessage(t0, uplink, &goodbye, rawFrame)
	e.HandleMessage(t0, uplink, hello, rawFrame)
	oqpi := e.OtherQuerierPresentInterval()
	last := t0
	for now := t0; now.Before(t0.Add(30 * time.Second)); now = now.Add(100 * time.Millisecond) {
		for _, a := range kinds(e.Tick(now), ActRouterPort) {
			if a.Port != uplink || !a.Router {
				t.Fatalf("at %v: %+v, want a renewal of the uplink", now.Sub(t0), a)
			}
			if now.Sub(last) < oqpi/2 {
				t.Fatalf("at %v: renewed %v after the last one, want one renewal per %v", now.Sub(t0), now.Sub(last), oqpi/2)
			}
			last = now
		}
		if now.Sub(last) >= oqpi {
			t.Fatalf("at %v: not renewed for %v, the kernel's router port has lapsed", now.Sub(t0), now.Sub(last))
		}
	}
	acts := e.Tick(t0.Add(30 * time.Second))
	if ra := kinds(acts, ActRouterPort); len(ra) != 1 || ra[0].Router {
		t.Fatalf("at the Holdtime: %+v, want the router port withdrawn", ra)
	}
}

// RFC 4541 C4: an IGMP type the switch does not interpret reaches every
// port. The bridge floods those sent to 224.0.0.0/24 by itself; to any
// other destination the guard keeps them from it and the engine floods
// them, router ports included.
func TestUnknownIGMPTypesFloodedToEveryPort(t *testing.T) {
	other := func(typ uint8, dst string) *wire.Message {
		return &wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: typ, Src: hostIP, Dst: netip.MustParseAddr(dst)}
	}
	for _, tc := range []struct {
		name string
		msg  *wire.Message
		want []int
	}{
		{"mtrace to 224.0.1.32", other(0x1f, "224.0.1.32"), []int{hostB, uplink}},
		{"DVMRP to a group", other(0x13, "239.1.2.3"), []int{hostB, uplink}},
		{"DVMRP to 224.0.0.4: the bridge floods it", other(0x13, "224.0.0.4"), nil},
		{"MRD solicitation over ICMPv6 to ff02::2", &wire.Message{Kind: wire.KindOther, Proto: wire.MLD, IGMPType: wire.TypeMRDSolicit6, Src: host6, Dst: wire.AllRouters6}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
			if got := transmitted(e.HandleMessage(t0, hostA, tc.msg, rawFrame)); !slices.Equal(got, tc.want) {
				t.Fatalf("sent out of %v, want %v", got, tc.want)
			}
		})
	}
}
