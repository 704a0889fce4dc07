package snoop

import (
	"container/heap"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

type timerKind uint8

const (
	timerGroup  timerKind = iota + 1 // a port group: expiries and queries
	timerRouter                      // a router port's expiry
	timerFamily                      // a protocol's querier: other querier expiry, our next query
)

// timer is one wake-up. Items are never removed early: when one comes due,
// the engine compares it with the current state and drops stale ones, so a
// refresh costs nothing here and an idle membership costs one item.
type timer struct {
	at     time.Time
	kind   timerKind
	key    fdb.Key
	port   int
	router fdb.RouterKey
	family famKey
}

type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (h *timerHeap) add(t timer) { heap.Push(h, t) }

// popDue removes and returns the earliest timer if it is due at now.
func (h *timerHeap) popDue(now time.Time) (timer, bool) {
	if len(*h) == 0 || (*h)[0].at.After(now) {
		return timer{}, false
	}
	return heap.Pop(h).(timer), true
}

func (h timerHeap) next() (time.Time, bool) {
	if len(h) == 0 {
		return time.Time{}, false
	}
	return h[0].at, true
}

// maybeCompact rebuilds the timer heap when stale items (left by
// memberships that came and went) outnumber live ones: a join/leave storm
// must not grow it without bound.
func (e *Engine) maybeCompact() {
	live := e.table.Len() + len(e.families) + e.table.RouterCount()
	if len(e.timers) <= 4*live+1024 {
		return
	}
	e.timers = e.timers[:0]
	for _, k := range e.table.AllKeys() {
		pg := e.table.Get(k.Key, k.Port)
		pg.Wake = time.Time{}
		e.schedule(pg)
	}
	for _, r := range e.table.Routers() {
		if !r.Expires.IsZero() {
			e.timers.add(timer{at: r.Expires, kind: timerRouter, router: r.RouterKey})
		}
	}
	for _, f := range e.families {
		f.wake = time.Time{}
		e.scheduleFamily(f)
	}
}
