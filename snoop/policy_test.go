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

func withPort(name string, p PortPolicy) func(*Config) {
	return func(c *Config) {
		if c.Ports == nil {
			c.Ports = map[string]PortPolicy{}
		}
		c.Ports[name] = p
	}
}

func iptv() *Profile {
	return &Profile{Name: "iptv", Rules: []Rule{
		{Permit: false, First: netip.MustParseAddr("239.1.2.9"), Last: netip.MustParseAddr("239.1.2.9")},
		{Permit: true, First: netip.MustParseAddr("239.1.0.0"), Last: netip.MustParseAddr("239.1.255.255")},
		{Permit: true, First: netip.MustParseAddr("239.232.0.0"), Last: netip.MustParseAddr("239.232.255.255"),
			Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/30")}},
	}}
}

func TestProfileFiltersJoins(t *testing.T) {
	ssm := netip.MustParseAddr("239.232.1.1") // source-restricted by the profile, outside the SSM range
	tests := []struct {
		name    string
		msg     *wire.Message
		learned bool
		sources []netip.Addr // INCLUDE sources expected
	}{
		{"permitted group", report(2, grp), true, nil},
		{"denied by an earlier rule", report(2, netip.MustParseAddr("239.1.2.9")), false, nil},
		{"no rule matches: default deny", report(2, netip.MustParseAddr("239.9.9.9")), false, nil},
		{"any-source join of a source-restricted range", v3(wire.GroupRecord{Type: wire.ChangeToExclude, Group: ssm}), false, nil},
		{"permitted sources kept, others dropped", v3(wire.GroupRecord{Type: wire.ModeIsInclude, Group: ssm, Sources: addrs(1, 2, 9)}), true, addrs(1, 2)},
		{"only denied sources", v3(wire.GroupRecord{Type: wire.AllowNewSources, Group: ssm, Sources: addrs(9)}), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, withPort("a", PortPolicy{Profile: iptv()}))
			e.PortUp(t0, hostA, "a")
			acts := e.HandleMessage(t0, hostA, tt.msg, rawFrame)
			if got := e.table.Len() == 1; got != tt.learned {
				t.Fatalf("learned = %v, want %v (%+v)", got, tt.learned, acts)
			}
			if !tt.learned {
				if !slices.Contains(events(acts), EventFilterDeny) || e.Stats().Ports["a"].Ignored["filter_deny"] != 1 {
					t.Fatalf("no filter_deny event or per-port count: %+v %+v", events(acts), e.Stats().Ports["a"])
				}
				return
			}
			if tt.sources != nil {
				in := kinds(acts, ActInstall)
				if len(in) != 1 || !slices.Equal(in[0].Sources, tt.sources) {
					t.Fatalf("installs %+v, want sources %v", in, tt.sources)
				}
			}
		})
	}
	t.Run("leaves are never filtered", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, report(2, netip.MustParseAddr("239.1.2.9")), rawFrame)
		c := testConfig()
		c.Ports = map[string]PortPolicy{"a": {Profile: iptv()}}
		if _, err := e.Reconfigure(t0, c); err != nil {
			t.Fatal(err)
		}
		if qs := queries(t, e.HandleMessage(t0.Add(time.Second), hostA, leave(netip.MustParseAddr("239.1.2.9")), rawFrame)); len(qs) != 1 {
			t.Fatal("a leave for a now-denied group was filtered")
		}
	})
}

