package snoop

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Regression tests for an independent review's findings.

// A querier whose query interval exceeds the default other-querier
// interval must not be "lost" between its queries.
func TestSlowQuerierIsNotLostBetweenQueries(t *testing.T) {
	e := newEngine(t)
	q := query(routeIP, netip.IPv4Unspecified(), 3)
	q.QRV, q.QueryInterval = 2, 300*time.Second
	var lost int
	for i := 0; i < 4; i++ {
		at := t0.Add(time.Duration(i) * 300 * time.Second)
		for _, ev := range events(run(e, at)) {
			if ev == EventQuerierLost || ev == EventRouterExpire {
				lost++
			}
		}
		e.HandleMessage(at, uplink, q, rawFrame)
	}
	if lost != 0 {
		t.Fatalf("querier or router lost %d times between queries 300 s apart", lost)
	}
}

func TestStaticRouterPortGetsReportsOfEveryVLAN(t *testing.T) {
	e := newEngine(t, vlanFiltering, withPort("st", PortPolicy{Router: true}))
	e.PortUp(t0, 7, "st")
	r := report(2, grp)
	r.VLAN = 10
	if tx := kinds(e.HandleMessage(t0, hostA, r, rawFrame), ActTransmit); len(tx) != 1 || tx[0].Port != 7 {
		t.Fatalf("VLAN 10 report relayed to %+v, want the static router port", tx)
	}
}

// Without a way to ask about sources (IGMPv2 queries), source timers stay.
func TestNoSourceCutWithoutSourceQueries(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.IGMPVersion = 2 })
	e.HandleMessage(t0, hostA, v3From(hostIP, rec(wire.ModeIsInclude, addrs(1)...)), rawFrame)
	e.HandleMessage(t0, hostA, v3From(hostIP2, rec(wire.ModeIsInclude, addrs(1)...)), rawFrame)
	e.HandleMessage(t0.Add(time.Second), hostA, v3From(hostIP, rec(wire.BlockOldSources, addrs(1)...)), rawFrame)
	run(e, t0.Add(10*time.Second))
	if pg := e.table.Get(grpKey, hostA); pg == nil || len(pg.Sources) != 1 {
		t.Fatalf("source cut although nobody could be asked: %+v", pg)
	}
}

func TestAdoptLeavesStaticGroupsAlone(t *testing.T) {
	e := newEngine(t, withPort("a", PortPolicy{StaticGroups: []StaticGroup{{Group: grp, Sources: addrs(1)}}}))
	e.PortUp(t0, hostA, "a")
	e.Adopt(t0, hostA, grpKey, fdb.Include, addrs(1), 30*time.Second)
	run(e, t0.Add(time.Hour))
	if pg := e.table.Get(grpKey, hostA); pg == nil || !pg.Static || len(pg.Sources) != 1 {
		t.Fatalf("static group after adopt: %+v", pg)
	}
	if len(e.srcKeys) != 1 {
		t.Fatalf("source keys %v, want one", e.srcKeys)
	}
}

// Groups and the (S,G) keys their source lists create share the limit.
func TestGroupLimitCountsSourceKeys(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Limits.MaxKeys = 10 })
	for i := 0; i < 20; i++ {
		g := netip.AddrFrom4([4]byte{232, 0, 0, byte(i + 1)})
		e.HandleMessage(t0, hostA, v3(wire.GroupRecord{Type: wire.ModeIsInclude, Group: g, Sources: addrs(1, 2)}), rawFrame)
	}
	if keys := e.table.Keys() + len(e.srcKeys); keys > 10 {
		t.Fatalf("%d kernel keys with a limit of 10", keys)
	}
}

func TestHostSourceListsAreBounded(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.MaxSources = 8 })
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude)), rawFrame)
	for i := 0; i < 50; i++ {
		e.HandleMessage(t0, hostA, v3(rec(wire.BlockOldSources, addr(i+1))), rawFrame)
	}
	pg := e.table.Get(grpKey, hostA)
	if len(pg.Hosts) != 1 || len(pg.Hosts[0].Sources) > 8 || pg.UntrackedUntil() <= e.table.TimeOf(t0) {
		t.Fatalf("host state %+v, untracked until %v", pg.Hosts, e.table.TimeAt(pg.UntrackedUntil()))
	}
}

func TestGroupQueryWithZeroMaxRespKeepsAnswerTime(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	q := query(routeIP, grp, 3)
	q.MaxResp = 0
	e.HandleMessage(t0, uplink, q, rawFrame)
	run(e, t0.Add(500*time.Millisecond))
	if !isMember(e, hostA, grp) {
		t.Fatal("an MRC-0 group query pruned at once: hosts had no time to answer")
	}
}

