package bridge

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// MDBWatcher reads the kernel's MDB change notifications (RTNLGRP_MDB),
// in the network namespace SubscribeMDB was called in. It is not safe for
// concurrent use, but Close may be called while Read waits.
type MDBWatcher struct {
	c       *netlink.Conn
	timeout time.Duration
}

// SubscribeMDB subscribes to MDB notifications in the calling thread's
// network namespace. rcvbuf sizes the socket's receive queue (0: the
// system's default): a notification that does not fit is lost, and the
// next Read says so. Read waits at most timeout (0: no limit) before
// returning no entries.
func SubscribeMDB(rcvbuf int, timeout time.Duration) (*MDBWatcher, error) {
	c, err := dialMDB(1 << (unix.RTNLGRP_MDB - 1))
	if err != nil {
		return nil, fmt.Errorf("subscribe mdb: %w", err)
	}
	if rcvbuf > 0 {
		if err := setReadBuffer(c, rcvbuf); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribe mdb: receive buffer: %w", err)
		}
	}
	return &MDBWatcher{c: c, timeout: timeout}, nil
}

// ErrNotificationsLost is returned by Read when the kernel dropped
// notifications because the receive queue was full.
var ErrNotificationsLost = errors.New("MDB notifications lost: receive queue full")

// Read waits for the next datagram of notifications and returns the port
// entries it announces as added (RTM_NEWMDB) on bridge bridgeIndex, as
// Dump would show them; none when the timeout passed first.
func (w *MDBWatcher) Read(bridgeIndex int) ([]Entry, error) {
	if w.timeout > 0 {
		if err := w.c.SetReadDeadline(time.Now().Add(w.timeout)); err != nil {
			return nil, fmt.Errorf("read mdb notifications: %w", err)
		}
	}
	msgs, err := w.c.Receive()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, nil
	case errors.Is(err, unix.ENOBUFS):
		return nil, ErrNotificationsLost
	case err != nil:
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

// Close closes the socket, ending a Read that waits.
func (w *MDBWatcher) Close() error { return w.c.Close() }
