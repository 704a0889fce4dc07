package fdb

import (
	"errors"
	"net/netip"
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
