package bridge

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// rtnlgrpMDB is RTNLGRP_MDB: the group the kernel announces MDB changes to.
const rtnlgrpMDB = 26

// MDBWatcher reads the kernel's MDB change notifications (RTNLGRP_MDB),
// in the network namespace SubscribeMDB was called in. It is not safe for
// concurrent use.
type MDBWatcher struct {
	fd  int
	buf []byte
}

// SubscribeMDB subscribes to MDB notifications in the calling thread's
// network namespace. rcvbuf sizes the socket's receive queue (0: the
// system's default): a notification that does not fit is lost, and the
// next Read says so. Read waits at most timeout (0: no limit) before
// returning no entries.
func SubscribeMDB(rcvbuf int, timeout time.Duration) (*MDBWatcher, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("subscribe mdb: %w", err)
	}
	fail := func(what string, err error) (*MDBWatcher, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribe mdb: %s: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (rtnlgrpMDB - 1)}); err != nil {
		return fail("bind", err)
	}
	if rcvbuf > 0 && unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	}
	if timeout > 0 {
		tv := unix.NsecToTimeval(timeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fail("receive timeout", err)
		}
	}
	return &MDBWatcher{fd: fd, buf: make([]byte, 1<<16)}, nil
}

// ErrNotificationsLost is returned by Read when the kernel dropped
// notifications because the receive queue was full.
var ErrNotificationsLost = errors.New("MDB notifications lost: receive queue full")

// Read waits for the next datagram of notifications and returns the port
// entries it announces as added (RTM_NEWMDB) on bridge bridgeIndex, as
// Dump would show them; none when the timeout passed first.
func (w *MDBWatcher) Read(bridgeIndex int) ([]Entry, error) {
	n, _, err := unix.Recvfrom(w.fd, w.buf, 0)
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return nil, nil
	case errors.Is(err, unix.ENOBUFS):
		return nil, ErrNotificationsLost
	case err != nil:
		return nil, fmt.Errorf("read mdb notifications: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(w.buf[:n])
	if err != nil {
		return nil, fmt.Errorf("read mdb notifications: %w", err)
	}
	var out []Entry
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWMDB {
			continue
		}
		es, _, err := parseMDBMessage(m.Data, bridgeIndex)
		if err != nil {
			return out, fmt.Errorf("read mdb notifications: %w", err)
		}
		out = append(out, es...)
	}
	return out, nil
}

// Close closes the socket.
func (w *MDBWatcher) Close() error { return unix.Close(w.fd) }
