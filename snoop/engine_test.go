package snoop

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Ports of the test bridge: 1 and 2 have hosts, 9 leads to the router.
const (
	hostA  = 1
	hostB  = 2
	uplink = 9
)

var (
	t0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	grp      = netip.MustParseAddr("239.1.2.3")
	grpKey   = fdb.Key{Group: grp}
	hostIP   = netip.MustParseAddr("10.77.0.11")
	hostIP2  = netip.MustParseAddr("10.77.0.12")
	routeIP  = netip.MustParseAddr("10.77.0.1")
	grp6     = netip.MustParseAddr("ff0e::1:3")
	host6    = netip.MustParseAddr("fe80::11")
	router6  = netip.MustParseAddr("fe80::1")
	self6    = netip.MustParseAddr("fe80::99")
	rawFrame = []byte("raw frame bytes")
)

func addr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }

func addrs(is ...int) []netip.Addr {
	out := make([]netip.Addr, 0, len(is))
	for _, i := range is {
		out = append(out, addr(i))
	}
	return out
}

func testConfig() Config {
	c := DefaultConfig()
	c.Bridge = "br0"
	c.QuerySourceMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	c.Ports = map[string]PortPolicy{"fast": {FastLeave: true}}
	c.QuerierAddr6 = self6
	return c
}

func newEngine(t *testing.T, mutate ...func(*Config)) *Engine {
	t.Helper()
	c := testConfig()
	for _, f := range mutate {
		f(&c)
	}
	e, err := New(c, t0)
	if err != nil {
		t.Fatal(err)
	}
	e.PortUp(t0, hostA, "a")
	e.PortUp(t0, hostB, "b")
	e.PortUp(t0, uplink, "up")
	return e
}

func report(version int, g netip.Addr) *wire.Message {
	return &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: version, Src: hostIP, Group: g}
}

func leave(g netip.Addr) *wire.Message {
	return &wire.Message{Kind: wire.KindLeave, Proto: wire.IGMP, Version: 2, Src: hostIP, Group: g}
}

func v3From(src netip.Addr, recs ...wire.GroupRecord) *wire.Message {
	return &wire.Message{Kind: wire.KindReportV3, Proto: wire.IGMP, Version: 3, Src: src, Records: recs}
}

func v3(recs ...wire.GroupRecord) *wire.Message { return v3From(hostIP, recs...) }

func rec(t wire.RecordType, sources ...netip.Addr) wire.GroupRecord {
	return wire.GroupRecord{Type: t, Group: grp, Sources: sources}
}

func query(src netip.Addr, g netip.Addr, version int) *wire.Message {
	return &wire.Message{Kind: wire.KindQuery, Proto: wire.IGMP, Version: version, Src: src, Group: g, MaxResp: 10 * time.Second}
}

func mldMsg(kind wire.Kind, version int, src, g netip.Addr, recs ...wire.GroupRecord) *wire.Message {
	return &wire.Message{Kind: kind, Proto: wire.MLD, Version: version, Src: src, Group: g, Records: recs, MaxResp: time.Second}
}

