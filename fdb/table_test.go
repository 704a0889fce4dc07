package fdb

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func key(g string) Key { return Key{Group: netip.MustParseAddr(g)} }

func TestJoinRemoveCounts(t *testing.T) {
	tb := New(Limits{})
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
			tb := New(tt.limits)
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

func TestReportersNewestFirstBounded(t *testing.T) {
	var m Membership
	for _, a := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.5"} {
		m.AddReporter(netip.MustParseAddr(a))
	}
	got := m.Reporters()
	want := []string{"10.0.0.5", "10.0.0.4", "10.0.0.3", "10.0.0.1"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestRemovePortAndRouters(t *testing.T) {
	tb := New(Limits{})
	now := time.Unix(1000, 0)
	for _, g := range []string{"239.0.0.2", "239.0.0.1"} {
		if _, _, err := tb.Join(key(g), 7); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tb.Join(key("239.0.0.1"), 8); err != nil {
		t.Fatal(err)
	}
	tb.SetRouter(7, now)
	tb.SetRouter(9, time.Time{})
	gone := tb.RemovePort(7)
	if len(gone) != 2 || gone[0].Key.Group.String() != "239.0.0.1" || gone[1].Key.Group.String() != "239.0.0.2" {
		t.Fatalf("RemovePort returned %v", gone)
	}
	if _, ok := tb.Router(7); ok {
		t.Fatal("router state of a removed port must go")
	}
	if tb.Len() != 1 || tb.PortLen(7) != 0 {
		t.Fatalf("Len=%d PortLen(7)=%d", tb.Len(), tb.PortLen(7))
	}
	tb.SetRouter(3, now)
	if got := tb.AppendRouterPorts(nil, 3); len(got) != 1 || got[0] != 9 {
		t.Fatalf("AppendRouterPorts except 3 = %v, want [9]", got)
	}
	if rs := tb.Routers(); len(rs) != 2 || rs[0].Port != 3 || rs[1].Port != 9 {
		t.Fatalf("Routers = %v", rs)
	}
}