func TestMaxGroupsDenyAndReplace(t *testing.T) {
	g := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{239, 0, 0, byte(i)}) }
	t.Run("deny", func(t *testing.T) {
		e := newEngine(t, withPort("a", PortPolicy{MaxGroups: 2}))
		e.PortUp(t0, hostA, "a")
		for i := 1; i <= 3; i++ {
			e.HandleMessage(t0.Add(time.Duration(i)*time.Second), hostA, report(2, g(i)), rawFrame)
		}
		if isMember(e, hostA, g(3)) || !isMember(e, hostA, g(1)) || e.Stats().Ports["a"].Ignored["port_limit"] != 1 {
			t.Fatalf("deny: groups %v", e.Groups(t0))
		}
		if v := e.Ports(); v[0].Port != "a" || v[0].Groups != 2 || v[0].MaxGroups != 2 || v[0].LimitAction != "deny" {
			t.Fatalf("port view %+v", v[0])
		}
	})
	t.Run("replace drops the least recently refreshed", func(t *testing.T) {
		e := newEngine(t, withPort("a", PortPolicy{MaxGroups: 2, ReplaceOldest: true}))
		e.PortUp(t0, hostA, "a")
		e.HandleMessage(t0, hostA, report(2, g(1)), rawFrame)
		e.HandleMessage(t0.Add(time.Second), hostA, report(2, g(2)), rawFrame)
		e.HandleMessage(t0.Add(2*time.Second), hostA, report(2, g(1)), rawFrame) // g1 refreshed: g2 is now oldest
		acts := e.HandleMessage(t0.Add(3*time.Second), hostA, report(2, g(3)), rawFrame)
		if !isMember(e, hostA, g(1)) || isMember(e, hostA, g(2)) || !isMember(e, hostA, g(3)) {
			t.Fatalf("replace: groups %v", e.Groups(t0))
		}
		if rm := kinds(acts, ActRemove); len(rm) != 1 || rm[0].Key.Group != g(2) {
			t.Fatalf("removes %+v, want g2", rm)
		}
		var detail string
		for _, a := range acts {
			if a.Kind == ActEvent && a.Event.Kind == EventLimit {
				detail = a.Event.Detail
			}
		}
		if !strings.Contains(detail, "replaced 239.0.0.2") {
			t.Fatalf("limit event detail %q", detail)
		}
	})
}

func TestStaticGroupsAndReconfigure(t *testing.T) {
	ssm := netip.MustParseAddr("232.1.1.1")
	e := newEngine(t, withPort("a", PortPolicy{StaticGroups: []StaticGroup{{Group: grp}, {Group: ssm, Sources: addrs(1)}}}))
	// newEngine brought port a up: both static groups are installed.
	for _, g := range []netip.Addr{grp, ssm} {
		if pg := e.table.Get(fdb.Key{Group: g}, hostA); pg == nil || !pg.Static || pg.Installed.IsZero() {
			t.Fatalf("static group %v: %+v", g, pg)
		}
	}
	// Bringing the port up again changes nothing.
	if in := kinds(e.PortUp(t0, hostA, "a"), ActInstall); len(in) != 0 {
		t.Fatalf("port up again reinstalled %+v", in)
	}
	run(e, t0.Add(30*24*time.Hour))
	rows := e.Groups(t0)
	if len(rows) != 2 || !rows[1].Static || rows[1].ExpiresMs != 0 || rows[0].Mode != "include" || rows[0].Source != "10.0.0.1" {
		t.Fatalf("static groups after 30 days: %+v", rows)
	}
	// Leaves do not remove static groups.
	e.HandleMessage(t0, hostA, leave(grp), rawFrame)
	run(e, t0.Add(time.Minute))
	if !isMember(e, hostA, grp) {
		t.Fatal("a leave removed a static group")
	}
	// A learned member on another port survives a reload that lowers limits.
	e.HandleMessage(t0, hostB, report(2, netip.MustParseAddr("239.5.5.5")), rawFrame)
	e.HandleMessage(t0, hostB, report(2, netip.MustParseAddr("239.5.5.6")), rawFrame)
	c := testConfig()
	c.PortDefault = PortPolicy{MaxGroups: 1}
	c.Ports = map[string]PortPolicy{"a": {StaticGroups: []StaticGroup{{Group: ssm, Sources: addrs(1)}}, FastLeave: true}}
	acts, err := e.Reconfigure(t0.Add(time.Second), c)
	if err != nil {
		t.Fatal(err)
	}
	if rm := kinds(acts, ActRemove); len(rm) != 1 || rm[0].Key.Group != grp {
		t.Fatalf("reload removed %+v, want only the dropped static group", rm)
	}
	if e.table.PortLen(hostB) != 2 {
		t.Fatal("a lowered limit dropped existing members")
	}
	e.HandleMessage(t0.Add(2*time.Second), hostB, report(2, netip.MustParseAddr("239.5.5.7")), rawFrame)
	if e.table.PortLen(hostB) != 2 {
		t.Fatal("the new limit is not enforced on new groups")
	}
	if v := e.Ports(); !v[0].FastLeave {
		t.Fatalf("fast-leave not applied by the reload: %+v", v[0])
	}
	if _, err := e.Reconfigure(t0, Config{}); err == nil {
		t.Fatal("an invalid config was applied")
	}
}

