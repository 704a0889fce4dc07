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
