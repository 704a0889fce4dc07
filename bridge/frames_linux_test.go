package bridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func multicastMAC(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
}

// ipv4Frame builds Ethernet + IPv4 (with the Router Alert option, as IGMP
// messages carry, so IHL is 6) + payload.
func ipv4Frame(src net.HardwareAddr, srcIP, dstIP netip.Addr, proto byte, payload []byte) []byte {
	const ihl = 24
	f := make([]byte, 14+ihl+len(payload))
	copy(f[0:6], multicastMAC(dstIP))
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:14], unix.ETH_P_IP)
	ip := f[14 : 14+ihl]
	ip[0] = 0x40 | ihl/4
	ip[1] = 0xc0
	binary.BigEndian.PutUint16(ip[2:4], uint16(ihl+len(payload)))
	ip[8] = 1 // TTL
	ip[9] = proto
	s, d := srcIP.As4(), dstIP.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	copy(ip[20:24], []byte{0x94, 0x04, 0, 0}) // Router Alert
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip))
	copy(f[14+ihl:], payload)
	return f
}

// igmpV2 builds an IGMPv1/v2 message (report 0x16, leave 0x17, query 0x11).
func igmpV2(src net.HardwareAddr, srcIP netip.Addr, typ byte, group netip.Addr) []byte {
	dst := group
	switch typ {
	case 0x17:
		dst = netip.MustParseAddr("224.0.0.2")
	case 0x11:
		dst = netip.MustParseAddr("224.0.0.1")
	}
	m := make([]byte, 8)
	m[0] = typ
	if typ == 0x11 {
		m[1] = 100 // max response time, 10 s
	}
	if group.IsValid() {
		g := group.As4()
		copy(m[4:8], g[:])
	}
	binary.BigEndian.PutUint16(m[2:4], checksum(m))
	return ipv4Frame(src, srcIP, dst, 2, m)
}

// igmpV3Report builds an IGMPv3 report with one CHANGE_TO_EXCLUDE({}) record
// (a join) for group, sent to 224.0.0.22.
func igmpV3Report(src net.HardwareAddr, srcIP netip.Addr, group netip.Addr) []byte {
	m := make([]byte, 8+8)
	m[0] = 0x22
	binary.BigEndian.PutUint16(m[6:8], 1)
	m[8] = 4 // CHANGE_TO_EXCLUDE_MODE
	g := group.As4()
	copy(m[12:16], g[:])
	binary.BigEndian.PutUint16(m[2:4], checksum(m))
	return ipv4Frame(src, srcIP, netip.MustParseAddr("224.0.0.22"), 2, m)
}

// udpFrame builds a multicast IPv4/UDP frame (no UDP checksum).
func udpFrame(src net.HardwareAddr, srcIP, dstIP netip.Addr, body []byte) []byte {
	u := make([]byte, 8+len(body))
	binary.BigEndian.PutUint16(u[0:2], 5000)
	binary.BigEndian.PutUint16(u[2:4], 5000)
	binary.BigEndian.PutUint16(u[4:6], uint16(len(u)))
	copy(u[8:], body)
	return ipv4Frame(src, srcIP, dstIP, unix.IPPROTO_UDP, u)
}

// rawSock is an unfiltered packet socket on a host's eth0, to inject and
// capture frames.
type rawSock struct {
	t    *testing.T
	conn *packet.Conn
	mac  net.HardwareAddr
}

func openRaw(t *testing.T, ns *testNS, ifname string) *rawSock {
	t.Helper()
	var s *rawSock
	ns.Do(func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			t.Fatalf("%s: %v", ifname, err)
		}
		c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		if err != nil {
			t.Fatalf("packet socket on %s: %v", ifname, err)
		}
		s = &rawSock{t: t, conn: c, mac: ifi.HardwareAddr}
	})
	t.Cleanup(func() { s.conn.Close() })
	return s
}

func (s *rawSock) send(frame []byte) {
	s.t.Helper()
	if _, err := s.conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[:6])}); err != nil {
		s.t.Fatalf("send: %v", err)
	}
}

// waitFor reads until a frame equal to want arrives (true) or timeout passes.
func (s *rawSock) waitFor(want []byte, timeout time.Duration) bool {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 2048)
	for range 10000 {
		if err := s.conn.SetReadDeadline(deadline); err != nil {
			s.t.Fatalf("deadline: %v", err)
		}
		n, _, err := s.conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		if err != nil {
			s.t.Fatalf("read: %v", err)
		}
		// Short frames are padded to 60 bytes on the wire.
		if n >= len(want) && bytes.Equal(buf[:len(want)], want) {
			return true
		}
	}
	return false
}

// ipv6MulticastMAC is the Ethernet address of an IPv6 multicast group.
func ipv6MulticastMAC(ip netip.Addr) net.HardwareAddr {
	a := ip.As16()
	return net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// upperChecksum is the checksum of an upper-layer IPv6 message (ICMPv6,
// UDP) with the pseudo-header of RFC 8200 §8.1; msg's checksum field must
// be zero.
func upperChecksum(src, dst netip.Addr, proto byte, msg []byte) uint16 {
	b := make([]byte, 0, 40+len(msg))
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, 0, 0, 0, proto)
	return checksum(append(b, msg...))
}

