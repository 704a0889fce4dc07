package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// readerTest is a port reader over a fake poller, and its fake ports.
type readerTest struct {
	t      *testing.T
	poller *fakePoller
	r      *portReader
	out    chan *frameRound
	ports  map[int]*fakePort
}

func newReaderTest(t *testing.T) *readerTest {
	rt := &readerTest{t: t, poller: newFakePoller(), out: make(chan *frameRound, roundsInFlight), ports: map[int]*fakePort{}}
	rt.r = newPortReader(rt.poller, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), rt.out)
	return rt
}

// port adds a fake port as id with frames queued, each naming its port
// and number ("p<id>-<n>").
func (rt *readerTest) port(id, frames int) *fakePort {
	p := &fakePort{ifindex: id, in: make(chan []byte, 512), closed: make(chan struct{})}
	for n := range frames {
		p.in <- frameOf(id, n)
	}
	rt.ports[id] = p
	if err := rt.r.add(id, fmt.Sprintf("p%d", id), p); err != nil {
		rt.t.Fatalf("add %d: %v", id, err)
	}
	return p
}

func frameOf(id, n int) []byte { return []byte(fmt.Sprintf("p%d-%d", id, n)) }

// start runs the reader until the test ends.
func (rt *readerTest) start() {
	go rt.r.run()
	rt.t.Cleanup(rt.r.close)
}

// round waits for the next round and returns its frames by port, in the
// order read.
func (rt *readerTest) round() (*frameRound, []int, map[int][]string) {
	rt.t.Helper()
	select {
	case rd := <-rt.out:
		var order []int
		frames := map[int][]string{}
		for _, r := range rd.reads {
			order = append(order, r.port)
			for i := range r.batch.Len() {
				frames[r.port] = append(frames[r.port], string(r.batch.Frame(i)))
			}
		}
		return rd, order, frames
	case <-time.After(2 * time.Second):
		rt.t.Fatal("no round within 2s")
		return nil, nil, nil
	}
}

// noRound checks that no round comes for a while.
func (rt *readerTest) noRound(why string) {
	rt.t.Helper()
	select {
	case rd := <-rt.out:
		rt.t.Fatalf("%s: a round of %d reads came", why, len(rd.reads))
	case <-time.After(100 * time.Millisecond):
	}
}

// TestPortReaderFairness checks the reader's rounds: at most portQuota
// frames from each port with frames, so a port flooding does not delay
// another port's frame past the first round; at most roundPorts ports a
// round, the others first in the next.
func TestPortReaderFairness(t *testing.T) {
	cases := []struct {
		name   string
		queued map[int]int // frames queued per port
		// rounds are the ports read in each round, in order (checked
		// as sets where the order is the poller's).
		rounds [][]int
		// per port, frames in each round
		frames map[int][]int
	}{
		{"a flood and a lone join", map[int]int{10: 100, 11: 1},
			[][]int{{10, 11}, {10}, {10}}, map[int][]int{10: {portQuota, portQuota, portQuota}, 11: {1}}},
		{"quiet ports", map[int]int{10: 1, 11: 2},
			[][]int{{10, 11}}, map[int][]int{10: {1}, 11: {2}}},
		{"more ports than a round takes", manyPorts(roundPorts+4, 2),
			[][]int{seq(10, roundPorts), seq(10+roundPorts, 4)}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := newReaderTest(t)
			ids := slices.Sorted(maps.Keys(c.queued))
			for _, id := range ids {
				rt.port(id, c.queued[id])
			}
			rt.start()
			seen := map[int]int{} // frames read per port so far
			for i, want := range c.rounds {
				rd, order, frames := rt.round()
				if !slices.Equal(order, want) {
					t.Fatalf("round %d read ports %v, want %v", i+1, order, want)
				}
				for _, id := range order {
					if n := len(frames[id]); n > portQuota {
						t.Errorf("round %d took %d frames from port %d, more than the quota %d", i+1, n, id, portQuota)
					}
					if w, ok := c.frames[id]; ok && (i >= len(w) || len(frames[id]) != w[i]) {
						t.Errorf("round %d took %d frames from port %d, want %v by round", i+1, len(frames[id]), id, w)
					}
					for _, f := range frames[id] {
						if want := string(frameOf(id, seen[id])); f != want {
							t.Errorf("round %d: port %d frame %q, want %q (in order)", i+1, id, f, want)
						}
						seen[id]++
					}
				}
				rd.giveBack()
			}
		})
	}
}

func manyPorts(n, frames int) map[int]int {
	m := map[int]int{}
	for i := range n {
		m[10+i] = frames
	}
	return m
}

func seq(from, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = from + i
	}
	return s
}

