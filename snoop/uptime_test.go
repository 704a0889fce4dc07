package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// sinceOf returns the since_ms of every row of port's membership of grp at
// now (one per INCLUDE source), or nil if it has none.
func sinceOf(e *Engine, now time.Time, port string) []int64 {
	var out []int64
	for _, g := range e.Groups(now) {
		if g.Port == port && g.Group == grp.String() {
			out = append(out, g.SinceMs)
		}
	}
	return out
}

// A membership's uptime (since_ms, as FRR's and OVS's) runs from when it
// began: refreshes, answered leaves and changes of filter keep it; a
// membership created anew, after an expiry or a completed leave, starts
// again; an adopted one counts from its adoption, a static one from its
// configuration. INCLUDE-mode rows carry their membership's start.
func TestMembershipUptime(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name string
		// steps runs on an engine whose port a has no membership.
		steps func(e *Engine)
		now   time.Duration
		want  []int64 // since_ms of port a's rows at now
	}{
		{"join", func(e *Engine) {
			e.HandleMessage(at(0), hostA, report(2, grp), rawFrame)
		}, 90 * time.Second, []int64{90000}},
		{"kept by refreshes", func(e *Engine) {
			for d := time.Duration(0); d <= 600*time.Second; d += 100 * time.Second {
				e.HandleMessage(at(d), hostA, report(2, grp), rawFrame)
			}
		}, 650 * time.Second, []int64{650000}},
		{"kept by a leave another report answers", func(e *Engine) {
			e.HandleMessage(at(0), hostA, report(2, grp), rawFrame)
			e.HandleMessage(at(10*time.Second), hostA, leave(grp), rawFrame)
			e.HandleMessage(at(10*time.Second+500*time.Millisecond), hostA, report(2, grp), rawFrame)
			run(e, at(60*time.Second))
		}, 60 * time.Second, []int64{60000}},
		{"kept by a change of filter", func(e *Engine) {
			e.HandleMessage(at(0), hostA, v3(rec(wire.ChangeToExclude)), rawFrame)
			e.HandleMessage(at(5*time.Second), hostA, v3(rec(wire.ChangeToInclude, addr(1))), rawFrame)
			run(e, at(20*time.Second))
		}, 20 * time.Second, []int64{20000}},
		{"restarted after an expiry", func(e *Engine) {
			e.HandleMessage(at(0), hostA, report(2, grp), rawFrame)
			run(e, at(gmi))
			e.HandleMessage(at(gmi+time.Second), hostA, report(2, grp), rawFrame)
		}, gmi + 3*time.Second, []int64{2000}},
		{"restarted after a completed leave", func(e *Engine) {
			e.HandleMessage(at(0), hostA, report(2, grp), rawFrame)
			e.HandleMessage(at(100*time.Second), hostA, leave(grp), rawFrame)
			run(e, at(110*time.Second)) // the last-member queries go unanswered
			e.HandleMessage(at(120*time.Second), hostA, report(2, grp), rawFrame)
		}, 121 * time.Second, []int64{1000}},
		{"INCLUDE rows carry the membership's start", func(e *Engine) {
			e.HandleMessage(at(0), hostA, v3(rec(wire.AllowNewSources, addr(1))), rawFrame)
			e.HandleMessage(at(30*time.Second), hostA, v3(rec(wire.AllowNewSources, addr(2))), rawFrame)
		}, 40 * time.Second, []int64{40000, 40000}},
		{"adopted: from the adoption", func(e *Engine) {
			e.Adopt(at(7*time.Second), hostA, grpKey, fdb.Exclude, nil, 0)
		}, 10 * time.Second, []int64{3000}},
		{"adopted onto a learned one: kept", func(e *Engine) {
			e.HandleMessage(at(0), hostA, report(2, grp), rawFrame)
			e.Adopt(at(7*time.Second), hostA, grpKey, fdb.Exclude, nil, 0)
		}, 10 * time.Second, []int64{10000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			tc.steps(e)
			if got := sinceOf(e, at(tc.now), "a"); !slices.Equal(got, tc.want) {
				t.Fatalf("since_ms = %v, want %v", got, tc.want)
			}
			if err := e.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A static membership's uptime runs from when the configuration put it
// on the port, and a reload that keeps it keeps its start.
func TestStaticMembershipUptime(t *testing.T) {
	static := func(c *Config) {
		c.Ports = map[string]PortPolicy{"s": {StaticGroups: []StaticGroup{{Group: grp}}}}
	}
	e := newEngine(t, static)
	e.PortUp(t0.Add(5*time.Second), 7, "s")
	c := testConfig()
	static(&c)
	c.QueryInterval = 100 * time.Second // any change, to reload
	if _, err := e.Reconfigure(t0.Add(20*time.Second), c); err != nil {
		t.Fatal(err)
	}
	if got := sinceOf(e, t0.Add(65*time.Second), "s"); !slices.Equal(got, []int64{60000}) {
		t.Fatalf("since_ms = %v, want [60000]", got)
	}
}

// GroupCounts counts, per group, the member ports and the hosts tracked
// behind them, as Groups shows them: the ports of the group's rows, and
// per port its distinct reporters. A host whose membership interval ran
// out is no longer counted (nor shown) even before the next report
// prunes it; an untrackable reporter (0.0.0.0) is not a host.
func TestGroupCountsMatchGroups(t *testing.T) {
	grp2 := netip.MustParseAddr("239.1.2.4")
	grp3 := netip.MustParseAddr("239.1.2.5")
	gmi := DefaultConfig().GroupMembershipInterval()
	e := newEngine(t)
	// grp: two hosts behind a (one INCLUDE-mode, on an EXCLUDE port), one behind b.
	e.HandleMessage(t0, hostA, v3From(hostN(1), rec(wire.ModeIsExclude)), rawFrame)
	e.HandleMessage(t0, hostA, v3From(hostN(2), rec(wire.AllowNewSources, addr(1))), rawFrame)
	e.HandleMessage(t0, hostB, v3From(hostN(3), rec(wire.ModeIsExclude)), rawFrame)
	// grp2: INCLUDE rows, one host wanting two sources.
	e.HandleMessage(t0, hostA, v3From(hostN(4), wire.GroupRecord{Type: wire.AllowNewSources, Group: grp2, Sources: addrs(1, 2)}), rawFrame)
	// grp3: an untrackable reporter only.
	e.HandleMessage(t0, hostB, &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2, Src: netip.IPv4Unspecified(), Group: grp3}, rawFrame)
	// grp2 on b: a host that stops reporting, while another keeps the
	// membership alive past its interval.
	e.HandleMessage(t0, hostB, v3From(hostN(5), wire.GroupRecord{Type: wire.ModeIsExclude, Group: grp2}), rawFrame)
	e.HandleMessage(t0.Add(gmi/2), hostB, v3From(hostN(6), wire.GroupRecord{Type: wire.ModeIsExclude, Group: grp2}), rawFrame)
	now := t0.Add(gmi + time.Second)
	e.HandleMessage(t0.Add(gmi-time.Second), hostA, v3From(hostN(1), rec(wire.ModeIsExclude)), rawFrame)
	e.HandleMessage(t0.Add(gmi-time.Second), hostA, v3From(hostN(2), rec(wire.AllowNewSources, addr(1))), rawFrame)
	e.HandleMessage(t0.Add(gmi-time.Second), hostB, v3From(hostN(3), rec(wire.ModeIsExclude)), rawFrame)
	e.HandleMessage(t0.Add(gmi-time.Second), hostA, v3From(hostN(4), wire.GroupRecord{Type: wire.AllowNewSources, Group: grp2, Sources: addrs(1, 2)}), rawFrame)
	e.HandleMessage(t0.Add(gmi-time.Second), hostB, &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2, Src: netip.IPv4Unspecified(), Group: grp3}, rawFrame)
	run(e, now)

	want := []GroupCount{{Group: grp, Ports: 2, Hosts: 3}, {Group: grp2, Ports: 2, Hosts: 2}, {Group: grp3, Ports: 1, Hosts: 0}}
	if got := e.GroupCounts(now); !slices.Equal(got, want) {
		t.Fatalf("GroupCounts = %+v, want %+v", got, want)
	}
	// The same, derived from the rows.
	ports := map[string]map[string]map[string]bool{} // group, port, reporters
	for _, g := range e.Groups(now) {
		if ports[g.Group] == nil {
			ports[g.Group] = map[string]map[string]bool{}
		}
		if ports[g.Group][g.Port] == nil {
			ports[g.Group][g.Port] = map[string]bool{}
		}
		for _, r := range g.Reporters {
			ports[g.Group][g.Port][r] = true
		}
	}
	for _, w := range want {
		hosts := 0
		for _, rs := range ports[w.Group.String()] {
			hosts += len(rs)
		}
		if len(ports[w.Group.String()]) != w.Ports || hosts != w.Hosts {
			t.Errorf("%v: the rows show %d ports and %d hosts, want %d and %d", w.Group, len(ports[w.Group.String()]), hosts, w.Ports, w.Hosts)
		}
	}
}
