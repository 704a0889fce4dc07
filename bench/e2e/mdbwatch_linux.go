package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/lab"
)

// mdbWatch timestamps new MDB port entries as the kernel announces them
// on RTNLGRP_MDB (bridge.MDBWatcher), mapped to the storm's (host, group
// index).
type mdbWatch struct {
	w      *bridge.MDBWatcher
	br     int
	hostOf map[int]int // switch port ifindex -> host
	done   chan struct{}
	stop   atomic.Bool

	mu    sync.Mutex
	seen  [][]int64 // [host][j]: first notification, Unix ns; 0: not yet
	count int
	fail  error
}

func watchMDB(ns string, br int, ports []int) (*mdbWatch, error) {
	w := &mdbWatch{br: br, hostOf: make(map[int]int), done: make(chan struct{})}
	for h, p := range ports {
		w.hostOf[p] = h
	}
	err := lab.InNetns(ns, func() error {
		// Room for every notification of the largest storm: a lost one
		// would make the run worthless. The timeout lets close stop it.
		var err error
		w.w, err = bridge.SubscribeMDB(256<<20, 50*time.Millisecond)
		return err
	})
	if err != nil {
		return nil, err
	}
	go w.read()
	return w, nil
}

func (w *mdbWatch) read() {
	defer close(w.done)
	for !w.stop.Load() {
		es, err := w.w.Read(w.br)
		now := time.Now().UnixNano()
		for _, e := range es {
			w.entry(e, now)
		}
		if err != nil {
			w.mu.Lock()
			if w.fail == nil {
				w.fail = err
			}
			w.mu.Unlock()
			if !errors.Is(err, bridge.ErrNotificationsLost) {
				return
			}
		}
	}
}

// entry records the first notification of host h's j-th group (see group).
func (w *mdbWatch) entry(e bridge.Entry, now int64) {
	h, ok := w.hostOf[e.Port]
	if !ok || !e.Group.Is4() || e.Source.IsValid() {
		return
	}
	g := e.Group.As4()
	if g[0] != 239 || int(g[1]) != h+1 {
		return
	}
	j := int(g[2])<<8 | int(g[3])
	w.mu.Lock()
	if j < len(w.seen[h]) && w.seen[h][j] == 0 {
		w.seen[h][j] = now
		w.count++
	}
	w.mu.Unlock()
}

// arm starts a storm of per joins on each host: forgets what was seen.
func (w *mdbWatch) arm(per int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = make([][]int64, len(w.hostOf))
	for h := range w.seen {
		w.seen[h] = make([]int64, per)
	}
	w.count = 0
}

// wait waits until n entries were seen or timeout passed, and returns
// the first-seen times.
func (w *mdbWatch) wait(n int, timeout time.Duration) [][]int64 {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		c := w.count
		w.mu.Unlock()
		if c >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([][]int64, len(w.seen))
	for h := range w.seen {
		out[h] = append([]int64(nil), w.seen[h]...)
	}
	return out
}

func (w *mdbWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return fmt.Errorf("MDB notifications: %w", w.fail)
	}
	return nil
}

func (w *mdbWatch) close() {
	w.stop.Store(true)
	<-w.done
	w.w.Close()
}