// TestPortReaderBuffers checks that the loop's rounds are its own until
// it gives them back: with roundsInFlight out the reader reads nothing
// more (the frames wait in the sockets) and the rounds' frames stay as
// read; and that buffers are bounded: a quiet port costs one batch.
func TestPortReaderBuffers(t *testing.T) {
	rt := newReaderTest(t)
	p := rt.port(10, 0)
	rt.start()
	// Quiet: one frame at a time, each round given back, reuses one round
	// and one batch.
	for n := range 5 {
		p.in <- frameOf(10, n)
		rd, _, frames := rt.round()
		if got := frames[10]; !slices.Equal(got, []string{string(frameOf(10, n))}) {
			t.Fatalf("quiet read %d = %q", n, got)
		}
		rd.giveBack()
	}
	if rt.r.made != 1 {
		t.Errorf("a quiet port made %d rounds, want 1", rt.r.made)
	}
	// Busy, the loop holding every round: roundsInFlight rounds, then none.
	for n := range 10 * portQuota {
		p.in <- frameOf(10, 100+n)
	}
	var held []*frameRound
	var want [][]byte
	for range roundsInFlight {
		rd, _, _ := rt.round()
		held = append(held, rd)
		for _, r := range rd.reads {
			for i := range r.batch.Len() {
				want = append(want, bytes.Clone(r.batch.Frame(i)))
			}
		}
	}
	rt.noRound("all rounds with the loop")
	var got [][]byte
	for _, rd := range held {
		for _, r := range rd.reads {
			for i := range r.batch.Len() {
				got = append(got, r.batch.Frame(i))
			}
		}
	}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Error("frames the loop holds changed under it")
	}
	batches := 0
	for _, rd := range held {
		batches += len(rd.batches)
	}
	if batches > roundsInFlight {
		t.Errorf("%d batches made for one port, want one a round at most", batches)
	}
	// One given back: reading goes on.
	held[0].giveBack()
	if _, _, frames := rt.round(); len(frames[10]) != portQuota {
		t.Errorf("after a round came back: read %d frames, want %d", len(frames[10]), portQuota)
	}
}

// TestPortReaderPorts checks ports going and failing: a port removed is
// not read any more (its frames stay unread), a read failing (ENETDOWN
// as a port goes down) does not end the port, a port closed meanwhile
// is skipped, a reader whose every read fails rests rather than spins,
// and close stops the reader whether it waits for frames or for a round.
func TestPortReaderPorts(t *testing.T) {
	rt := newReaderTest(t)
	a, b := rt.port(10, 0), rt.port(11, 0)
	var fails atomic.Int32
	fails.Store(1)
	a.mu.Lock()
	a.readErr = func() error {
		if fails.Add(-1) >= 0 {
			return fmt.Errorf("read port 10: %w", syscall.ENETDOWN)
		}
		return nil
	}
	a.mu.Unlock()
	rt.start()
	a.in <- frameOf(10, 0)
	rd, _, frames := rt.round()
	if !slices.Equal(frames[10], []string{"p10-0"}) {
		t.Fatalf("after ENETDOWN: port 10 read %q, want its frame", frames[10])
	}
	rd.giveBack()

	rt.r.remove(11)
	rt.r.remove(11) // twice: nothing
	if ids := rt.poller.ids(); !slices.Equal(ids, []int{10}) {
		t.Errorf("poller watches %v after port 11 removed, want [10]", ids)
	}
	b.in <- frameOf(11, 0)
	a.in <- frameOf(10, 1)
	rd, order, _ := rt.round()
	if !slices.Equal(order, []int{10}) {
		t.Errorf("round after port 11 removed read %v, want [10]", order)
	}
	rd.giveBack()

	// Every read failing: the reader rests between rounds.
	fails.Store(1 << 20)
	a.in <- frameOf(10, 2)
	time.Sleep(100 * time.Millisecond)
	if n := 1<<20 - fails.Load(); n > int32(100*time.Millisecond/readPause)+2 {
		t.Errorf("%d failed reads in 100ms: the reader spins", n)
	}
	fails.Store(0)
	rd, _, frames = rt.round()
	if !slices.Equal(frames[10], []string{"p10-2"}) {
		t.Errorf("after the failures: read %q, want p10-2", frames[10])
	}
	rd.giveBack()

	// A port closed but not yet removed: its read fails, quietly.
	a.in <- frameOf(10, 3)
	a.Close()
	rt.noRound("only a closed port ready")

	// Close while the reader waits for the loop to give a round back.
	rt2 := newReaderTest(t)
	rt2.port(20, 10*portQuota)
	go rt2.r.run()
	for range roundsInFlight {
		rt2.round()
	}
	stopped := make(chan struct{})
	go func() { rt2.r.close(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("close did not stop a reader waiting for a round")
	}
}

// A poller that cannot be opened fails the port's opening, and with it
// the daemon's start; one that can serves ports that come later.
func TestPortReaderOpen(t *testing.T) {
	k := newFakeKernel("p1")
	k.fakePollers.err = errors.New("epoll: too many open files")
	set := testSettings(t, nil)
	err := Run(t.Context(), Options{Kernel: k, Log: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), Settings: set})
	if err == nil || !strings.Contains(err.Error(), "too many open files") {
		t.Fatalf("Run with no poller = %v, want the poller's error", err)
	}

	k = newFakeKernel()
	h := startDaemon(t, k, testSettings(t, nil), nil)
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(20, "p9")}
	h.feed(20, report(t, 20, "239.77.1.1", false))
	eventually(t, "the join learned", func() bool { return len(k.entries()) == 1 })
	k.fakePollers.mu.Lock()
	polled := k.fakePollers.opened[0].ids()
	k.fakePollers.mu.Unlock()
	if !slices.Equal(polled, []int{20}) {
		t.Errorf("ports polled = %v, want [20]", polled)
	}
}
