package bridge

import (
	"fmt"
	"net"
	"sync"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// PortConn is an AF_PACKET socket on one bridge port that reads the IGMP
// frames arriving on the port and writes frames straight out of it,
// bypassing the bridge. ReadFrame, WriteFrame and Stats may be called from
// different goroutines.
type PortConn struct {
	ifindex int
	conn    *packet.Conn

	mu                sync.Mutex
	received, dropped uint64 // running totals: PACKET_STATISTICS resets on read
}

// portFilter accepts frames that arrive on the port (any packet type but
// PACKET_OUTGOING, so not the bridge's floods out of the port nor our own
// writes) and carry IPv4 protocol 2, either untagged or behind one 802.1Q
// tag. The kernel normally moves a VLAN tag into skb metadata before packet
// taps, and the filter then sees (and the reader receives) the frame
// untagged: the VLAN id is not reported.
func portFilter() ([]bpf.RawInstruction, error) {
	const (
		accept = 1 << 18 // snap length: whole frames
		reject = 0
	)
	return bpf.Assemble([]bpf.Instruction{
		/* 0 */ bpf.LoadExtension{Num: bpf.ExtType},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 10},
		/* 2 */ bpf.LoadAbsolute{Off: 12, Size: 2},
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IP, SkipTrue: 3},
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_8021Q, SkipFalse: 7},
		/* 5 */ bpf.LoadAbsolute{Off: 16, Size: 2},
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IP, SkipTrue: 2, SkipFalse: 5},
		/* 7 */ bpf.LoadAbsolute{Off: 14 + 9, Size: 1}, // IPv4 protocol, untagged
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_IGMP, SkipTrue: 2, SkipFalse: 3},
		/* 9 */ bpf.LoadAbsolute{Off: 18 + 9, Size: 1}, // IPv4 protocol, tagged
		/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_IGMP, SkipFalse: 1},
		/* 11 */ bpf.RetConstant{Val: accept},
		/* 12 */ bpf.RetConstant{Val: reject},
	})
}

// ListenPort opens a packet socket on the port with ifindex (in the calling
// thread's network namespace). It binds to all protocols: a socket bound to
// ETH_P_IP sees nothing on a bridge port, because the bridge consumes frames
// before protocol-specific taps. The filter is installed before the bind, so
// no unfiltered frame is ever queued.
func ListenPort(ifindex int) (*PortConn, error) {
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return nil, fmt.Errorf("listen on port %d: %w", ifindex, err)
	}
	filter, err := portFilter()
	if err != nil {
		return nil, fmt.Errorf("listen on port %s: assemble filter: %w", ifi.Name, err)
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("listen on port %s: %w", ifi.Name, err)
	}
	return &PortConn{ifindex: ifindex, conn: conn}, nil
}

// ReadFrame blocks until an incoming IGMP frame arrives and copies it,
// starting with its Ethernet header, into buf; a longer frame is truncated
// to len(buf). After Close it returns an error at once.
func (c *PortConn) ReadFrame(buf []byte) (int, error) {
	n, _, err := c.conn.ReadFrom(buf)
	if err != nil {
		return n, fmt.Errorf("read on port %d: %w", c.ifindex, err)
	}
	return n, nil
}

// WriteFrame sends a complete Ethernet frame out of the port. It does not
// pass through the bridge: no other port sees it, and the bridge does not
// learn from it.
func (c *PortConn) WriteFrame(frame []byte) error {
	if len(frame) < 14 {
		return fmt.Errorf("write on port %d: frame of %d bytes has no Ethernet header", c.ifindex, len(frame))
	}
	dst := &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])}
	if _, err := c.conn.WriteTo(frame, dst); err != nil {
		return fmt.Errorf("write on port %d: %w", c.ifindex, err)
	}
	return nil
}

// Stats returns, since the socket was opened, the frames that passed the
// filter (received, counting those then dropped) and those dropped because
// the socket's receive queue was full.
func (c *PortConn) Stats() (received, dropped uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.conn.Stats()
	if err != nil {
		return c.received, c.dropped, fmt.Errorf("stats of port %d: %w", c.ifindex, err)
	}
	c.received += uint64(s.Packets)
	c.dropped += uint64(s.Drops)
	return c.received, c.dropped, nil
}

// Close closes the socket; a blocked ReadFrame returns.
func (c *PortConn) Close() error {
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("close port %d: %w", c.ifindex, err)
	}
	return nil
}
