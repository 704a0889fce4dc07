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
	routeIP  = netip.MustParseAddr("10.77.0.1")
	rawFrame = []byte("raw frame bytes")
)

func testConfig() Config {
	c := DefaultConfig()
	c.Bridge = "br0"
	c.QuerySourceMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	c.FastLeave = map[string]bool{"fast": true}
	return c
}

func newEngine(t *testing.T, mutate ...func(*Config)) *Engine {
	t.Helper()
	c := testConfig()
	for _, f := range mutate {
		f(&c)
	}
	e, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	e.PortUp(hostA, "a")
	e.PortUp(hostB, "b")
	e.PortUp(uplink, "up")
	return e
}

func report(version int, g netip.Addr) *wire.Message {
	return &wire.Message{Kind: wire.KindReport, Version: version, Src: hostIP, Group: g}
}

func leave(g netip.Addr) *wire.Message {
	return &wire.Message{Kind: wire.KindLeave, Version: 2, Src: hostIP, Group: g}
}

func v3(recs ...wire.GroupRecord) *wire.Message {
	return &wire.Message{Kind: wire.KindReportV3, Version: 3, Src: hostIP, Records: recs}
}

func query(src netip.Addr, g netip.Addr, version int) *wire.Message {
	return &wire.Message{Kind: wire.KindQuery, Version: version, Src: src, Group: g, MaxResp: time.Second}
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

func isMember(e *Engine, port int, g netip.Addr) bool {
	return e.table.Get(fdb.Key{Group: g}, port) != nil
}

// run ticks the engine at every deadline up to and including end.
func run(e *Engine, end time.Time) []Action {
	var all []Action
	for i := 0; i < 10000; i++ {
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
	if got := kinds(acts, ActInstall); len(got) != 1 || got[0].Port != hostA || got[0].Key != grpKey {
		t.Fatalf("install actions = %+v", got)
	}
	if ev := events(acts); !slices.Equal(ev, []EventKind{EventJoin}) {
		t.Fatalf("events = %v, want [join]", ev)
	}
	gmi := e.cfg.GroupMembershipInterval()
	if gmi != 260*time.Second {
		t.Fatalf("default GMI = %v, want 260s (RFC 3376 §8.4)", gmi)
	}
	gv := e.Groups(t0)
	if len(gv) != 1 || gv[0].Group != "239.1.2.3" || gv[0].Port != "a" || gv[0].Version != 2 ||
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
	acts := e.HandleMessage(t0.Add(time.Second), hostA, report(2, grp), rawFrame)
	if n := len(kinds(acts, ActInstall)); n != 0 {
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
	q, err := wire.Decode(tx[0].Frame)
	if err != nil {
		t.Fatalf("query frame does not decode: %v", err)
	}
	if q.Kind != wire.KindQuery || q.Group != grp || !q.Src.IsUnspecified() || q.MaxResp != time.Second || q.Version != 2 {
		t.Fatalf("query = %+v, want a v2 group-specific query for %v from 0.0.0.0, max resp 1s", q, grp)
	}
	if len(kinds(acts, ActRemove)) != 0 {
		t.Fatal("a leave on a non-fast-leave port removed the membership at once")
	}
	acts = run(e, t0.Add(6*time.Second+time.Millisecond))
	if n := len(kinds(acts, ActTransmit)); n != 1 {
		t.Fatalf("second last-member query: %d transmitted, want 1", n)
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
	e.HandleMessage(t0.Add(1500*time.Millisecond), hostA, report(2, grp), rawFrame)
	acts := run(e, t0.Add(time.Minute))
	if !isMember(e, hostA, grp) {
		t.Fatal("membership pruned although a host answered the last-member query")
	}
	if n := len(kinds(acts, ActTransmit)); n != 0 {
		t.Fatalf("%d queries sent after the answer, want 0", n)
	}
	if g := e.Groups(t0.Add(time.Minute)); g[0].Leaving {
		t.Fatal("still shown as leaving after a report")
	}
}

func TestFastLeaveRemovesAtOnce(t *testing.T) {
	e := newEngine(t)
	e.PortUp(5, "fast")
	e.HandleMessage(t0, 5, report(2, grp), rawFrame)
	acts := e.HandleMessage(t0.Add(time.Second), 5, leave(grp), rawFrame)
	if isMember(e, 5, grp) || len(kinds(acts, ActRemove)) != 1 || len(kinds(acts, ActTransmit)) != 0 {
		t.Fatalf("fast-leave: member=%v actions=%+v", isMember(e, 5, grp), acts)
	}
}

func TestNeverLearned(t *testing.T) {
	tests := []struct {
		name string
		msg  *wire.Message
	}{
		{"224.0.0.251 report (RFC 4541 D2)", report(2, netip.MustParseAddr("224.0.0.251"))},
		{"224.0.0.1 v3 TO_EX", v3(wire.GroupRecord{Type: wire.ChangeToExclude, Group: netip.MustParseAddr("224.0.0.1")})},
		{"BLOCK is not a join", v3(wire.GroupRecord{Type: wire.BlockOldSources, Group: grp, Sources: []netip.Addr{hostIP}})},
		{"ALLOW{} is not a join", v3(wire.GroupRecord{Type: wire.AllowNewSources, Group: grp})},
		{"IS_IN{} is not a join", v3(wire.GroupRecord{Type: wire.ModeIsInclude, Group: grp})},
		{"query is not a join", query(routeIP, grp, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t)
			acts := e.HandleMessage(t0, hostA, tt.msg, rawFrame)
			if e.table.Len() != 0 || len(kinds(acts, ActInstall)) != 0 {
				t.Fatalf("learned: table=%v actions=%+v", e.Groups(t0), acts)
			}
		})
	}
}

// TestIGMPv3RecordsAsAnySource checks the (*,G) treatment of every record
// type from both states (member / not a member).
func TestIGMPv3RecordsAsAnySource(t *testing.T) {
	src := []netip.Addr{netip.MustParseAddr("10.9.9.9")}
	tests := []struct {
		rt        wire.RecordType
		sources   []netip.Addr
		fromNone  bool // member afterwards, starting as non-member
		leaveFrom bool // a member starts last-member queries
	}{
		{wire.ModeIsInclude, nil, false, true},
		{wire.ModeIsInclude, src, true, false},
		{wire.ModeIsExclude, nil, true, false},
		{wire.ModeIsExclude, src, true, false},
		{wire.ChangeToInclude, nil, false, true},
		{wire.ChangeToInclude, src, true, false},
		{wire.ChangeToExclude, nil, true, false},
		{wire.ChangeToExclude, src, true, false},
		{wire.AllowNewSources, src, true, false},
		{wire.BlockOldSources, src, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.rt.String()+"/"+map[bool]string{true: "sources", false: "empty"}[len(tt.sources) > 0], func(t *testing.T) {
			rec := wire.GroupRecord{Type: tt.rt, Group: grp, Sources: tt.sources}
			e := newEngine(t)
			e.HandleMessage(t0, hostA, v3(rec), rawFrame)
			if got := isMember(e, hostA, grp); got != tt.fromNone {
				t.Fatalf("from no membership: member=%v, want %v", got, tt.fromNone)
			}
			e = newEngine(t)
			e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
			acts := e.HandleMessage(t0.Add(time.Second), hostA, v3(rec), rawFrame)
			if got := len(kinds(acts, ActTransmit)) == 1; got != tt.leaveFrom {
				t.Fatalf("from membership: started leave=%v, want %v (actions %+v)", got, tt.leaveFrom, acts)
			}
			if !isMember(e, hostA, grp) {
				t.Fatal("a v3 record removed a membership without last-member queries")
			}
		})
	}
}

func TestRouterPortsAndRelay(t *testing.T) {
	e := newEngine(t)
	// A proxy query from 0.0.0.0 must not make a router port (RFC 4541 C2).
	e.HandleMessage(t0, hostB, query(netip.IPv4Unspecified(), netip.IPv4Unspecified(), 2), rawFrame)
	if len(e.Routers(t0)) != 0 {
		t.Fatal("query from 0.0.0.0 made a router port")
	}
	acts := e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	if ev := events(acts); !slices.Contains(ev, EventRouterAdd) {
		t.Fatalf("events = %v, want router_add", ev)
	}
	// Reports go to router ports only, never to other host ports or back.
	acts = e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	tx := kinds(acts, ActTransmit)
	if len(tx) != 1 || tx[0].Port != uplink || string(tx[0].Frame) != string(rawFrame) {
		t.Fatalf("relayed %+v, want the frame once to the uplink", tx)
	}
	if tx := kinds(e.HandleMessage(t0, uplink, report(2, grp), rawFrame), ActTransmit); len(tx) != 0 {
		t.Fatalf("a report from the router port was sent %+v, want nowhere", tx)
	}
	if tx := kinds(e.HandleMessage(t0, hostA, leave(grp), rawFrame), ActTransmit); len(tx) != 2 {
		t.Fatalf("leave: transmitted %d frames, want a relay and a query", len(tx))
	}
	oqpi := e.cfg.OtherQuerierPresentInterval()
	if oqpi != 255*time.Second {
		t.Fatalf("OQPI = %v, want 255s (RFC 3376 §8.5)", oqpi)
	}
	run(e, t0.Add(oqpi-time.Millisecond))
	if len(e.Routers(t0)) != 1 {
		t.Fatal("router port aged before the other querier present interval")
	}
	acts = run(e, t0.Add(oqpi))
	if len(e.Routers(t0)) != 0 || !slices.Contains(events(acts), EventRouterExpire) {
		t.Fatal("router port did not age out at the other querier present interval")
	}
}

func TestQuerierHeardAndLost(t *testing.T) {
	e := newEngine(t)
	if e.QuerierPresent() {
		t.Fatal("querier present before any query")
	}
	acts := e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	if !slices.Contains(events(acts), EventQuerierHeard) || !e.QuerierPresent() {
		t.Fatal("querier not heard")
	}
	// A higher address does not take over (lowest address wins).
	e.HandleMessage(t0.Add(time.Second), hostB, query(netip.MustParseAddr("10.77.0.200"), netip.IPv4Unspecified(), 2), rawFrame)
	if q := e.Querier(t0.Add(time.Second)); q.Address != "10.77.0.1" || q.Version != 3 || q.Port != "up" {
		t.Fatalf("querier = %+v", q)
	}
	acts = run(e, t0.Add(time.Second+e.cfg.OtherQuerierPresentInterval()))
	if !slices.Contains(events(acts), EventQuerierLost) || e.QuerierPresent() {
		t.Fatal("querier not lost after the other querier present interval")
	}
}

func TestGroupSpecificQueryLowersTimersAndForcesRefresh(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	e.HandleMessage(t0, hostB, report(2, grp), rawFrame)
	e.HandleMessage(t0.Add(time.Second), uplink, query(routeIP, grp, 2), rawFrame)
	// Host B answers; host A stays silent.
	acts := e.HandleMessage(t0.Add(1500*time.Millisecond), hostB, report(2, grp), rawFrame)
	if n := len(kinds(acts, ActInstall)); n != 1 {
		t.Fatalf("answer to a group-specific query wrote the MDB %d times, want 1 (the kernel lowered its timer too)", n)
	}
	run(e, t0.Add(3*time.Second))
	if isMember(e, hostA, grp) || !isMember(e, hostB, grp) {
		t.Fatalf("after LMQT: a=%v (want pruned) b=%v (want kept)", isMember(e, hostA, grp), isMember(e, hostB, grp))
	}
}

func TestPortDownFlushes(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	acts := e.PortDown(t0, hostA)
	if isMember(e, hostA, grp) || len(kinds(acts, ActRemove)) != 1 {
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
	acts := e.Adopt(t0, hostA, grpKey, 30*time.Second)
	if len(kinds(acts, ActInstall)) != 0 || !slices.Contains(events(acts), EventAdopt) {
		t.Fatalf("adopt actions = %+v, want an adopt event and no MDB write", acts)
	}
	// The first report rewrites the entry: its kernel timer is unknown.
	if n := len(kinds(e.HandleMessage(t0.Add(time.Second), hostA, report(2, grp), rawFrame), ActInstall)); n != 1 {
		t.Fatalf("first report after adopt wrote the MDB %d times, want 1", n)
	}
	e.Adopt(t0, hostB, grpKey, 0)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			if _, err := New(c); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
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
