package snoop

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// timerHeap is a min-heap by due time: popDue hands out exactly the items
// due at now, earliest first, however they were added.
func TestTimerHeapPopsDueItemsEarliestFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		var h timerHeap
		var want []fdb.Time
		for range 1 + round*3 {
			at := fdb.Time(1 + rng.IntN(40))
			h.add(timer{at: at, kind: timerGroup})
			want = append(want, at)
		}
		slices.Sort(want)
		if next, ok := h.next(); !ok || next != want[0] {
			t.Fatalf("next = %v, %v; want %v", next, ok, want[0])
		}
		now := fdb.Time(20)
		var got []fdb.Time
		for {
			tm, ok := h.popDue(now)
			if !ok {
				break
			}
			got = append(got, tm.at)
		}
		n, _ := slices.BinarySearch(want, now+1) // want[:n] are due at now
		due := want[:n]
		if !slices.Equal(got, due) {
			t.Fatalf("round %d: popped %v at %v, want %v", round, got, now, due)
		}
		for {
			tm, ok := h.popDue(1 << 40)
			if !ok {
				break
			}
			got = append(got, tm.at)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: popped %v, want %v", round, got, want)
		}
		if _, ok := h.next(); ok {
			t.Fatal("items left after popping everything")
		}
	}
}

// A refresh costs the timer heap nothing and an idle membership one item
// (see timer): reports that keep or move a membership's deadline add no
// wake-up of their own.
func TestRefreshedMembershipKeepsOneTimer(t *testing.T) {
	e := newEngine(t)
	for _, at := range []time.Duration{0, 0, time.Second, time.Minute} {
		e.HandleMessage(t0.Add(at), hostA, report(2, grp), rawFrame)
	}
	if n := len(e.timers); n != 1 {
		t.Fatalf("%d timers for one membership refreshed 4 times, want 1", n)
	}
}
