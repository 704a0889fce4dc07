package snoop

import (
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Engine benchmarks: what one report costs the engine goroutine, and what
// the timers cost at scale. One core; the engine is single-threaded.
//
//	go test -run '^$' -bench . -benchmem ./snoop
//
// The bridge has 64 host ports (1..64) and a router port (100) that every
// report is relayed to, as on a real LAN with a querier. Memberships fill
// the 64 ports group after group (100 000 memberships are 1 563 groups on
// every port), and the group limit is the daemon's for mcast_hash_max
// 16384 (12 288 groups).

const (
	benchPorts  = 64
	benchRouter = 100
)

var benchFrame = make([]byte, 46) // stands for the report frame relayed to the router port

func benchEngine(tb testing.TB, mutate ...func(*Config)) *Engine {
	tb.Helper()
	c := DefaultConfig()
	c.Bridge = "br0"
	c.QuerySourceMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	c.QuerierAddr6 = netip.MustParseAddr("fe80::99")
	c.Limits = fdb.Limits{MaxKeys: 12288}
	for _, f := range mutate {
		f(&c)
	}
	e, err := New(c, t0)
	if err != nil {
		tb.Fatal(err)
	}
	for p := 1; p <= benchPorts; p++ {
		e.PortUp(t0, p, "p"+string(rune('0'+p/10))+string(rune('0'+p%10)))
	}
	e.PortUp(t0, benchRouter, "up")
	// A querier on the router port makes it a router port.
	q := &wire.Message{Kind: wire.KindQuery, Proto: wire.IGMP, Version: 3, Src: netip.MustParseAddr("10.0.0.1"),
		Dst: wire.AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 10 * time.Second, QRV: 2, QueryInterval: 125 * time.Second}
	e.HandleMessage(t0, benchRouter, q, benchFrame)
	return e
}

// benchGroup is the i-th group: 239.x.y.z, distinct for i < 2^24.
func benchGroup(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{239, byte(i >> 16), byte(i >> 8), byte(i)})
}

// benchHost is the i-th port's reporting host.
func benchHost(port int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 1, byte(port >> 8), byte(port)})
}

// benchMember is membership i: group i/64 on port 1+i%64.
func benchMember(i int) (port int, g netip.Addr) { return 1 + i%benchPorts, benchGroup(i / benchPorts) }

func v2Report(host, g netip.Addr) *wire.Message {
	return &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2, Src: host, Dst: g, Group: g}
}

func v2Leave(host, g netip.Addr) *wire.Message {
	return &wire.Message{Kind: wire.KindLeave, Proto: wire.IGMP, Version: 2, Src: host, Dst: wire.AllRouters, Group: g}
}

func v3Report(host, g netip.Addr) *wire.Message {
	return &wire.Message{Kind: wire.KindReportV3, Proto: wire.IGMP, Version: 3, Src: host, Dst: wire.IGMPv3Routers,
		Records: []wire.GroupRecord{{Type: wire.ModeIsExclude, Group: g}}}
}

// fill joins memberships 0..n-1 at now.
func fill(tb testing.TB, e *Engine, n int, now time.Time) {
	tb.Helper()
	m := &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2}
	for i := range n {
		port, g := benchMember(i)
		m.Src, m.Dst, m.Group = benchHost(port), g, g
		e.HandleMessage(now, port, m, benchFrame)
	}
	if e.table.Len() != n {
		tb.Fatalf("%d memberships, want %d", e.table.Len(), n)
	}
}

