package snoop

import (
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

type timerKind uint8

const (
	_           timerKind = iota // none
	timerGroup                   // a port group: expiries and queries
	timerRouter                  // a router port's expiry
	timerFamily                  // a protocol's querier: other querier expiry, our next query
)

// timer is one wake-up. Items are never removed early: when one comes due,
// the engine compares it with the current state and drops stale ones, so a
// refresh costs nothing here and an idle membership costs one item, of 56
// bytes. What it names depends on its kind: a port group (key, port), a
// router port (port, key.VLAN, v6) or a protocol's querier (key.VLAN, v6).
type timer struct {
	at   fdb.Time
	key  fdb.Key
	port int
	kind timerKind
	v6   bool
}

func groupWake(at fdb.Time, pg *fdb.PortGroup) timer {
	return timer{at: at, kind: timerGroup, key: pg.Key, port: pg.Port}
}

func routerWake(at fdb.Time, k fdb.RouterKey) timer {
	return timer{at: at, kind: timerRouter, key: fdb.Key{VLAN: k.VLAN}, port: k.Port, v6: k.IPv6}
}

func familyWake(at fdb.Time, k famKey) timer {
	return timer{at: at, kind: timerFamily, key: fdb.Key{VLAN: k.VLAN}, v6: k.IPv6}
}

func (t timer) router() fdb.RouterKey {
	return fdb.RouterKey{Port: t.port, VLAN: t.key.VLAN, IPv6: t.v6}
}

func (t timer) family() famKey { return famKey{VLAN: t.key.VLAN, IPv6: t.v6} }

// timerHeap is a binary min-heap of timers by due time. It is typed (no
// container/heap, whose interface boxes every item into an allocation):
// adding a timer allocates only when the array grows. A wake-up looks at
// the root only, so idle memberships cost nothing until they are due.
type timerHeap []timer

func (h timerHeap) less(i, j int) bool { return h[i].at < h[j].at }

func (h *timerHeap) add(t timer) {
	*h = append(*h, t)
	h.up(len(*h) - 1)
}

// popDue removes and returns the earliest timer if it is due at now.
func (h *timerHeap) popDue(now fdb.Time) (timer, bool) {
	old := *h
	if len(old) == 0 || old[0].at > now {
		return timer{}, false
	}
	t := old[0]
	n := len(old) - 1
	old[0] = old[n]
	old[n] = timer{}
	*h = old[:n]
	h.down(0)
	return t, true
}

func (h timerHeap) up(j int) {
	for {
		i := (j - 1) / 2 // parent; the root's is the root, and nothing is less than itself
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (h timerHeap) down(i int) {
	n := len(h)
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if r := j + 1; r < n && h.less(r, j) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h timerHeap) next() (fdb.Time, bool) {
	if len(h) == 0 {
		return 0, false
	}
	return h[0].at, true
}

// timerBound is the most items the timer heap may hold: four for each
// live item (membership, router port, protocol family) and 1024 more.
// Past it, stale items (left by memberships that came and went) are so
// many that maybeCompact rebuilds the heap.
func (e *Engine) timerBound() int {
	live := e.table.Len() + len(e.families) + e.table.RouterCount()
	return 4*live + 1024
}

// maybeCompact rebuilds the timer heap once it holds more than
// timerBound items: a join/leave storm must not grow it without bound.
func (e *Engine) maybeCompact() {
	if len(e.timers) <= e.timerBound() {
		return
	}
	e.timers = e.timers[:0]
	for _, k := range e.table.AllKeys() {
		pg := e.table.Get(k.Key, k.Port)
		pg.Wake = 0
		e.schedule(pg)
	}
	for _, r := range e.table.Routers() {
		if !r.Expires.IsZero() {
			t := e.table.TimeOf(r.Expires) // renewed from there on
			e.table.Router(r.RouterKey).Wake = t
			e.timers.add(routerWake(t, r.RouterKey))
		}
	}
	for _, f := range e.families {
		f.wake = time.Time{}
		e.scheduleFamily(f)
	}
}
