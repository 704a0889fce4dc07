package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// A port that goes down or away takes its memberships with it, and the
// (S,G) keys their source lists held in the kernel: they no longer count
// toward the key limit (mcast_hash_max).
func TestFlushedPortFreesItsSourceKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flush func(e *Engine) []Action
	}{
		{"port down", func(e *Engine) []Action { return e.PortDown(t0, hostA) }},
		{"port removed", func(e *Engine) []Action { return e.PortRemoved(t0, hostA) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, func(c *Config) { c.Limits.MaxKeys = 3 })
			e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame)
			tc.flush(e)
			if err := e.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
			g := netip.MustParseAddr("239.9.9.9")
			acts := e.HandleMessage(t0, hostB, v3(wire.GroupRecord{Type: wire.ModeIsInclude, Group: g, Sources: addrs(3, 4)}), rawFrame)
			if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Mode != fdb.Include || !slices.Equal(in[0].Sources, addrs(3, 4)) {
				t.Fatalf("install %+v, want INCLUDE {3,4}: the flushed port's keys are free", in)
			}
		})
	}
}

// RFC 4541 §6: a port that refuses router messages refuses every kind,
// MRD terminations included, and counts each (query_refused).
func TestRefusingPortCountsEveryRouterMessage(t *testing.T) {
	e := newEngine(t, withPort("a", PortPolicy{RefuseQueries: true}))
	e.PortUp(t0, hostA, "a")
	for _, m := range []*wire.Message{
		query(routeIP, netip.IPv4Unspecified(), 3),
		{Kind: wire.KindPIMHello, Proto: wire.IGMP, Src: hostIP},
		{Kind: wire.KindMRDAdvert, Proto: wire.IGMP, Src: hostIP, AdvertInterval: 20 * time.Second},
		{Kind: wire.KindMRDTermination, Proto: wire.IGMP, Src: hostIP},
	} {
		e.HandleMessage(t0, hostA, m, rawFrame)
	}
	if n := e.Stats().Ports["a"].Ignored["query_refused"]; n != 4 {
		t.Fatalf("query_refused = %d, want 4", n)
	}
	// Reports are not router messages.
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	if n := e.Stats().Ports["a"].Ignored["query_refused"]; n != 4 || !isMember(e, hostA, grp) {
		t.Fatalf("a report on the refusing port: refused %d, member %v", n, isMember(e, hostA, grp))
	}
}

// Views name a port the engine knows without a name by its index.
func TestUnnamedPortShownByIndex(t *testing.T) {
	e := newEngine(t)
	e.PortUp(t0, 7, "")
	e.HandleMessage(t0, 7, report(2, grp), rawFrame)
	if rows := e.Groups(t0); len(rows) != 1 || rows[0].Port != "#7" {
		t.Fatalf("rows %+v, want port #7", rows)
	}
	if got := e.PortName(42); got != "#42" {
		t.Fatalf("unknown port named %q", got)
	}
	if got := e.PortName(hostA); got != "a" {
		t.Fatalf("port a named %q", got)
	}
}

// A port's counters leave zero counts out (PortStats): only what happened
// on the port is listed.
func TestPortStatsLeaveOutZeroCounts(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, netip.MustParseAddr("224.0.0.5")), rawFrame) // not learnable
	e.Refused(hostA, wire.ReasonBadIGMPChecksum)
	ps := e.Stats().Ports["a"]
	if len(ps.Refused) != 1 || ps.Refused["bad_igmp_checksum"] != 1 {
		t.Fatalf("refused %v, want only bad_igmp_checksum 1", ps.Refused)
	}
	if len(ps.Ignored) != 1 || ps.Ignored["link_local_or_invalid_group"] != 1 {
		t.Fatalf("ignored %v, want only link_local_or_invalid_group 1", ps.Ignored)
	}
	if v := e.Ports(); v[0].Port != "a" || v[0].Refused != 1 || v[0].Ignored != 1 || v[0].Received != 1 {
		t.Fatalf("port view %+v, want 1 received, 1 refused, 1 ignored", v[0])
	}
}
