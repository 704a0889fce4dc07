package snoop

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// RelaysFrom says yes only for ports whose reports the engine would relay
// unchanged, and no wherever it might refuse or rewrite one.
func TestRelaysFrom(t *testing.T) {
	deny := &Profile{Name: "none"}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		setup  func(*Engine)
		want   bool
	}{
		{name: "plain port", want: true},
		{name: "profile", mutate: func(c *Config) { c.Ports["a"] = PortPolicy{Profile: deny} }},
		{name: "group limit", mutate: func(c *Config) { c.Ports["a"] = PortPolicy{MaxGroups: 10} }},
		{name: "flood", mutate: func(c *Config) { c.Ports["a"] = PortPolicy{Flood: true} }},
		{name: "no snooping", mutate: func(c *Config) { c.Ports["a"] = PortPolicy{NoSnooping: true} }},
		{name: "fast leave", mutate: func(c *Config) { c.Ports["a"] = PortPolicy{FastLeave: true} }, want: true},
		{name: "refuse queries", mutate: func(c *Config) { c.Ports["a"] = PortPolicy{RefuseQueries: true} }, want: true},
		{name: "flood reports", mutate: func(c *Config) { c.Ports["a"] = PortPolicy{FloodReports: true} }, want: true},
		{name: "VLAN filtering", mutate: func(c *Config) { c.VLANFiltering = true }},
		{name: "port down", setup: func(e *Engine) { e.PortDown(t0, hostA) }},
		{name: "kernel learns", setup: func(e *Engine) { e.SetKernelLearns(t0, hostA, true) }},
		{name: "unknown port", setup: func(e *Engine) { delete(e.ports, hostA) }},
		{name: "room for the headroom", mutate: func(c *Config) { c.Limits.MaxKeys = RelayHeadroom + 5 }, setup: joinGroups(5), want: true},
		{name: "room for less than the headroom", mutate: func(c *Config) { c.Limits.MaxKeys = RelayHeadroom + 5 }, setup: joinGroups(6)},
		{name: "a small group limit", mutate: func(c *Config) { c.Limits.MaxKeys = 4 }},
		// One group and three (S,G) keys of its source list leave
		// RelayHeadroom-1 of RelayHeadroom+3: (S,G) keys count too.
		{name: "(S,G) keys count", mutate: func(c *Config) { c.Limits.MaxKeys = RelayHeadroom + 3; c.SourceLists = true },
			setup: func(e *Engine) {
				e.HandleMessage(t0, hostB, v3(rec(wire.ModeIsInclude, addr(1), addr(2), addr(3))), rawFrame)
			}},
		{name: "a group alone", mutate: func(c *Config) { c.Limits.MaxKeys = RelayHeadroom + 3; c.SourceLists = true },
			setup: func(e *Engine) { e.HandleMessage(t0, hostB, report(2, grp), rawFrame) }, want: true},
		{name: "port room for the headroom", mutate: func(c *Config) { c.Limits.MaxPerPort = RelayHeadroom + 5 }, setup: joinGroups(5), want: true},
		{name: "port room for less", mutate: func(c *Config) { c.Limits.MaxPerPort = RelayHeadroom + 5 }, setup: joinGroups(6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mutate []func(*Config)
			if tc.mutate != nil {
				mutate = append(mutate, tc.mutate)
			}
			e := newEngine(t, mutate...)
			if tc.setup != nil {
				tc.setup(e)
			}
			if got := e.RelaysFrom(hostA); got != tc.want {
				t.Errorf("RelaysFrom = %v, want %v", got, tc.want)
			}
		})
	}
}

// joinGroups joins n groups on host A.
func joinGroups(n int) func(*Engine) {
	return func(e *Engine) {
		for i := range n {
			e.HandleMessage(t0, hostA, report(2, netip.AddrFrom4([4]byte{239, 9, 0, byte(i)})), rawFrame)
		}
	}
}

// RelayTargets are the router ports and FloodReports ports that are up.
func TestRelayTargets(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Ports["b"] = PortPolicy{FloodReports: true} })
	if got := e.RelayTargets(nil, false); !slices.Equal(got, []int{hostB}) {
		t.Fatalf("before any router: %v, want only the FloodReports port %d", got, hostB)
	}
	withRouterUplink(t, e)
	want := []int{hostB, uplink}
	slices.Sort(want)
	if got := e.RelayTargets(nil, false); !slices.Equal(got, want) {
		t.Errorf("IGMP targets %v, want %v", got, want)
	}
	if got := e.RelayTargets(nil, true); !slices.Equal(got, []int{hostB}) {
		t.Errorf("MLD targets %v, want only %d: the uplink is an IGMP router", got, hostB)
	}
	e.PortDown(t0, hostB)
	if got := e.RelayTargets([]int{42}, false); !slices.Equal(got, []int{42, uplink}) {
		t.Errorf("after the FloodReports port went down: %v, want [42 %d] (appended)", got, uplink)
	}
}

// A report the guard relayed is learned as any other and not sent again;
// one the engine then refuses is counted.
func TestGuardRelayedReports(t *testing.T) {
	e := newEngine(t)
	withRouterUplink(t, e)
	m := report(2, grp)
	m.Relayed = true
	acts := e.HandleMessage(t0, hostA, m, rawFrame)
	if !isMember(e, hostA, grp) || len(kinds(acts, ActInstall)) != 1 {
		t.Fatalf("relayed report not learned: %+v", acts)
	}
	if n := relayed(acts, uplink); n != 0 {
		t.Errorf("sent a report the guard relayed %d more times", n)
	}
	plain := report(2, grp)
	if n := relayed(e.HandleMessage(t0, hostB, plain, rawFrame), uplink); n != 1 {
		t.Errorf("a report the guard did not relay went out %d times, want 1", n)
	}
	limited := report(2, netip.MustParseAddr("239.9.9.9"))
	limited.Relayed = true
	e.cfg.Limits.MaxKeys = 1 // the table filled faster than RelaysFrom knew
	e.table.SetLimits(e.cfg.Limits)
	e.HandleMessage(t0, hostA, limited, rawFrame)
	// An IGMPv3 report the guard relayed with a record then refused: no
	// stripped copy goes out after the whole.
	mixed := func() *wire.Message {
		m := v3(rec(wire.ModeIsExclude), wire.GroupRecord{Type: wire.ChangeToExclude, Group: netip.MustParseAddr("239.9.9.8")})
		m.Relayed = true
		return m
	}
	for range 2 {
		if acts := e.HandleMessage(t0, hostA, mixed(), rawFrame); len(kinds(acts, ActTransmit)) != 0 {
			t.Errorf("sent %+v for a report the guard relayed", kinds(acts, ActTransmit))
		}
	}
	s := e.Stats()
	if s.GuardRelayed != 1 || s.Relayed != 1 || s.GuardRelayedRefused != 3 {
		t.Errorf("stats guard_relayed %d, relayed %d, guard_relayed_refused %d; want 1, 1, 3", s.GuardRelayed, s.Relayed, s.GuardRelayedRefused)
	}
	if e.table.KeyLen(fdb.Key{Group: limited.Group}) != 0 {
		t.Error("learned a group over the limit")
	}
	if !slices.Contains(e.SSMRanges(), netip.MustParsePrefix("232.0.0.0/8")) {
		t.Errorf("SSMRanges %v lack the default 232.0.0.0/8", e.SSMRanges())
	}
}
