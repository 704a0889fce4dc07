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
// on RTNLGRP_MDB (bridge.MDBWatcher), mapped to the storm's (host, join).
type mdbWatch struct {
	w      *bridge.MDBWatcher
	br     int
	hostOf map[int]int // switch port ifindex -> host
	done   chan struct{}
	stop   atomic.Bool

	mu     sync.Mutex
	groups groupRange // the storm's
	seen   [][]int64  // [host][j]: first notification, Unix ns; 0: not yet
	count  int
	fail   error
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

// entry records the first notification of a join of the armed range.
func (w *mdbWatch) entry(e bridge.Entry, now int64) {
	port, ok := w.hostOf[e.Port]
	if !ok || e.Source.IsValid() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	h, j, ok := w.groups.join(e.Group, len(w.hostOf))
	if ok && h == port && w.seen[h][j] == 0 {
		w.seen[h][j] = now
		w.count++
	}
}

// arm starts a storm of groups' joins: forgets what was seen.
func (w *mdbWatch) arm(groups groupRange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.groups = groups
	w.seen = make([][]int64, len(w.hostOf))
	for h := range w.seen {
		w.seen[h] = make([]int64, groups.per)
	}
	w.count = 0
}

// wait waits until every join of the armed range was seen or timeout
// passed, and returns the first-seen times. It polls every millisecond
// rather than blocking on the reader: its timer's wake-ups get the Go
// scheduler to run the reader goroutine while the senders' goroutines
// hold both Ps. Blocking instead (tried) doubled the kernel's measured
// 10 000-join convergence: the reader's timestamps waited for a P. The
// polls cost the bench's process a few microseconds each, next to the
// tens of milliseconds of a storm.
func (w *mdbWatch) wait(timeout time.Duration) [][]int64 {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		c, want := w.count, len(w.seen)*w.groups.per
		w.mu.Unlock()
		if c >= want || time.Now().After(deadline) {
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
