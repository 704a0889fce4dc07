package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// TestFrameTimingSampled: handleFrameAt learns at the time it is given,
// and times (two clock readings, one observation) at most one frame every
// observeEvery: the frames of one read share their reading and cost no
// more, and a frame a millisecond later is timed again.
func TestFrameTimingSampled(t *testing.T) {
	var observed []time.Duration
	jb := newJoinBench(t, func(d time.Duration) { observed = append(observed, d) })
	var at time.Time
	reads, handling := 0, 0 // clock readings: all, and while handling the frames
	jb.do(t, func() {
		at = jb.l.now()
		jb.l.now = func() time.Time { reads++; return at.Add(time.Duration(reads) * time.Microsecond) }
		defer func() { handling = reads }()
		for i := range 10 { // one read's frames
			jb.l.handleFrameAt(at, 10+i%benchHostPorts, jb.frames[i])
		}
		jb.l.handleFrameAt(at.Add(observeEvery-time.Nanosecond), 10, jb.frames[10])
		jb.l.handleFrameAt(at.Add(observeEvery), 10, jb.frames[11])
	})
	if len(observed) != 2 || observed[0] != time.Microsecond || observed[1] != time.Microsecond || handling != 4 {
		t.Fatalf("observed %v with %d clock readings; want 1µs twice (the first frame of the read, the one %v later) and 4 readings",
			observed, handling, observeEvery)
	}
	// The memberships count from the read's time, not from a clock reading.
	var left int
	jb.do(t, func() {
		gmi := jb.l.settings.Engine.GroupMembershipInterval()
		jb.l.engine.Tick(at.Add(gmi - time.Nanosecond))
		left = jb.l.engine.Stats().Memberships
	})
	if left != 12 {
		t.Fatalf("%d memberships left a nanosecond before their read's time plus the membership interval, want 12", left)
	}
	jb.do(t, func() {
		jb.l.engine.Tick(at.Add(jb.l.settings.Engine.GroupMembershipInterval()))
		left = jb.l.engine.Stats().Memberships
	})
	if left != 2 { // the two frames read later
		t.Fatalf("%d memberships left at the read's time plus the membership interval, want 2", left)
	}
}

// TestWriterReusesOpSlices: the writer's jobs come back for reuse, so a
// storm of bursts makes at most mdbJobs+1 op slices, each with room for a
// burst, and a job's slice comes back cleared.
func TestWriterReusesOpSlices(t *testing.T) {
	w := newMDBWriter(discardMDB{}, func(mdbDone) {})
	defer w.close()
	made := map[*MDBOp]bool{}
	for range 50 {
		if cap(w.pending) < maxBurst {
			t.Fatalf("a job gathered in a slice of capacity %d, want room for a burst (%d)", cap(w.pending), maxBurst)
		}
		made[&w.pending[:1][0]] = true
		for range maxBurst {
			w.queue(MDBOp{Entry: mdbEntry(1, 77, 10, fdb.Key{Group: netip.MustParseAddr("239.1.1.1")})})
		}
		w.submit()
	}
	w.sync()
	if len(made) > mdbJobs+1 {
		t.Errorf("%d op slices made for 50 jobs, want at most %d", len(made), mdbJobs+1)
	}
	for _, s := range w.spare {
		if s = s[:cap(s)]; s[0].Entry.Port != 0 {
			t.Fatal("a slice back from the writer still holds its ops")
		}
	}
}
