package bridge

import (
	"fmt"
	"net"

	"github.com/mdlayher/packet"
)

// Sender writes frames into a bridge through the bridge device itself, as
// if the host behind the bridge had sent them. The bridge forwards such a
// frame like any frame the host sends: multicast floods to every port (or
// goes by the MDB once a querier exists), and the bridge's multicast code
// sees it first. That is what makes it the way to send the daemon's own
// queries: the kernel counts a general query written here as coming from a
// querier (with max-response-time of flooding after the first one, as for
// any new querier), so it forwards by the MDB afterwards, and it does not
// make any port a router port.
//
// What the kernel makes of a query written here (verified on 6.18,
// TestBridgeSenderQuerier and TestBridgeSenderElection):
//   - IGMPv2 and IGMPv3 general queries count, from the bridge's address or
//     from 0.0.0.0. MLDv1 and MLDv2 general queries count only from a
//     link-local source, which need not be an address the bridge has (nor
//     does the bridge need IPv6); from any other source the kernel finds the
//     query invalid and drops it: no port receives it.
//   - The kernel runs a querier election on what it hears: it keeps the
//     lowest source address (a query from 0.0.0.0 counts, but never makes it
//     ignore anyone). While a query written here holds that place, queries arriving on ports from higher addresses are
//     ignored altogether for mcast_querier_interval (255 s): their ports do
//     not become (or stay) router ports. A daemon that queries must keep
//     router ports itself (SetPortRouter), or query from 0.0.0.0 (IPv4).
//
// It is write-only: the socket is bound to protocol 0, so the kernel queues
// nothing on it. WriteFrame may be called from several goroutines.
type Sender struct {
	ifindex int
	conn    *packet.Conn
}

// OpenBridgeSender opens a Sender on the bridge with ifindex bridgeIndex
// (in the calling thread's network namespace).
func OpenBridgeSender(bridgeIndex int) (*Sender, error) {
	ifi, err := net.InterfaceByIndex(bridgeIndex)
	if err != nil {
		return nil, fmt.Errorf("open sender on bridge %d: %w", bridgeIndex, err)
	}
	// Protocol 0: bound to the device but hooked to no protocol, so the
	// socket receives nothing. On sendto, the kernel takes skb->protocol
	// from the frame's EtherType (packet_parse_headers), which the bridge's
	// multicast code needs.
	conn, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("open sender on bridge %s: %w", ifi.Name, err)
	}
	return &Sender{ifindex: bridgeIndex, conn: conn}, nil
}

// WriteFrame sends a complete Ethernet frame into the bridge. Its source
// MAC should be the bridge's own: the bridge learns no address from frames
// the host sends, so answers to any other MAC would be flooded. The bridge
// must be up.
func (s *Sender) WriteFrame(frame []byte) error {
	if len(frame) < 14 {
		return fmt.Errorf("write on bridge %d: frame of %d bytes has no Ethernet header", s.ifindex, len(frame))
	}
	dst := &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])}
	if _, err := s.conn.WriteTo(frame, dst); err != nil {
		return fmt.Errorf("write on bridge %d: %w", s.ifindex, err)
	}
	return nil
}

// Close closes the socket.
func (s *Sender) Close() error {
	if err := s.conn.Close(); err != nil {
		return fmt.Errorf("close sender on bridge %d: %w", s.ifindex, err)
	}
	return nil
}