func TestRemovedPortLeavesNoCountersOrDeletes(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	acts := e.PortRemoved(t0, hostA)
	if len(kinds(acts, ActRemove)) != 0 || !slices.Contains(events(acts), EventFlush) {
		t.Fatalf("removed port: %+v, want flush events and no MDB deletes (the kernel dropped them)", acts)
	}
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame) // queued before the removal
	e.Refused(hostA, wire.ReasonBadIGMPChecksum)
	if _, ok := e.portCounters[hostA]; ok {
		t.Fatalf("counters came back for a removed port: %v", e.portCounters)
	}
}

func TestTimerHeapStaysBoundedUnderChurn(t *testing.T) {
	e := newEngine(t)
	e.PortUp(t0, 5, "fast")
	for i := 0; i < 20000; i++ {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		g := netip.AddrFrom4([4]byte{239, 9, byte(i >> 8), byte(i)})
		e.HandleMessage(now, 5, v3(wire.GroupRecord{Type: wire.ChangeToExclude, Group: g}), rawFrame)
		e.HandleMessage(now, 5, v3(wire.GroupRecord{Type: wire.ChangeToInclude, Group: g}), rawFrame)
	}
	if n := len(e.timers); n > 4*(e.table.Len()+len(e.families)+e.table.RouterCount())+1024 {
		t.Fatalf("%d timers for %d memberships", n, e.table.Len())
	}
}

func TestResyncRewritesEveryEntry(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	e.HandleMessage(t0, hostB, v3(rec(wire.ModeIsInclude, addrs(1)...)), rawFrame)
	in := kinds(e.Resync(t0.Add(time.Second)), ActInstall)
	if len(in) != 2 {
		t.Fatalf("resync installs %+v", in)
	}
}

// The untracked mark lapses: one report from :: (duplicate address
// detection) must not disable fast-leave for the group's whole life.
func TestUntrackedMarkLapses(t *testing.T) {
	const fast = 5
	e := newEngine(t)
	e.PortUp(t0, fast, "fast")
	e.HandleMessage(t0, fast, v3From(netip.IPv4Unspecified(), rec(wire.ModeIsExclude)), rawFrame)
	later := t0.Add(DefaultConfig().GroupMembershipInterval() + time.Second)
	e.HandleMessage(later, fast, v3From(hostIP, rec(wire.ModeIsExclude)), rawFrame)
	acts := e.HandleMessage(later.Add(time.Second), fast, v3From(hostIP, rec(wire.ChangeToInclude)), rawFrame)
	if isMember(e, fast, grp) || len(queries(t, acts)) != 0 {
		t.Fatal("fast-leave still disabled long after the untracked report")
	}
}

// Reports refused at a limit or by a profile are not passed upstream: a
// flood refused here must not fill the routers' tables.
func TestRefusedRecordsAreNotRelayed(t *testing.T) {
	e := newEngine(t, withPort("a", PortPolicy{MaxGroups: 1}))
	e.PortUp(t0, hostA, "a")
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	if tx := kinds(e.HandleMessage(t0, hostA, report(2, grp), rawFrame), ActTransmit); len(tx) != 1 {
		t.Fatalf("accepted report relayed %d times, want 1", len(tx))
	}
	if tx := kinds(e.HandleMessage(t0, hostA, report(2, netip.MustParseAddr("239.9.9.9")), rawFrame), ActTransmit); len(tx) != 0 {
		t.Fatalf("a report refused at the limit was relayed: %+v", tx)
	}
	m := v3(rec(wire.ModeIsExclude), wire.GroupRecord{Type: wire.ModeIsExclude, Group: netip.MustParseAddr("239.9.9.9")})
	m.SrcMAC = net.HardwareAddr{2, 0, 0, 0, 0, 9}
	tx := kinds(e.HandleMessage(t0, hostA, m, rawFrame), ActTransmit)
	if len(tx) != 1 || string(tx[0].Frame) == string(rawFrame) {
		t.Fatalf("partly refused v3 report: %+v, want one re-encoded frame", tx)
	}
	got, err := wire.Decode(tx[0].Frame)
	if err != nil || len(got.Records) != 1 || got.Records[0].Group != grp || got.Src != hostIP {
		t.Fatalf("relayed %v (%v), want only the accepted record", got, err)
	}
}