// BenchmarkHandleMessage measures one report, leave or join through the
// engine. Refresh benchmarks cycle over 10 000 existing memberships; the
// clock advances 1 µs per report, so the MDB entry of each is rewritten
// once per refresh interval, as in the daemon.
func BenchmarkHandleMessage(b *testing.B) {
	const members = 10000
	refresh := func(b *testing.B, msg func(host, g netip.Addr) *wire.Message) {
		e := benchEngine(b)
		fill(b, e, members, t0)
		msgs := make([]*wire.Message, members)
		for i := range msgs {
			port, g := benchMember(i)
			msgs[i] = msg(benchHost(port), g)
		}
		now := t0
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			now = now.Add(time.Microsecond)
			port, _ := benchMember(i)
			e.HandleMessage(now, port, msgs[i], benchFrame)
			if i++; i == members {
				i = 0
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	}
	b.Run("RefreshV2", func(b *testing.B) { refresh(b, v2Report) })
	b.Run("RefreshV3", func(b *testing.B) { refresh(b, v3Report) })

	// Join: a storm of new joins, each an IGMPv2 report for a group the
	// port does not have, so each creates a port group, its tracked host,
	// its timer and its MDB entry. In Join every report is for a group of
	// its own (a new key, on ports 1..64 in turn), as in bench/e2e's
	// storms; in JoinPort the groups are shared, a new port of a group
	// that other ports have. Each storm of 10 000 joins starts from a new
	// engine, built outside the timing: what the table and timer heap
	// allocate as they grow in steps counts, amortised over the storm
	// (allocs/join: allocs/op unrounded). In JoinAgain the storms follow
	// each other on one engine, each after the last one's memberships
	// expired (outside the timing), as in a daemon that has seen a storm.
	join := func(b *testing.B, member func(i int) (int, netip.Addr), again bool) {
		const storm = 10000 // under the group limit of 12 288
		var e *Engine
		var ms runtime.MemStats
		var mallocs, since uint64 // in the storms, at the storm's start
		m := &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2}
		now := t0
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%storm == 0 {
				b.StopTimer()
				if e != nil {
					runtime.ReadMemStats(&ms)
					mallocs += ms.Mallocs - since
				}
				if again && e != nil {
					now = now.Add(e.cfg.GroupMembershipInterval() + time.Second)
					e.Tick(now)
					if e.table.Len() != 0 {
						b.Fatalf("%d memberships left", e.table.Len())
					}
				} else {
					e = nil
					runtime.GC()
					e = benchEngine(b)
				}
				runtime.ReadMemStats(&ms)
				since = ms.Mallocs
				b.StartTimer()
			}
			port, g := member(i % storm)
			m.Src, m.Dst, m.Group = benchHost(port), g, g
			e.HandleMessage(now, port, m, benchFrame)
			i++
		}
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - since
		if want := (i-1)%storm + 1; e.table.Len() != want {
			b.Fatalf("%d memberships, want %d", e.table.Len(), want)
		}
		b.ReportMetric(float64(mallocs)/float64(b.N), "allocs/join")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "joins/s")
	}
	ownGroup := func(i int) (int, netip.Addr) { return 1 + i%benchPorts, benchGroup(i) }
	b.Run("Join", func(b *testing.B) { join(b, ownGroup, false) })
	b.Run("JoinPort", func(b *testing.B) { join(b, benchMember, false) })
	b.Run("JoinAgain", func(b *testing.B) { join(b, ownGroup, true) })

	// Leave: an IGMPv2 leave of an existing membership, on a normal port
	// (starts last-member queries: a group-specific query is built and
	// sent) and on a fast-leave port (the membership goes at once).
	leave := func(b *testing.B, fast bool) {
		const batch = 1 << 14
		var e *Engine
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%batch == 0 {
				b.StopTimer()
				e = benchEngine(b, func(c *Config) {
					if fast {
						c.PortDefault.FastLeave = true
					}
				})
				fill(b, e, batch, t0)
				b.StartTimer()
			}
			port, g := benchMember(i % batch)
			e.HandleMessage(t0, port, v2Leave(benchHost(port), g), benchFrame)
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
	}
	b.Run("Leave", func(b *testing.B) { leave(b, false) })
	b.Run("LeaveFast", func(b *testing.B) { leave(b, true) })
}

