package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// eventRecord is one line of `igmpsnoop events`: the JSON names are part
// of the CLI's contract.
type eventRecord struct {
	Time   time.Time `json:"time"`
	Bridge string    `json:"bridge"`
	Event  string    `json:"event"`
	Port   string    `json:"port,omitempty"`
	Group  string    `json:"group,omitempty"`
	VLAN   uint16    `json:"vlan,omitempty"`
	Addr   string    `json:"addr,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

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
	ch      chan eventRecord
	dropped atomic.Uint64
}

func newEventHub() *eventHub { return &eventHub{subs: map[*subscriber]struct{}{}} }

func (h *eventHub) publish(r eventRecord) {
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
	s := &subscriber{ch: make(chan eventRecord, subscriberBuffer)}
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

// text renders an event on one line for a terminal.
func (r eventRecord) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Time.Local().Format("15:04:05.000"), r.Bridge, r.Event)
	for _, kv := range [][2]string{{"port", r.Port}, {"group", r.Group}, {"addr", r.Addr}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	if r.VLAN != 0 {
		fmt.Fprintf(&b, " vlan=%d", r.VLAN)
	}
	if r.Detail != "" {
		fmt.Fprintf(&b, " (%s)", r.Detail)
	}
	return b.String()
}
