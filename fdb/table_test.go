package fdb

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func key(g string) Key { return Key{Group: netip.MustParseAddr(g)} }

func TestJoinRemoveCounts(t *testing.T) {
	tb := New(Limits{}, time.Now())
	m, created, err := tb.Join(key("239.1.1.1"), 3)
	if err != nil || !created || m == nil {
		t.Fatalf("first join: m=%v created=%v err=%v", m, created, err)
	}
	m2, created, err := tb.Join(key("239.1.1.1"), 3)
	if err != nil || created || m2 != m {
		t.Fatalf("second join must return the same membership: created=%v err=%v", created, err)
	}
	if _, _, err := tb.Join(key("239.1.1.1"), 4); err != nil {
		t.Fatal(err)
	}
	if tb.Len() != 2 || tb.Keys() != 1 || tb.PortLen(3) != 1 {
		t.Fatalf("Len=%d Keys=%d PortLen(3)=%d, want 2 1 1", tb.Len(), tb.Keys(), tb.PortLen(3))
	}
	if !tb.Remove(key("239.1.1.1"), 3) || tb.Remove(key("239.1.1.1"), 3) {
		t.Fatal("Remove must succeed once, then report false")
	}
	if tb.Get(key("239.1.1.1"), 3) != nil || tb.Get(key("239.1.1.1"), 4) == nil {
		t.Fatal("wrong membership removed")
	}
	if tb.Keys() != 1 || tb.PortLen(3) != 0 {
		t.Fatalf("after remove Keys=%d PortLen(3)=%d", tb.Keys(), tb.PortLen(3))
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		joins  []struct {
			g    string
			port int
		}
		wantErr error
	}{
		{"port limit", Limits{MaxPerPort: 2}, []struct {
			g    string
			port int
		}{{"239.0.0.1", 1}, {"239.0.0.2", 1}, {"239.0.0.3", 1}}, ErrPortLimit},
		{"port limit is per port", Limits{MaxPerPort: 1}, []struct {
			g    string
			port int
		}{{"239.0.0.1", 1}, {"239.0.0.1", 2}}, nil},
		{"key limit", Limits{MaxKeys: 2}, []struct {
			g    string
			port int
		}{{"239.0.0.1", 1}, {"239.0.0.2", 2}, {"239.0.0.3", 3}}, ErrKeyLimit},
		{"key limit counts keys not ports", Limits{MaxKeys: 1}, []struct {
			g    string
			port int
		}{{"239.0.0.1", 1}, {"239.0.0.1", 2}, {"239.0.0.1", 3}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := New(tt.limits, time.Now())
			var err error
			for _, j := range tt.joins {
				if _, _, err = tb.Join(key(j.g), j.port); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && tb.Len() != len(tt.joins)-1 {
				t.Fatalf("a refused join must not be stored: Len=%d", tb.Len())
			}
		})
	}
}

func TestSourcesSortedAndBounded(t *testing.T) {
	var pg PortGroup
	now := NewClock(time.Now()).TimeOf(time.Unix(100, 0))
	for _, a := range []string{"10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.1"} {
		if !pg.SetSource(netip.MustParseAddr(a), now, 3) {
			t.Fatalf("SetSource(%s) refused under the limit", a)
		}
	}
	if pg.SetSource(netip.MustParseAddr("10.0.0.9"), now, 3) {
		t.Fatal("SetSource accepted a fourth source over a limit of 3")
	}
	var got []string
	for _, s := range pg.Sources {
		got = append(got, s.Addr.String())
	}
	if strings.Join(got, ",") != "10.0.0.1,10.0.0.2,10.0.0.3" {
		t.Fatalf("sources %v, want sorted and unique", got)
	}
}

func TestForwarding(t *testing.T) {
	c := NewClock(time.Now())
	now := c.TimeOf(time.Unix(100, 0))
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	inc := PortGroup{Mode: Include, Sources: []Source{{a, c.TimeOf(time.Unix(101, 0))}, {b, now}}}
	if mode, srcs := inc.Forwarding(now); mode != Include || len(srcs) != 1 || srcs[0] != a {
		t.Fatalf("INCLUDE forwarding = %v %v, want include [a] (b's timer ran out)", mode, srcs)
	}
	exc := PortGroup{Mode: Exclude, Sources: []Source{{a, c.TimeOf(time.Unix(101, 0))}, {b, 0}}}
	if mode, srcs := exc.Forwarding(now); mode != Exclude || len(srcs) != 1 || srcs[0] != b {
		t.Fatalf("EXCLUDE forwarding = %v %v, want exclude [b] (timer off = excluded)", mode, srcs)
	}
	h := Host{Mode: Exclude, Sources: []netip.Addr{b}}
	if !h.Wants(a) || h.Wants(b) || !h.Wants(netip.Addr{}) {
		t.Fatal("EXCLUDE{b} host must want a and any source, not b")
	}
	h = Host{Mode: Include, Sources: []netip.Addr{a}}
	if !h.Wants(a) || h.Wants(b) || h.Wants(netip.Addr{}) {
		t.Fatal("INCLUDE{a} host must want only a")
	}
}

func TestRemovePortAndRouters(t *testing.T) {
	tb := New(Limits{}, time.Now())
	now := time.Unix(1000, 0)
	for _, g := range []string{"239.0.0.2", "239.0.0.1"} {
		if _, _, err := tb.Join(key(g), 7); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tb.Join(key("239.0.0.1"), 8); err != nil {
		t.Fatal(err)
	}
	v4 := RouterKey{Port: 7}
	if !tb.SetRouter(v4, now, "query") || tb.SetRouter(v4, now.Add(time.Second), "pim") {
		t.Fatal("SetRouter must report a new router once")
	}
	if r := tb.Router(v4); r.Via != "pim" || !r.Expires.Equal(now.Add(time.Second)) {
		t.Fatalf("router = %+v, want the later expiry and the latest cause", r)
	}
	tb.SetRouter(RouterKey{Port: 9}, time.Time{}, "static")
	tb.SetRouter(RouterKey{Port: 9}, now, "query")
	if r := tb.Router(RouterKey{Port: 9}); r.Via != "static" || !r.Expires.IsZero() {
		t.Fatalf("a static router port became %+v", r)
	}
	gone := tb.RemovePort(7)
	if len(gone) != 2 || gone[0].Key.Group.String() != "239.0.0.1" || gone[1].Key.Group.String() != "239.0.0.2" {
		t.Fatalf("RemovePort returned %v", gone)
	}
	if tb.Router(v4) != nil {
		t.Fatal("router state of a removed port must go")
	}
	if tb.Len() != 1 || tb.PortLen(7) != 0 {
		t.Fatalf("Len=%d PortLen(7)=%d", tb.Len(), tb.PortLen(7))
	}
	tb.SetRouter(RouterKey{Port: 3}, now, "query")
	tb.SetRouter(RouterKey{Port: 4, IPv6: true}, now, "query")
	tb.SetRouter(RouterKey{Port: 5, VLAN: 10}, now, "query")
	if got := tb.AppendRouterPorts(nil, 0, false, 3); len(got) != 1 || got[0] != 9 {
		t.Fatalf("IPv4 VLAN 0 router ports except 3 = %v, want [9]", got)
	}
	if got := tb.AppendRouterPorts(nil, 0, true, 0); len(got) != 1 || got[0] != 4 {
		t.Fatalf("IPv6 router ports = %v, want [4]", got)
	}
	if got := tb.AppendRouterPorts(nil, 10, false, 0); len(got) != 2 || got[0] != 5 || got[1] != 9 {
		t.Fatalf("VLAN 10 router ports = %v, want [5 9] (the static router port serves every VLAN)", got)
	}
	if rs := tb.Routers(); len(rs) != 4 || rs[0].Port != 3 || rs[3].Port != 9 {
		t.Fatalf("Routers = %v", rs)
	}
}

// TestRareStateKeepsEachValue: the state few port groups need (PortGroup:
// the IGMPv1 host timer, untrackable reporters, last-member and
// group-and-source-specific queries) reads back as set, each field on its
// own or beside the others, and reads zero once set back to zero.
func TestRareStateKeepsEachValue(t *testing.T) {
	srcs := []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	// Each field's setter, to a value (on) or to zero, and whether it
	// reads that value.
	fields := []struct {
		name string
		set  func(pg *PortGroup, on bool)
		is   func(pg *PortGroup) bool
	}{
		{"V1HostUntil", func(pg *PortGroup, on bool) { pg.SetV1HostUntil(Time(pick(on, 5))) },
			func(pg *PortGroup) bool { return pg.V1HostUntil() == 5 }},
		{"UntrackedUntil", func(pg *PortGroup, on bool) { pg.SetUntrackedUntil(Time(pick(on, 6))) },
			func(pg *PortGroup) bool { return pg.UntrackedUntil() == 6 }},
		{"QueriesLeft", func(pg *PortGroup, on bool) { pg.SetQueriesLeft(uint8(pick(on, 2))) },
			func(pg *PortGroup) bool { return pg.QueriesLeft() == 2 }},
		{"SourceQueriesLeft", func(pg *PortGroup, on bool) { pg.SetSourceQueriesLeft(uint8(pick(on, 3))) },
			func(pg *PortGroup) bool { return pg.SourceQueriesLeft() == 3 }},
		{"SourceQueries", func(pg *PortGroup, on bool) { pg.SetSourceQueries(srcs[:pick(on, 1)]) },
			func(pg *PortGroup) bool { return len(pg.SourceQueries()) == 1 && pg.SourceQueries()[0] == srcs[0] }},
	}
	// zero reports which field other than except is not zero, or "".
	zero := func(pg *PortGroup, except string) string {
		got := map[string]bool{
			"V1HostUntil": pg.V1HostUntil() != 0, "UntrackedUntil": pg.UntrackedUntil() != 0,
			"QueriesLeft": pg.QueriesLeft() != 0, "SourceQueriesLeft": pg.SourceQueriesLeft() != 0,
			"SourceQueries": len(pg.SourceQueries()) != 0, "NextQuery": pg.NextQuery() != 0,
		}
		for name, set := range got {
			if set && name != except {
				return name
			}
		}
		return ""
	}
	var fresh PortGroup
	if f := zero(&fresh, ""); f != "" {
		t.Fatalf("a new port group has %s set", f)
	}
	for i, f := range fields {
		var pg PortGroup
		f.set(&pg, true)
		if !f.is(&pg) {
			t.Errorf("%s set alone does not read back", f.name)
		}
		if o := zero(&pg, f.name); o != "" {
			t.Errorf("setting %s set %s too", f.name, o)
		}
		f.set(&pg, false)
		if o := zero(&pg, ""); o != "" {
			t.Errorf("%s set back to zero: %s still set", f.name, o)
		}
		// Beside every other field: clearing one keeps the others.
		for _, g := range fields {
			g.set(&pg, true)
		}
		f.set(&pg, false)
		if f.is(&pg) {
			t.Errorf("%s cleared beside the others still reads as set", f.name)
		}
		for j, g := range fields {
			if j != i && !g.is(&pg) {
				t.Errorf("clearing %s lost %s", f.name, g.name)
			}
		}
	}
}

// pick returns v if on, else 0.
func pick(on bool, v int) int {
	if on {
		return v
	}
	return 0
}

// TestNextQueryOnlyWhileQueriesLeft: NextQuery means nothing while no
// queries are left, so it is kept only while group-specific or
// group-and-source-specific queries remain, and is zero otherwise
// (NextQuery, SetNextQuery).
func TestNextQueryOnlyWhileQueriesLeft(t *testing.T) {
	var none PortGroup
	if none.SetNextQuery(5); none.NextQuery() != 0 {
		t.Error("NextQuery kept with no queries left")
	}
	var group PortGroup
	group.SetQueriesLeft(2)
	if group.SetNextQuery(5); group.NextQuery() != 5 {
		t.Errorf("NextQuery = %d with group-specific queries left, want 5", group.NextQuery())
	}
	var source PortGroup
	source.SetSourceQueriesLeft(2)
	if source.SetNextQuery(5); source.NextQuery() != 5 {
		t.Errorf("NextQuery = %d with source-specific queries left, want 5", source.NextQuery())
	}
	// The queries ran out (other rare state still set): the NextQuery
	// they had goes, and a new one is not kept.
	group.SetV1HostUntil(9)
	group.SetQueriesLeft(0)
	if group.NextQuery() != 0 {
		t.Errorf("NextQuery = %d once the queries ran out, want 0", group.NextQuery())
	}
	if group.SetNextQuery(7); group.NextQuery() != 0 {
		t.Errorf("NextQuery = %d after the queries ran out, want 0", group.NextQuery())
	}
	if group.V1HostUntil() != 9 {
		t.Error("SetNextQuery lost the IGMPv1 host timer")
	}
}

// TestSourceLimitZeroIsUnlimited: SetSource refuses a new source only
// with a limit (max > 0) that is reached; 0 means no limit, as in Limits.
func TestSourceLimitZeroIsUnlimited(t *testing.T) {
	var pg PortGroup
	for i := range 300 {
		if !pg.SetSource(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1, 0) {
			t.Fatalf("source %d refused without a limit", i+1)
		}
	}
	if len(pg.Sources) != 300 {
		t.Fatalf("%d sources, want 300", len(pg.Sources))
	}
}

// TestHostTracking: explicit host tracking finds each reporter by its
// address, and forgetting one reporter keeps the others in order.
func TestHostTracking(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	pg := PortGroup{Hosts: []Host{{Addr: c, Mode: Include}, {Addr: b, Mode: Exclude}, {Addr: a, Mode: Include}}}
	if h := pg.Host(b); h == nil || h.Addr != b || h.Mode != Exclude {
		t.Fatalf("Host(b) = %+v", h)
	}
	if pg.Host(netip.MustParseAddr("10.0.0.9")) != nil {
		t.Fatal("Host of an untracked address is not nil")
	}
	// The host returned is the one tracked: a report updates it in place.
	pg.Host(a).Expires = 42
	if pg.Hosts[2].Expires != 42 {
		t.Fatal("Host returned a copy, not the tracked host")
	}
	pg.DeleteHost(b)
	if len(pg.Hosts) != 2 || pg.Hosts[0].Addr != c || pg.Hosts[1].Addr != a || pg.Host(b) != nil {
		t.Fatalf("after DeleteHost(b) hosts = %+v, want c, a", pg.Hosts)
	}
	pg.DeleteHost(netip.MustParseAddr("10.0.0.9"))
	if len(pg.Hosts) != 2 {
		t.Fatal("DeleteHost of an untracked address removed a host")
	}
}

// TestGroupsAreDeepCopies: Groups is for display, so what it returns
// holds all of each port group's state, rare state included, and shares
// none of it with the table: changing a copy changes no membership, and
// the table's later changes do not show in a copy.
func TestGroupsAreDeepCopies(t *testing.T) {
	tb := New(Limits{}, time.Now())
	s1, s2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	plain, _, _ := tb.Join(Key{VLAN: 2, Group: netip.MustParseAddr("239.0.0.1")}, 1)
	plain.Mode = Exclude
	rare, _, _ := tb.Join(Key{VLAN: 1, Group: netip.MustParseAddr("239.0.0.9")}, 4)
	rare.Mode = Include
	rare.SetSource(s1, 10, 0)
	rare.InstalledSources = []netip.Addr{s1}
	rare.Hosts = []Host{{Addr: s2, Mode: Include, Sources: []netip.Addr{s1}}}
	rare.SetQueriesLeft(2)
	rare.SetSourceQueriesLeft(1)
	rare.SetSourceQueries([]netip.Addr{s1})
	rare.SetNextQuery(7)
	rare.SetV1HostUntil(8)
	rare.SetUntrackedUntil(9)

	gs := tb.Groups()
	if len(gs) != 2 || gs[0].Port != 4 || gs[1].Port != 1 {
		t.Fatalf("Groups = %+v, want VLAN 1's membership first", gs)
	}
	if gs[1].Mode != Exclude || gs[1].QueriesLeft() != 0 || gs[1].SourceQueries() != nil {
		t.Fatalf("copy of the plain membership = %+v", gs[1])
	}
	c := &gs[0]
	if c.Mode != Include || len(c.Sources) != 1 || c.QueriesLeft() != 2 || c.SourceQueriesLeft() != 1 ||
		len(c.SourceQueries()) != 1 || c.NextQuery() != 7 || c.V1HostUntil() != 8 || c.UntrackedUntil() != 9 ||
		len(c.InstalledSources) != 1 || len(c.Hosts) != 1 || len(c.Hosts[0].Sources) != 1 {
		t.Fatalf("copy = %+v, want all of the membership's state", *c)
	}
	c.Sources[0].Expires = 99
	c.InstalledSources[0] = s2
	c.Hosts[0].Sources[0] = s2
	c.Hosts[0].Expires = 99
	c.SourceQueries()[0] = s2
	c.SetQueriesLeft(0)
	c.SetV1HostUntil(0)
	if rare.Sources[0].Expires != 10 || rare.InstalledSources[0] != s1 || rare.Hosts[0].Sources[0] != s1 ||
		rare.Hosts[0].Expires != 0 || rare.SourceQueries()[0] != s1 || rare.QueriesLeft() != 2 || rare.V1HostUntil() != 8 {
		t.Fatal("changing a copy changed the membership")
	}
	rare.SetUntrackedUntil(0)
	rare.SetSourceQueriesLeft(0)
	if c.UntrackedUntil() != 9 || c.SourceQueriesLeft() != 1 {
		t.Fatal("changing the membership changed a copy")
	}
}

// TestRemoveCountsPerPort: a port's count and groups follow each removal,
// one membership at a time, and other ports keep theirs.
func TestRemoveCountsPerPort(t *testing.T) {
	tb := New(Limits{}, time.Now())
	for _, g := range []string{"239.0.0.1", "239.0.0.2", "239.0.0.3"} {
		if _, _, err := tb.Join(key(g), 5); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tb.Join(key("239.0.0.1"), 6); err != nil {
		t.Fatal(err)
	}
	tb.Remove(key("239.0.0.2"), 5)
	if n, ks := tb.PortLen(5), tb.KeysOf(5); n != 2 || len(ks) != 2 || slices.Contains(ks, key("239.0.0.2")) {
		t.Fatalf("after removing one of three: PortLen(5)=%d KeysOf(5)=%v, want the other two", n, ks)
	}
	tb.Remove(key("239.0.0.1"), 5)
	if n, ks := tb.PortLen(5), tb.KeysOf(5); n != 1 || len(ks) != 1 || ks[0] != key("239.0.0.3") {
		t.Fatalf("after removing two of three: PortLen(5)=%d KeysOf(5)=%v", n, ks)
	}
	tb.Remove(key("239.0.0.3"), 5)
	if tb.PortLen(5) != 0 || tb.KeysOf(5) != nil || len(tb.RemovePort(5)) != 0 {
		t.Fatal("a port whose memberships are all removed still has some")
	}
	if tb.PortLen(6) != 1 || tb.KeyLen(key("239.0.0.1")) != 1 || tb.Len() != 1 {
		t.Fatalf("port 6: PortLen=%d KeyLen=%d Len=%d, want 1 1 1", tb.PortLen(6), tb.KeyLen(key("239.0.0.1")), tb.Len())
	}
	// Joining again after the port emptied counts from zero.
	if _, _, err := tb.Join(key("239.0.0.4"), 5); err != nil || tb.PortLen(5) != 1 {
		t.Fatalf("rejoin: err=%v PortLen(5)=%d", err, tb.PortLen(5))
	}
}

// TestRouterPortAnyVLANOrFamily: a port is a router port if it is one for
// any protocol in any VLAN, and stops being one when the last goes.
func TestRouterPortAnyVLANOrFamily(t *testing.T) {
	tb := New(Limits{}, time.Now())
	k := RouterKey{Port: 3, VLAN: 10, IPv6: true}
	if tb.RouterPort(3) {
		t.Fatal("router port in an empty table")
	}
	tb.SetRouter(k, time.Unix(100, 0), "mrd")
	tb.SetRouter(RouterKey{Port: 4}, time.Unix(100, 0), "query")
	if !tb.RouterPort(3) || !tb.RouterPort(4) || tb.RouterPort(5) {
		t.Fatalf("RouterPort 3 4 5 = %v %v %v, want true true false", tb.RouterPort(3), tb.RouterPort(4), tb.RouterPort(5))
	}
	if !tb.RemoveRouter(k) || tb.RemoveRouter(k) {
		t.Fatal("RemoveRouter must report a router port once")
	}
	if tb.RouterPort(3) || !tb.RouterPort(4) || tb.RouterCount() != 1 {
		t.Fatal("removing port 3's router state changed another port's")
	}
}

// TestRoutersOrder: Routers lists router ports by port, then VLAN, then
// family, IPv4 (IGMP) before IPv6 (MLD).
func TestRoutersOrder(t *testing.T) {
	tb := New(Limits{}, time.Now())
	want := []RouterKey{
		{Port: 1, VLAN: 1}, {Port: 1, VLAN: 1, IPv6: true}, {Port: 1, VLAN: 2}, {Port: 1, VLAN: 2, IPv6: true},
		{Port: 2, VLAN: 0}, {Port: 2, VLAN: 0, IPv6: true}, {Port: 2, VLAN: 5, IPv6: true},
	}
	for i := len(want) - 1; i >= 0; i-- {
		tb.SetRouter(want[i], time.Unix(100, 0), "query")
	}
	for range 5 { // map order varies from call to call
		rs := tb.Routers()
		got := make([]RouterKey, len(rs))
		for i, r := range rs {
			got[i] = r.RouterKey
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Routers order %v, want %v", got, want)
		}
	}
}

// TestRouterExpiryOnlyExtends: a learned router port lasts as long as the
// longest-lived sign of a router (a query, a PIM hello's holdtime, an MRD
// advertisement): a shorter one does not cut it short, but it still names
// the latest cause; a zero expiry makes it static for good.
func TestRouterExpiryOnlyExtends(t *testing.T) {
	tb := New(Limits{}, time.Now())
	k := RouterKey{Port: 2}
	long := time.Unix(1000, 0)
	tb.SetRouter(k, long, "pim")
	if tb.SetRouter(k, long.Add(-time.Minute), "query") {
		t.Fatal("an update reported a new router port")
	}
	if r := tb.Router(k); !r.Expires.Equal(long) || r.Via != "query" || r.Static() {
		t.Fatalf("after a shorter expiry: %+v, want the longer expiry and the latest cause", r)
	}
	tb.SetRouter(k, time.Time{}, "query")
	if r := tb.Router(k); !r.Expires.IsZero() || !r.Static() {
		t.Fatalf("after a zero expiry: %+v, want static", r)
	}
}