// ipv6Frame builds Ethernet + IPv6 (hop limit 1) + extension headers + an
// upper-layer message. first is the fixed header's next header; exts are the
// extension headers, already chained by their own next-header bytes.
func ipv6Frame(src net.HardwareAddr, srcIP, dstIP netip.Addr, first byte, exts, payload []byte) []byte {
	f := make([]byte, 14+40, 14+40+len(exts)+len(payload))
	dst := ipv6MulticastMAC(dstIP)
	if !dstIP.IsMulticast() {
		dst = net.HardwareAddr{2, 0, 0, 0, 0, 0xee}
	}
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:14], unix.ETH_P_IPV6)
	ip := f[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(exts)+len(payload)))
	ip[6] = first
	ip[7] = 1
	s, d := srcIP.As16(), dstIP.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	f = append(f, exts...)
	return append(f, payload...)
}

// hopByHop builds a Hop-by-Hop options header of 8*(units+1) bytes with
// the Router Alert option (MLD, RFC 2711), padded with PadN.
func hopByHop(next byte, units int) []byte {
	h := make([]byte, 8*(units+1))
	h[0], h[1] = next, byte(units)
	copy(h[2:6], []byte{5, 2, 0, 0}) // Router Alert: MLD
	h[6], h[7] = 1, byte(len(h)-8)   // PadN over the rest
	return h
}

// extHeader builds a Destination options (60) or Routing (43) style header
// of 8 bytes, or a Fragment header (44) with the given fragment offset.
func extHeader(typ, next byte, fragOffset uint16) []byte {
	h := make([]byte, 8)
	h[0] = next
	switch typ {
	case 44:
		binary.BigEndian.PutUint16(h[2:4], fragOffset<<3)
	default:
		h[2], h[3] = 1, 4 // PadN over the rest
	}
	return h
}

// icmpv6Frame builds an ICMPv6 message behind the given extension headers
// (the last one's next header must be 58; none: first is 58).
func icmpv6Frame(src net.HardwareAddr, srcIP, dstIP netip.Addr, first byte, exts, msg []byte) []byte {
	msg = bytes.Clone(msg)
	msg[2], msg[3] = 0, 0
	binary.BigEndian.PutUint16(msg[2:4], upperChecksum(srcIP, dstIP, 58, msg))
	return ipv6Frame(src, srcIP, dstIP, first, exts, msg)
}

// mldFrame builds an MLD message behind a Hop-by-Hop header of 8 bytes, as
// hosts and routers send them. The destination follows the message type.
func mldFrame(src net.HardwareAddr, srcIP netip.Addr, msg []byte) []byte {
	dst := netip.MustParseAddr("ff02::1")
	switch msg[0] {
	case 131:
		dst = netip.AddrFrom16([16]byte(msg[8:24]))
	case 132:
		dst = netip.MustParseAddr("ff02::2")
	case 143:
		dst = netip.MustParseAddr("ff02::16")
	}
	return icmpv6Frame(src, srcIP, dst, 0, hopByHop(58, 0), msg)
}

// mldV1 builds an MLDv1 message: report 131, done 132 or query 130 (with
// maximum response delay maxResp milliseconds).
func mldV1(typ byte, group netip.Addr, maxResp uint16) []byte {
	m := make([]byte, 24)
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:6], maxResp)
	if group.IsValid() {
		g := group.As16()
		copy(m[8:24], g[:])
	}
	return m
}

// mldV2Report builds an MLDv2 report with one CHANGE_TO_EXCLUDE({}) record.
func mldV2Report(group netip.Addr) []byte {
	m := make([]byte, 8+20)
	m[0] = 143
	binary.BigEndian.PutUint16(m[6:8], 1)
	m[8] = 4 // CHANGE_TO_EXCLUDE_MODE
	g := group.As16()
	copy(m[12:28], g[:])
	return m
}

// mldV2Query builds an MLDv2 general query (group invalid) or
// group-specific query, with maximum response code maxResp (milliseconds,
// exact below 32768).
func mldV2Query(group netip.Addr, maxResp uint16) []byte {
	m := make([]byte, 28)
	m[0] = 130
	binary.BigEndian.PutUint16(m[4:6], maxResp)
	if group.IsValid() {
		g := group.As16()
		copy(m[8:24], g[:])
	}
	m[24] = 2   // QRV
	m[25] = 125 // QQIC: 125 s
	return m
}

// udp6Frame builds a multicast IPv6/UDP frame with its checksum.
func udp6Frame(src net.HardwareAddr, srcIP, dstIP netip.Addr, body []byte) []byte {
	u := make([]byte, 8+len(body))
	binary.BigEndian.PutUint16(u[0:2], 5000)
	binary.BigEndian.PutUint16(u[2:4], 5000)
	binary.BigEndian.PutUint16(u[4:6], uint16(len(u)))
	copy(u[8:], body)
	binary.BigEndian.PutUint16(u[6:8], upperChecksum(srcIP, dstIP, unix.IPPROTO_UDP, u))
	return ipv6Frame(src, srcIP, dstIP, unix.IPPROTO_UDP, nil, u)
}

// tagged inserts an 802.1Q tag (VLAN 10) after the MAC addresses.
func tagged(f []byte) []byte {
	return append(append(bytes.Clone(f[:12]), 0x81, 0x00, 0x00, 0x0a), f[12:]...)
}