func TestFloodReportsAndNoSnooping(t *testing.T) {
	e := newEngine(t, withPort("watch", PortPolicy{FloodReports: true}), withPort("off", PortPolicy{NoSnooping: true}))
	e.PortUp(t0, 5, "watch")
	e.PortUp(t0, 6, "off")
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	var to []int
	for _, a := range kinds(e.HandleMessage(t0, hostA, report(2, grp), rawFrame), ActTransmit) {
		to = append(to, a.Port)
	}
	slices.Sort(to)
	if !slices.Equal(to, []int{5, uplink}) {
		t.Fatalf("report relayed to %v, want the router and the flood-reports port", to)
	}
	acts := e.HandleMessage(t0, 6, report(2, grp), rawFrame)
	if isMember(e, 6, grp) || e.Stats().Ports["off"].Ignored["snooping_disabled"] != 1 {
		t.Fatal("learned on a port with snooping off")
	}
	if tx := kinds(acts, ActTransmit); len(tx) != 2 {
		t.Fatalf("a report on a non-snooping port still goes to routers: %+v", tx)
	}
	if v := e.Ports(); v[2].Port != "off" || v[2].Snooping || !v[2].Flood {
		t.Fatalf("ports view %+v", v)
	}
}

func TestPortStatsAndViews(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	e.Refused(hostA, wire.ReasonBadIGMPChecksum)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	ps := e.Stats().Ports
	if ps["a"].Received != 1 || ps["a"].Refused["bad_igmp_checksum"] != 1 || ps["up"].Received != 1 {
		t.Fatalf("port stats %+v", ps)
	}
	v := e.Ports()
	if v[0].Port != "a" || v[0].Groups != 1 || v[0].Refused != 1 || v[2].Router != "query" {
		t.Fatalf("ports %+v", v)
	}
}

func TestRefuseQueriesOnHostPorts(t *testing.T) {
	e := newEngine(t, withPort("a", PortPolicy{RefuseQueries: true}), func(c *Config) {
		c.Querier, c.QuerierAddr4 = true, netip.MustParseAddr("10.77.0.50")
	})
	e.Start(t0)
	e.PortUp(t0, hostA, "a")
	for _, m := range []*wire.Message{
		query(netip.MustParseAddr("10.77.0.3"), netip.IPv4Unspecified(), 3),
		{Kind: wire.KindPIMHello, Proto: wire.IGMP, Src: hostIP},
		{Kind: wire.KindMRDAdvert, Proto: wire.IGMP, Src: hostIP, AdvertInterval: 20 * time.Second},
	} {
		if acts := e.HandleMessage(t0.Add(time.Second), hostA, m, rawFrame); len(acts) != 0 {
			t.Fatalf("%v from a host port: %+v", m, acts)
		}
	}
	if q := e.Queriers(t0)[0]; !q.Self || len(e.Routers(t0)) != 0 || e.Stats().Ports["a"].Ignored["query_refused"] != 3 {
		t.Fatalf("querier %+v routers %+v stats %+v", q, e.Routers(t0), e.Stats().Ports["a"])
	}
	// The same query on another port wins the election.
	e.HandleMessage(t0.Add(time.Second), hostB, query(netip.MustParseAddr("10.77.0.3"), netip.IPv4Unspecified(), 3), rawFrame)
	if q := e.Queriers(t0)[0]; q.Self {
		t.Fatal("a lower-address querier on a normal port did not take over")
	}
}
