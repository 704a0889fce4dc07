package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// discardKernel is the fake kernel with its MDB writes and port writes
// thrown away, so that what a benchmark counts is the daemon's work, not
// the fake's bookkeeping.
type discardKernel struct{ *fakeKernel }

func (k discardKernel) OpenMDB(bool) (MDB, error) { return discardMDB{}, nil }

func (k discardKernel) OpenPort(ifindex int, g bridge.GuardOptions) (Port, error) {
	p, err := k.fakeKernel.OpenPort(ifindex, g)
	if err != nil {
		return nil, err
	}
	return discardPort{p.(*fakePort)}, nil
}

type discardMDB struct{}

func (discardMDB) Dump(int) ([]bridge.Entry, error) { return nil, nil }
func (discardMDB) Write([]MDBOp) []error            { return nil }
func (discardMDB) Close() error                     { return nil }

type discardPort struct{ *fakePort }

func (discardPort) WriteFrames(frames [][]byte) (int, error) { return len(frames), nil }

// joinBench is a bridge loop running over a discardKernel: eight host
// ports (10..17) and a static router port (18) that every report is
// relayed to. Its clock is time.Now moved on by skip, so that memberships
// can expire without waiting, and a reading costs what it does in the
// daemon.
type joinBench struct {
	l      *bridgeLoop
	ctx    context.Context
	skip   time.Duration
	readAt time.Time // of the frames being handled
	frames [][]byte  // IGMPv2 reports, each for a group of its own
}

const (
	benchHostPorts = 8
	benchStorm     = 2000 // joins per storm, under the bridge's group limit
	benchReadBatch = 16   // frames per read, as the port readers' batches
)

// newJoinBench starts the loop, with observe as its latency observer.
func newJoinBench(tb testing.TB, observe func(time.Duration)) *joinBench {
	var names []string
	for i := range benchHostPorts + 1 {
		names = append(names, fmt.Sprintf("p%d", i))
	}
	k := newFakeKernel(names...)
	c := snoop.DefaultConfig()
	c.Bridge = "br0"
	c.Ports = map[string]snoop.PortPolicy{names[benchHostPorts]: {Router: true}}
	ctx, cancel := context.WithCancel(context.Background())
	jb := &joinBench{ctx: ctx}
	jb.l = newBridgeLoop(discardKernel{k}, zap.NewNop(), BridgeSettings{Name: "br0", Engine: c}, 77, newEventHub(), observe)
	jb.l.now = func() time.Time { return time.Now().Add(jb.skip) } // skip changes on the loop's goroutine only
	ready, done := make(chan error, 1), make(chan error, 1)
	go func() { done <- jb.l.run(ctx, ready) }()
	if err := <-ready; err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	for i := range benchStorm {
		port := 10 + i%benchHostPorts
		f, err := wire.EncodeReport(wire.Report{Version: 2, SrcMAC: hostMAC(port), Src: netip.AddrFrom4([4]byte{10, 77, 0, byte(port)}),
			Group: netip.AddrFrom4([4]byte{239, 9, byte(i >> 8), byte(i)})})
		if err != nil {
			tb.Fatal(err)
		}
		jb.frames = append(jb.frames, f)
	}
	return jb
}

// do runs f on the loop's goroutine.
func (jb *joinBench) do(tb testing.TB, f func()) {
	if err := jb.l.do(jb.ctx, f); err != nil {
		tb.Fatal(err)
	}
}

// join handles report i of a storm as a burst does: handleFrameAt (at
// the time of its read: a clock reading per benchReadBatch frames, with
// perRead, as handleBatch reads it once per round; a reading for each
// frame without, as the daemon did before), apply
// queueing the MDB write and the relay, and every maxBurst frames the
// burst's end handing them to the writer and the transmitter. Loop
// goroutine only.
func (jb *joinBench) join(i int, perRead bool) {
	jb.l.inBurst = true
	if !perRead || i%benchReadBatch == 0 {
		jb.readAt = jb.l.now()
	}
	jb.l.handleFrameAt(jb.readAt, 10+i%benchHostPorts, jb.frames[i%benchStorm])
	jb.l.inBurst = false
	if i%maxBurst == maxBurst-1 || i%benchStorm == benchStorm-1 {
		jb.l.writer.submit()
		jb.l.tx.flush()
	}
}

// expire lets every membership run out, and has their removals written.
// Loop goroutine only.
func (jb *joinBench) expire(tb testing.TB) {
	jb.skip += jb.l.settings.Engine.GroupMembershipInterval() + time.Second
	jb.l.tick(jb.l.now())
	jb.l.writer.sync()
	if n := jb.l.engine.Stats().Memberships; n != 0 {
		tb.Fatalf("%d memberships left after they expired", n)
	}
}

// BenchmarkJoinPath measures a join storm through the loop's per-frame
// path on a daemon that has seen storms before (the steady state): each
// join an IGMPv2 report for a new group, decoded, learned by the engine,
// its MDB write queued for the writer and the report relayed to the
// router port, writes and relays handed over every maxBurst frames.
// Storms of 2 000 joins follow each other, the memberships expiring in
// between (outside the timing). allocs/join is allocs/op unrounded; it
// counts the writer's and the transmitter's goroutines too. PerFrame
// reads the clock for every frame, PerRead once per read of
// benchReadBatch frames, as handleBatch does.
func BenchmarkJoinPath(b *testing.B) {
	b.Run("PerFrame", func(b *testing.B) { benchJoinPath(b, false) })
	b.Run("PerRead", func(b *testing.B) { benchJoinPath(b, true) })
}

func benchJoinPath(b *testing.B, perRead bool) {
	jb := newJoinBench(b, newMetrics(nil).loopObserver("br0"))
	var mallocs uint64
	jb.do(b, func() {
		for i := range benchStorm { // a first storm: the engine, writer and transmitter grow
			jb.join(i, perRead)
		}
		jb.expire(b)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		since := ms.Mallocs
		b.ResetTimer()
		for i := range b.N {
			if i > 0 && i%benchStorm == 0 {
				b.StopTimer()
				jb.expire(b)
				b.StartTimer()
			}
			jb.join(i, perRead)
		}
		b.StopTimer()
		jb.l.writer.sync()
		runtime.ReadMemStats(&ms)
		mallocs = ms.Mallocs - since
		if st := jb.l.engine.Stats(); jb.l.counters.installs.Load() < uint64(b.N) || st.Relayed < uint64(b.N) {
			b.Fatalf("%d MDB writes and %d relays for %d joins", jb.l.counters.installs.Load(), st.Relayed, b.N)
		}
	})
	b.ReportMetric(float64(mallocs)/float64(b.N), "allocs/join")
}