// BenchmarkTick measures the timers with 100 000 memberships over 64 ports.
//   - Idle: nothing due; what a wake-up costs with 1 000 and with 100 000
//     memberships waiting (it must not depend on their number).
//   - ExpireAll: every membership runs out in one sweep; ns/membership.
//   - Rearm: every membership's timer comes due after reports refreshed
//     it: each wake re-arms the timer at the new expiry; ns/membership.
func BenchmarkTick(b *testing.B) {
	const n = 100000
	for _, members := range []int{1000, n} {
		b.Run("Idle/"+strconv.Itoa(members), func(b *testing.B) {
			e := benchEngine(b)
			fill(b, e, members, t0)
			now := t0.Add(time.Second)
			b.ReportAllocs()
			for b.Loop() {
				e.Tick(now)
			}
		})
	}
	sweep := func(b *testing.B, refreshed bool) {
		b.ReportAllocs()
		gmi := DefaultConfig().GroupMembershipInterval()
		for b.Loop() {
			b.StopTimer()
			e := benchEngine(b)
			fill(b, e, n, t0)
			at := t0.Add(gmi)
			if refreshed {
				fill(b, e, n, t0.Add(time.Minute))
			}
			runtime.GC()
			b.StartTimer()
			e.Tick(at)
			b.StopTimer()
			want := 0
			if refreshed {
				want = n
			}
			if e.table.Len() != want {
				b.Fatalf("%d memberships left, want %d", e.table.Len(), want)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/membership")
	}
	b.Run("ExpireAll", func(b *testing.B) { sweep(b, false) })
	b.Run("Rearm", func(b *testing.B) { sweep(b, true) })
}

// BenchmarkEngineMemory reports the heap the engine holds per membership
// (table, tracked host, timer) at 100 000 memberships over 64 ports, each
// learned from an IGMPv2 report. ns/op is the time to learn them all.
func BenchmarkEngineMemory(b *testing.B) {
	const n = 100000
	var per float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		e := benchEngine(b)
		fill(b, e, n, t0)
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(e)
	}
	b.ReportMetric(per, "B/membership")
}

// TestRefreshDoesNotAllocate pins what BenchmarkHandleMessage shows: a
// report refreshing an existing membership allocates nothing, with or
// without an MDB rewrite.
func TestRefreshDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  func(host, g netip.Addr) *wire.Message
	}{{"v2", v2Report}, {"v3", v3Report}} {
		e := benchEngine(t)
		fill(t, e, 100, t0)
		port, g := benchMember(7)
		m := tc.msg(benchHost(port), g)
		now := t0
		step := time.Millisecond
		e.HandleMessage(now, port, m, benchFrame)
		if n := testing.AllocsPerRun(100, func() {
			now = now.Add(step)
			e.HandleMessage(now, port, m, benchFrame)
		}); n != 0 {
			t.Errorf("%s refresh: %v allocations per report, want 0", tc.name, n)
		}
		step = e.cfg.MDBRefreshInterval // every report rewrites the MDB entry
		if n := testing.AllocsPerRun(100, func() {
			now = now.Add(step)
			e.HandleMessage(now, port, m, benchFrame)
		}); n != 0 {
			t.Errorf("%s refresh with MDB rewrite: %v allocations per report, want 0", tc.name, n)
		}
	}
}

// TestJoinAllocatesInSteps pins what BenchmarkHandleMessage/Join shows: a
// storm of new groups allocates only as the table, its slabs and the
// timer heap grow in steps (well under one allocation in 20 joins), and
// a storm on an engine that has seen one allocates nothing.
func TestJoinAllocatesInSteps(t *testing.T) {
	const storm = 10000
	e := benchEngine(t)
	m := &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2}
	i := 0
	now := t0
	join := func() {
		port, g := 1+i%benchPorts, benchGroup(i)
		m.Src, m.Dst, m.Group = benchHost(port), g, g
		e.HandleMessage(now, port, m, benchFrame)
		i++
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range storm {
		join()
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n > storm/20 {
		t.Errorf("a storm of %d new groups made %d allocations, want at most %d", storm, n, storm/20)
	}
	now = now.Add(e.cfg.GroupMembershipInterval() + time.Second)
	e.Tick(now)
	if e.table.Len() != 0 {
		t.Fatalf("%d memberships left after they expired", e.table.Len())
	}
	if n := testing.AllocsPerRun(storm-1, join); n != 0 { // AllocsPerRun runs it once more
		t.Errorf("%v allocations per join on an engine that has seen a storm, want 0", n)
	}
}
