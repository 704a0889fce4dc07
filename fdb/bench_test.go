package fdb

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// Table benchmarks: memory per membership at scale, and the operations
// the engine does per report.
//
//	go test -run '^$' -bench . -benchmem ./fdb

const benchPorts = 64

// benchMember is the i-th membership: the groups fill the 64 ports one
// after the other (1 563 groups for 100 000 memberships), as on a bridge
// whose hosts all watch the same channels.
func benchMember(i int) (Key, int) {
	g := i / benchPorts
	return Key{Group: netip.AddrFrom4([4]byte{239, byte(g >> 16), byte(g >> 8), byte(g)})}, 1 + i%benchPorts
}

// fillTable joins n memberships, each in the state an IGMPv2 report leaves
// it: EXCLUDE {}, group timer running, one tracked host.
func fillTable(tb testing.TB, t *Table, n int, now time.Time) {
	for i := range n {
		k, port := benchMember(i)
		pg, _, err := t.Join(k, port)
		if err != nil {
			tb.Fatal(err)
		}
		pg.Mode, pg.GroupExpires, pg.Generation = Exclude, t.TimeOf(now.Add(260*time.Second)), 2
		pg.V2HostUntil, pg.Refreshed, pg.Installed = pg.GroupExpires, t.TimeOf(now), t.TimeOf(now)
		pg.InstalledMode = Exclude
		pg.Hosts = append(pg.Hosts, Host{Addr: netip.AddrFrom4([4]byte{10, 1, 0, byte(port)}), Mode: Exclude, Expires: pg.GroupExpires})
	}
}

// BenchmarkTableMemory reports the heap a table holds per membership at
// 100 000 memberships over 64 ports (B/membership; target ≤ 256). ns/op is
// the time to build the whole table.
func BenchmarkTableMemory(b *testing.B) {
	const n = 100000
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var per float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t := New(Limits{MaxKeys: 12288, MaxPerPort: 4096}, time.Now())
		fillTable(b, t, n, now)
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		if t.Len() != n {
			b.Fatalf("%d memberships, want %d", t.Len(), n)
		}
		runtime.KeepAlive(t)
	}
	b.ReportMetric(per, "B/membership")
}

// BenchmarkTableGet looks up an existing membership among 100 000.
func BenchmarkTableGet(b *testing.B) {
	const n = 100000
	t := New(Limits{}, time.Now())
	fillTable(b, t, n, time.Now())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k, port := benchMember(i)
		if t.Get(k, port) == nil {
			b.Fatal("missing")
		}
		if i++; i == n {
			i = 0
		}
	}
}

// BenchmarkTableJoinRemove creates and removes a membership next to
// 100 000 others.
func BenchmarkTableJoinRemove(b *testing.B) {
	const n = 100000
	t := New(Limits{MaxKeys: 12288, MaxPerPort: 4096}, time.Now())
	fillTable(b, t, n, time.Now())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k, port := benchMember(n + i%benchPorts)
		if _, _, err := t.Join(k, port); err != nil {
			b.Fatal(err)
		}
		t.Remove(k, port)
		i++
	}
}
