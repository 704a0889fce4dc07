package bridge

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// PortPoller waits for frames on many ports' sockets at once: one reader
// serves every port of a bridge, where a goroutine per port would be
// woken, and wake the loop, once per port per burst. It is an epoll set
// over the sockets, level-triggered, so a port read only in part is
// ready again at the next Wait, and the kernel puts it behind the other
// ready ports: a reader that takes a quota from each port Wait returns
// serves ports round-robin, whatever one of them floods. The epoll
// descriptor itself sits in the Go runtime's poller, so Wait parks a
// goroutine, not a thread, and Close wakes it.
//
// Add, Remove and Close may be called from any goroutine; Wait from one
// at a time.
type PortPoller struct {
	file   *os.File // the epoll descriptor
	raw    syscall.RawConn
	closed atomic.Bool
	events []unix.EpollEvent // Wait's

	mu    sync.Mutex
	ports map[int]*PortConn // by the id Add was given
}

// NewPortPoller returns an empty poller.
func NewPortPoller() (*PortPoller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("port poller: epoll_create1: %w", err)
	}
	// Non-blocking, os.NewFile puts it in the runtime's poller: an epoll
	// descriptor is readable when its set has a ready member.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("port poller: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("port poller: %w", err)
	}
	return &PortPoller{file: f, raw: raw, ports: make(map[int]*PortConn)}, nil
}

// Add watches c; Wait reports it as id (which fits in 32 bits: ifindexes
// do) while it has frames queued or an error to report.
func (p *PortPoller) Add(id int, c *PortConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ports[id]; ok {
		return fmt.Errorf("port poller: add port %d: id %d taken", c.ifindex, id)
	}
	if err := p.ctl(unix.EPOLL_CTL_ADD, id, c); err != nil {
		return fmt.Errorf("port poller: add port %d: %w", c.ifindex, err)
	}
	p.ports[id] = c
	return nil
}

// Remove stops watching the port added as id. A port closed without
// Remove leaves the set by itself, so Remove after the port's Close
// is not an error.
func (p *PortPoller) Remove(id int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.ports[id]
	if !ok {
		return nil
	}
	delete(p.ports, id)
	if err := p.ctl(unix.EPOLL_CTL_DEL, id, c); err != nil && !c.closed.Load() {
		return fmt.Errorf("port poller: remove port %d: %w", c.ifindex, err)
	}
	return nil
}

// ctl changes the set. Both descriptors are used inside Control, which
// holds them open: a port closing meanwhile cannot have its number
// reused under us.
func (p *PortPoller) ctl(op, id int, c *PortConn) error {
	var serr error
	err := c.raw.Control(func(fd uintptr) {
		cerr := p.raw.Control(func(epfd uintptr) {
			ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(id)}
			serr = unix.EpollCtl(int(epfd), op, int(fd), &ev)
		})
		if cerr != nil {
			serr = p.closedErr(cerr)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// Wait blocks until at least one port has frames queued (or an error to
// report, as ENETDOWN when it goes down) and puts the ids of up to
// len(ready) of them in ready, returning how many. After Close it
// returns an error wrapping net.ErrClosed.
func (p *PortPoller) Wait(ready []int) (int, error) {
	if len(ready) == 0 {
		return 0, errors.New("port poller: wait with no room for a ready port")
	}
	if cap(p.events) < len(ready) {
		p.events = make([]unix.EpollEvent, len(ready))
	}
	events := p.events[:len(ready)]
	var n int
	var werr error
	err := p.raw.Read(func(fd uintptr) bool {
		for {
			n, werr = unix.EpollWait(int(fd), events, 0)
			if werr == unix.EINTR {
				continue
			}
			// None ready: let the runtime's poller wait for the set to be.
			return werr != nil || n > 0
		}
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return 0, fmt.Errorf("port poller: wait: %w", p.closedErr(err))
	}
	for i := range n {
		ready[i] = int(events[i].Fd)
	}
	return n, nil
}

// closedErr is net.ErrClosed for any error once the poller is closed.
func (p *PortPoller) closedErr(err error) error {
	if p.closed.Load() {
		return net.ErrClosed
	}
	return err
}

// Close closes the set (not the ports); a Wait returns.
func (p *PortPoller) Close() error {
	p.closed.Store(true)
	if err := p.file.Close(); err != nil {
		return fmt.Errorf("port poller: close: %w", err)
	}
	return nil
}
