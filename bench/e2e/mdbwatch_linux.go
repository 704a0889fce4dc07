package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/igmpsnoop/igmpsnoop/integration"
)

// mdbWatch timestamps new MDB port entries as the kernel announces them
// on RTNLGRP_MDB: a minimal monitor, parsing just enough of RTM_NEWMDB
// (br_port_msg, MDBA_MDB > MDBA_MDB_ENTRY > MDBA_MDB_ENTRY_INFO, whose
// struct br_mdb_entry holds the port and group) to map an entry to the
// storm's (host, group index).
type mdbWatch struct {
	fd     int
	hostOf map[uint32]int // switch port ifindex -> host
	done   chan struct{}
	stop   atomic.Bool

	mu    sync.Mutex
	seen  [][]int64 // [host][j]: first notification, Unix ns; 0: not yet
	count int
	fail  error
}

const (
	rtnlgrpMDB   = 26 // RTNLGRP_MDB
	mdbaMDB      = 1
	mdbaEntry    = 1
	mdbaInfo     = 1
	brPortMsgLen = 8
	mdbEntryLen  = 28 // sizeof(struct br_mdb_entry)
)

func watchMDB(ns string, ports []int) (*mdbWatch, error) {
	w := &mdbWatch{fd: -1, hostOf: make(map[uint32]int), done: make(chan struct{})}
	for h, p := range ports {
		w.hostOf[uint32(p)] = h
	}
	err := integration.InNetns(ns, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, rtnlgrpMDB); err != nil {
			unix.Close(fd)
			return err
		}
		// Room for every notification of the largest storm: a lost one
		// (ENOBUFS) would make the run worthless.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 256<<20)
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		w.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("RTNLGRP_MDB socket: %w", err)
	}
	go w.read()
	return w, nil
}

func (w *mdbWatch) read() {
	defer close(w.done)
	buf := make([]byte, 1<<16)
	for !w.stop.Load() {
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		now := time.Now().UnixNano()
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			w.mu.Lock()
			if w.fail == nil {
				w.fail = fmt.Errorf("MDB notifications: %w", err)
			}
			w.mu.Unlock()
			if errors.Is(err, unix.ENOBUFS) {
				continue
			}
			return
		}
		w.parse(buf[:n], now)
	}
}

// parse walks the netlink messages of one datagram.
func (w *mdbWatch) parse(b []byte, now int64) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b[0:4]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return
		}
		if ne.Uint16(b[4:6]) == unix.RTM_NEWMDB && l >= unix.NLMSG_HDRLEN+brPortMsgLen {
			for _, mdb := range nlattrs(b[unix.NLMSG_HDRLEN+brPortMsgLen : l]) {
				if mdb.typ != mdbaMDB {
					continue
				}
				for _, e := range nlattrs(mdb.val) {
					if e.typ != mdbaEntry {
						continue
					}
					for _, info := range nlattrs(e.val) {
						if info.typ == mdbaInfo && len(info.val) >= mdbEntryLen {
							w.entry(info.val, now)
						}
					}
				}
			}
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
}

// entry records a struct br_mdb_entry: ifindex, state, flags, vid, the
// group (16 bytes) and its protocol (big-endian).
func (w *mdbWatch) entry(e []byte, now int64) {
	port := binary.NativeEndian.Uint32(e[0:4])
	if binary.BigEndian.Uint16(e[24:26]) != unix.ETH_P_IP {
		return
	}
	g := e[8:12]
	h, ok := w.hostOf[port]
	if !ok || g[0] != 239 || int(g[1]) != h+1 {
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

type nlattr struct {
	typ uint16
	val []byte
}

func nlattrs(b []byte) []nlattr {
	var out []nlattr
	ne := binary.NativeEndian
	for len(b) >= 4 {
		l := int(ne.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			break
		}
		out = append(out, nlattr{typ: ne.Uint16(b[2:4]) & 0x3fff, val: b[4:l]})
		b = b[min(nlmAlign(l), len(b)):]
	}
	return out
}

func nlmAlign(l int) int { return (l + 3) &^ 3 }

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
	return w.fail
}

func (w *mdbWatch) close() {
	w.stop.Store(true)
	<-w.done
	unix.Close(w.fd)
}
