package daemon

import (
	"sync"
	"sync/atomic"
)

// subscriberBuffer is how many events a slow reader may lag behind before
// it loses some (and is told how many): the bridges never wait for it.
const subscriberBuffer = 1024

// eventHub fans events out to the `events` readers. Publishing never
// blocks: the mutex only guards the subscriber set.
type eventHub struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	n    atomic.Int32 // len(subs), read without the lock
}

type subscriber struct {
	ch      chan EventRecord
	dropped atomic.Uint64
}

func newEventHub() *eventHub { return &eventHub{subs: map[*subscriber]struct{}{}} }

func (h *eventHub) publish(r EventRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- r:
		default:
			s.dropped.Add(1)
		}
	}
}

// subscribe returns a new subscriber and the function that ends it.
func (h *eventHub) subscribe() (*subscriber, func()) {
	s := &subscriber{ch: make(chan EventRecord, subscriberBuffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.n.Store(int32(len(h.subs)))
	h.mu.Unlock()
	return s, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.n.Store(int32(len(h.subs)))
		h.mu.Unlock()
	}
}

// listening reports whether anyone is subscribed: the loop builds no event
// record when nobody is.
func (h *eventHub) listening() bool { return h.n.Load() > 0 }
