package daemon

import (
	"fmt"
	"net"
	"reflect"
	"sync"
)

// fakePollers gives the fake kernel its OpenPoller; err, if set, fails it.
type fakePollers struct {
	mu     sync.Mutex
	err    error
	opened []*fakePoller
}

func (f *fakePollers) OpenPoller() (PortPoller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	p := newFakePoller()
	f.opened = append(f.opened, p)
	return p, nil
}

// fakePoller reports the fake ports that have frames, round-robin as
// level-triggered epoll does: a port still ready after a Wait comes
// after the others then ready.
type fakePoller struct {
	mu      sync.Mutex
	ports   []fakePolled // in the order they became candidates
	next    int          // where the next Wait starts looking
	closed  bool
	changed chan struct{} // closed and replaced when the set changes
}

type fakePolled struct {
	id   int
	port *fakePort
}

func newFakePoller() *fakePoller { return &fakePoller{changed: make(chan struct{})} }

func (q *fakePoller) NewBatch(frames, size int) FrameBatch {
	b := &fakeBatch{bufs: make([][]byte, frames), lens: make([]int, frames)}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, size)
	}
	return b
}

func (q *fakePoller) Add(id int, p Port) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return fmt.Errorf("poll add: %w", net.ErrClosed)
	}
	fp, ok := p.(*fakePort)
	if d, isDiscard := p.(discardPort); isDiscard {
		fp, ok = d.fakePort, true
	}
	if !ok {
		return fmt.Errorf("poll add: a %T is not a fake port", p)
	}
	q.ports = append(q.ports, fakePolled{id: id, port: fp})
	q.changedLocked()
	return nil
}

func (q *fakePoller) Remove(id int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, p := range q.ports {
		if p.id == id {
			q.ports = append(q.ports[:i], q.ports[i+1:]...)
			q.next = 0
			q.changedLocked()
		}
	}
	return nil
}

func (q *fakePoller) changedLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// ids returns the ids watched, in order.
func (q *fakePoller) ids() []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []int
	for _, p := range q.ports {
		ids = append(ids, p.id)
	}
	return ids
}

// Wait takes a frame from a port's in to see it ready (the port keeps it
// in pending, for ReadQueued).
func (q *fakePoller) Wait(ready []int) (int, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return 0, fmt.Errorf("poll: %w", net.ErrClosed)
		}
		n := q.readyLocked(ready)
		ports, changed := append([]fakePolled(nil), q.ports...), q.changed
		q.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)}}
		for _, p := range ports {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(p.port.in)})
		}
		if i, v, ok := reflect.Select(cases); i > 0 && ok {
			p := ports[i-1].port
			p.mu.Lock()
			p.pending = append(p.pending, v.Bytes())
			p.mu.Unlock()
		}
	}
}

// readyLocked puts the ports with frames in ready, from where the last
// Wait stopped.
func (q *fakePoller) readyLocked(ready []int) int {
	n, start := 0, q.next
	for k := range len(q.ports) {
		if n == len(ready) {
			break
		}
		i := (start + k) % len(q.ports)
		p := q.ports[i].port
		p.mu.Lock()
		has := len(p.pending) > 0 || len(p.in) > 0
		p.mu.Unlock()
		if has {
			ready[n] = q.ports[i].id
			n++
			q.next = (i + 1) % len(q.ports)
		}
	}
	return n
}

func (q *fakePoller) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.changedLocked()
	}
	return nil
}

type fakeBatch struct {
	bufs [][]byte
	lens []int
	n    int
}

func (b *fakeBatch) Len() int           { return b.n }
func (b *fakeBatch) Cap() int           { return len(b.bufs) }
func (b *fakeBatch) Frame(i int) []byte { return b.bufs[i][:b.lens[i]] }