func kinds(as []Action, k ActionKind) []Action {
	var out []Action
	for _, a := range as {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

func events(as []Action) []EventKind {
	var out []EventKind
	for _, a := range as {
		if a.Kind == ActEvent {
			out = append(out, a.Event.Kind)
		}
	}
	return out
}

// queries decodes the queries among the transmitted frames.
func queries(t *testing.T, as []Action) []*wire.Message {
	t.Helper()
	var out []*wire.Message
	for _, a := range kinds(as, ActTransmit) {
		if string(a.Frame) == string(rawFrame) {
			continue // a relayed or flooded test frame
		}
		m, err := wire.Decode(a.Frame)
		if err != nil {
			t.Fatalf("the engine sent a frame that does not decode: %v", err)
		}
		if m.Kind == wire.KindQuery {
			out = append(out, m)
		}
	}
	return out
}

func isMember(e *Engine, port int, g netip.Addr) bool {
	return e.table.Get(fdb.Key{Group: g}, port) != nil
}

// run ticks the engine at every deadline up to and including end.
func run(e *Engine, end time.Time) []Action {
	var all []Action
	for i := 0; i < 100000; i++ {
		at, ok := e.NextDeadline()
		if !ok || at.After(end) {
			break
		}
		all = append(all, e.Tick(at)...)
	}
	return all
}

func TestReportInstallsAndExpiresAfterGMI(t *testing.T) {
	e := newEngine(t)
	acts := e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	if got := kinds(acts, ActInstall); len(got) != 1 || got[0].Port != hostA || got[0].Key != grpKey || got[0].Mode != fdb.Exclude || len(got[0].Sources) != 0 {
		t.Fatalf("install actions = %+v, want one any-source entry", got)
	}
	if ev := events(acts); !slices.Equal(ev, []EventKind{EventJoin}) {
		t.Fatalf("events = %v, want [join]", ev)
	}
	gmi := e.cfg.GroupMembershipInterval()
	if gmi != 260*time.Second {
		t.Fatalf("default GMI = %v, want 260s (RFC 3376 §8.4)", gmi)
	}
	gv := e.Groups(t0)
	if len(gv) != 1 || gv[0].Group != "239.1.2.3" || gv[0].Port != "a" || gv[0].Version != 2 || gv[0].Compat != "v2" ||
		gv[0].ExpiresMs != gmi.Milliseconds() || !slices.Equal(gv[0].Reporters, []string{"10.77.0.11"}) ||
		gv[0].Source != "" || gv[0].Mode != "exclude" || gv[0].Bridge != "br0" {
		t.Fatalf("Groups = %+v", gv)
	}
	run(e, t0.Add(gmi-time.Millisecond))
	if !isMember(e, hostA, grp) {
		t.Fatal("membership gone before the group membership interval")
	}
	acts = run(e, t0.Add(gmi))
	if isMember(e, hostA, grp) {
		t.Fatal("membership still there after the group membership interval")
	}
	if got := kinds(acts, ActRemove); len(got) != 1 || got[0].Port != hostA {
		t.Fatalf("remove actions = %+v", got)
	}
	if ev := events(acts); !slices.Equal(ev, []EventKind{EventExpire}) {
		t.Fatalf("events = %v, want [expire]", ev)
	}
}

func TestRefreshExtendsAndRateLimitsMDBWrites(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	// Within the refresh interval: our timer moves, the kernel's is left alone.
	if n := len(kinds(e.HandleMessage(t0.Add(time.Second), hostA, report(2, grp), rawFrame), ActInstall)); n != 0 {
		t.Fatalf("refresh 1 s later wrote the MDB %d times, want 0", n)
	}
	later := t0.Add(e.cfg.MDBRefreshInterval)
	if n := len(kinds(e.HandleMessage(later, hostA, report(2, grp), rawFrame), ActInstall)); n != 1 {
		t.Fatalf("refresh after the refresh interval wrote the MDB %d times, want 1", n)
	}
	gmi := e.cfg.GroupMembershipInterval()
	run(e, t0.Add(gmi))
	if !isMember(e, hostA, grp) {
		t.Fatal("refreshed membership expired at the first report's deadline")
	}
	run(e, later.Add(gmi))
	if isMember(e, hostA, grp) {
		t.Fatal("membership outlived the last report's deadline")
	}
}

func TestLeaveSendsLastMemberQueriesThenPrunes(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	acts := e.HandleMessage(t0.Add(5*time.Second), hostA, leave(grp), rawFrame)
	tx := kinds(acts, ActTransmit)
	if len(tx) != 1 || tx[0].Port != hostA {
		t.Fatalf("leave transmitted %+v, want one query out of port a", tx)
	}
	q := queries(t, acts)[0]
	// No querier heard: our own query version (v3) it is.
	if q.Group != grp || !q.Src.IsUnspecified() || q.MaxResp != time.Second || q.Version != 3 {
		t.Fatalf("query = %v, want a v3 group-specific query for %v from 0.0.0.0, max resp 1s", q, grp)
	}
	if len(kinds(acts, ActRemove)) != 0 {
		t.Fatal("a leave on a non-fast-leave port removed the membership at once")
	}
	acts = run(e, t0.Add(6*time.Second+time.Millisecond))
	if n := len(queries(t, acts)); n != 1 {
		t.Fatalf("second last-member query: %d sent, want 1", n)
	}
	if !isMember(e, hostA, grp) {
		t.Fatal("pruned before the last member query time")
	}
	acts = run(e, t0.Add(7*time.Second))
	if isMember(e, hostA, grp) || len(kinds(acts, ActRemove)) != 1 {
		t.Fatal("not pruned at the last member query time (2 × 1 s)")
	}
	if ev := events(acts); !slices.Equal(ev, []EventKind{EventLeave}) {
		t.Fatalf("events = %v, want [leave]", ev)
	}
	if s := e.Stats(); s.SentQueries != 2 {
		t.Fatalf("sent_queries = %d, want 2", s.SentQueries)
	}
}

func TestReportAfterLeaveKeepsMembership(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	e.HandleMessage(t0.Add(time.Second), hostA, leave(grp), rawFrame)
	// Another host behind the same port answers the query.
	r := report(2, grp)
	r.Src = hostIP2
	e.HandleMessage(t0.Add(1500*time.Millisecond), hostA, r, rawFrame)
	acts := run(e, t0.Add(time.Minute))
	if !isMember(e, hostA, grp) {
		t.Fatal("membership pruned although a host answered the last-member query")
	}
	// Retransmissions go on, with the S flag set now that the group timer
	// is back up (RFC 3376 §6.6.3.1): other routers keep their timers.
	qs := queries(t, acts)
	if len(qs) != 1 || !qs[0].SuppressRouterSide || qs[0].Group != grp {
		t.Fatalf("queries after the answer = %v, want the one retransmission left, with S set", qs)
	}
	if g := e.Groups(t0.Add(time.Minute)); g[0].Leaving {
		t.Fatal("still shown as leaving after a report")
	}
}

func TestInstallFailedRetriesOnNextReport(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	e.InstallFailed(hostA, grpKey)
	if n := len(kinds(e.HandleMessage(t0.Add(time.Second), hostA, report(2, grp), rawFrame), ActInstall)); n != 1 {
		t.Fatalf("report after a failed install wrote the MDB %d times, want 1", n)
	}
	if s := e.Stats(); s.InstallFailed != 1 {
		t.Fatalf("install_failed = %d, want 1", s.InstallFailed)
	}
}

func TestPortDownFlushes(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	acts := e.PortDown(t0, hostA)
	if isMember(e, hostA, grp) || len(kinds(acts, ActRemove)) != 1 || !slices.Contains(events(acts), EventFlush) {
		t.Fatal("port down did not flush its memberships")
	}
	if acts := e.HandleMessage(t0, hostA, report(2, grp), rawFrame); len(acts) != 0 || isMember(e, hostA, grp) {
		t.Fatal("learned on a port that is down")
	}
	e.PortRemoved(t0, uplink)
	if len(e.Routers(t0)) != 0 {
		t.Fatal("a removed port stayed a router port")
	}
	if s := e.Stats(); s.Ignored["unknown_port"] != 1 {
		t.Fatalf("ignored = %v, want unknown_port 1", s.Ignored)
	}
}

// TestPortAddedListedBeforeUp checks that a port known but not yet active
// is listed (down, with its policy), learns nothing, and is activated by
// PortUp; PortAdded on an active port changes nothing.
func TestPortAddedListedBeforeUp(t *testing.T) {
	e := newEngine(t)
	const idle = 7
	e.PortAdded(idle, "fast")
	view := func() (PortView, bool) {
		for _, v := range e.Ports() {
			if v.Port == "fast" {
				return v, true
			}
		}
		return PortView{}, false
	}
	if v, ok := view(); !ok || v.Up || !v.FastLeave {
		t.Fatalf("added port listed as %+v, %t; want down, with its fast-leave policy", v, ok)
	}
	if acts := e.HandleMessage(t0, idle, report(2, grp), rawFrame); len(acts) != 0 || isMember(e, idle, grp) {
		t.Fatal("learned on a port that is not up")
	}
	// Renamed while down: listed, and governed, under its new name.
	e.PortAdded(idle, "plain")
	if v, ok := view(); ok {
		t.Fatalf("still listed under the old name: %+v", v)
	}
	e.PortAdded(idle, "fast")
	e.PortUp(t0, idle, "fast")
	e.PortAdded(idle, "other") // up: left alone
	if v, _ := view(); !v.Up || !v.FastLeave {
		t.Fatalf("after PortUp and a PortAdded while up: %+v, want up, fast-leave", v)
	}
	e.HandleMessage(t0, idle, report(2, grp), rawFrame)
	if !isMember(e, idle, grp) {
		t.Fatal("not learned once up")
	}
}

// TestUnknownRecordsCounted checks that records of unknown types, which the
// decoder skips (RFC 3376 §4.2.12), are counted per port, and the report's
// other records still learned and the report relayed as it came.
func TestUnknownRecordsCounted(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	m := v3(rec(wire.ChangeToExclude))
	m.SkippedRecords = 2
	acts := e.HandleMessage(t0, hostA, m, rawFrame)
	if !isMember(e, hostA, grp) {
		t.Fatal("the known record was not learned")
	}
	relayed := kinds(acts, ActTransmit)
	if len(relayed) != 1 || relayed[0].Port != uplink || string(relayed[0].Frame) != string(rawFrame) {
		t.Errorf("relayed %v, want the frame as it came to the router port", relayed)
	}
	if n := e.Stats().Ports["a"].Ignored["unknown_record_type"]; n != 2 {
		t.Errorf("port a ignored unknown_record_type = %d, want 2", n)
	}
	if n := e.Stats().Ignored["unknown_record_type"]; n != 2 {
		t.Errorf("ignored unknown_record_type = %d, want 2", n)
	}
}

func TestLimitRefusesAndCounts(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Limits = fdb.Limits{MaxPerPort: 1} })
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	acts := e.HandleMessage(t0, hostA, report(2, netip.MustParseAddr("239.9.9.9")), rawFrame)
	if !slices.Contains(events(acts), EventLimit) || len(kinds(acts, ActInstall)) != 0 {
		t.Fatalf("actions = %+v, want a limit_hit event and no install", acts)
	}
	if s := e.Stats(); s.Ignored["port_limit"] != 1 || s.Memberships != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestAdoptKeepsEarlierEntryUntilRefreshedOrExpired(t *testing.T) {
	e := newEngine(t)
	acts := e.Adopt(t0, hostA, grpKey, fdb.Exclude, nil, 30*time.Second)
	if len(kinds(acts, ActInstall)) != 0 || !slices.Contains(events(acts), EventAdopt) {
		t.Fatalf("adopt actions = %+v, want an adopt event and no MDB write", acts)
	}
	// The first report rewrites the entry: its kernel timer is unknown.
	if n := len(kinds(e.HandleMessage(t0.Add(time.Second), hostA, report(2, grp), rawFrame), ActInstall)); n != 1 {
		t.Fatalf("first report after adopt wrote the MDB %d times, want 1", n)
	}
	e.Adopt(t0, hostB, grpKey, fdb.Include, addrs(1), 0)
	if g := e.table.Get(grpKey, hostB); g.Mode != fdb.Include || len(g.Sources) != 1 {
		t.Fatalf("adopted INCLUDE entry = %+v", g)
	}
	run(e, t0.Add(e.cfg.GroupMembershipInterval()))
	if isMember(e, hostB, grp) {
		t.Fatal("adopted entry without reports outlived one membership interval")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"robustness 0", func(c *Config) { c.Robustness = 0 }},
		{"response >= interval", func(c *Config) { c.QueryResponseInterval = c.QueryInterval }},
		{"no last member count", func(c *Config) { c.LastMemberQueryCount = 0 }},
		{"negative LMQI", func(c *Config) { c.LastMemberQueryInterval = -1 }},
		{"IGMP querier version 1", func(c *Config) { c.IGMPVersion = 1 }},
		{"global MLD querier address", func(c *Config) { c.QuerierAddr6 = netip.MustParseAddr("2001:db8::1") }},
		{"IPv6 IGMP querier address", func(c *Config) { c.QuerierAddr4 = self6 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			if _, err := New(c, t0); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestStatsNameEveryReason(t *testing.T) {
	e := newEngine(t)
	e.Refused(hostA, wire.ReasonBadIGMPChecksum)
	s := e.Stats()
	if s.Refused["bad_igmp_checksum"] != 1 || len(s.Refused) != len(wire.Reasons()) {
		t.Fatalf("refused = %v", s.Refused)
	}
	for _, name := range ignoreNames {
		if _, ok := s.Ignored[name]; !ok || strings.Contains(name, " ") {
			t.Fatalf("ignore reason %q missing from stats", name)
		}
	}
}

// TestLastMemberQueryUsesQuerierVersion: a v3 query in an IGMPv2 network
// would be misread, and a v2 one in a v3 network would push v3 hosts into
// compatibility mode (RFC 4541 C5): use the querier's version.
func TestLastMemberQueryUsesQuerierVersion(t *testing.T) {
	for _, v := range []int{2, 3} {
		e := newEngine(t)
		e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), v), rawFrame)
		e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
		qs := queries(t, e.HandleMessage(t0.Add(time.Second), hostA, leave(grp), rawFrame))
		if len(qs) != 1 || qs[0].Version != v {
			t.Fatalf("querier v%d: sent %v", v, qs)
		}
	}
}
