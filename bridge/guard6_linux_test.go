package bridge

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// guardModes are the modes the guard's behaviour is tested in.
var guardModes = []GuardMode{GuardTCX, GuardTC}

// attachGuard attaches a guard in mode to port, in ns; it goes when the
// test ends.
func attachGuard(t *testing.T, ns *testNS, mode GuardMode, port int) *Guard {
	t.Helper()
	var g *Guard
	ns.Do(func() {
		s, err := NewGuards(mode)
		if err != nil {
			t.Fatalf("NewGuards(%s): %v", mode, err)
		}
		if g, err = s.Attach(port, GuardOptions{}); err != nil {
			t.Fatalf("attach a %s guard to %d: %v", mode, port, err)
		}
	})
	t.Cleanup(func() { g.Close() })
	return g
}

func isRouterPort(rs []RouterPort, port int, v6 bool) bool {
	for _, r := range rs {
		if r.Port == port && ((v6 && r.IPv6) || (!v6 && r.IPv4)) {
			return true
		}
	}
	return false
}

// TestGuardMLD: crafted MLD reports and dones, and queries from the
// unspecified address, are read by the port socket and never reach the
// bridge; MLD queries from a real router do. In both modes.
func TestGuardMLD(t *testing.T) {
	for _, mode := range guardModes {
		t.Run(string(mode), func(t *testing.T) { testGuardMLD(t, mode) })
	}
}

func testGuardMLD(t *testing.T, mode GuardMode) {
	l := newLab(t, 2)
	m := openTestMDB(t, l.br)
	h1, h2 := openRaw(t, l.hosts[0], "eth0"), openRaw(t, l.hosts[1], "eth0")
	p1, p2 := l.ports[0], l.ports[1]
	g := attachGuard(t, l.br, mode, p1)
	var pc *PortConn
	l.br.Do(func() {
		var err error
		if pc, err = ListenPort(p1); err != nil {
			t.Fatalf("ListenPort: %v", err)
		}
	})
	frames := portReader(t, pc)
	ll1, ll2 := netip.MustParseAddr("fe80::11"), netip.MustParseAddr("fe80::12")
	g1, g2 := netip.MustParseAddr("ff0e::77:3:1"), netip.MustParseAddr("ff0e::77:3:2")

	sent := [][]byte{
		mldFrame(h1.mac, ll1, mldV1(131, g1, 0)),
		mldFrame(h1.mac, ll1, mldV2Report(g2)),
		icmpv6Frame(h1.mac, ll1, netip.MustParseAddr("ff02::16"), 0, hopByHop(58, 2), mldV2Report(g1)),
		mldFrame(h1.mac, ll1, mldV1(132, g1, 0)),
	}
	for i, f := range sent {
		h1.send(f)
		expectFrame(t, frames, f, "guarded MLD frame "+string(rune('0'+i)))
	}
	eventually(t, 3*time.Second, "4 drops counted", func() bool { return dropped(t, g) == 4 })

	// The same report on the unguarded port is learned by the kernel.
	h2.send(mldFrame(h2.mac, ll2, mldV2Report(g1)))
	expectLearned(t, m, l.brIdx, p2, g1, "kernel learning g1 on p2")
	time.Sleep(100 * time.Millisecond)
	for _, grp := range []netip.Addr{g1, g2} {
		if e, ok := learned(t, m, l.brIdx, p1, grp); ok {
			t.Errorf("kernel learned %s on the guarded port: %s", grp, e)
		}
	}

	// Queries from the unspecified address are read and dropped. An IGMP
	// one would make an unguarded port a router port (shown on p2).
	q4 := igmpV2(h1.mac, netip.IPv4Unspecified(), 0x11, netip.Addr{})
	q6 := mldFrame(h1.mac, netip.IPv6Unspecified(), mldV2Query(netip.Addr{}, 1000))
	for _, q := range [][]byte{q4, q6} {
		h1.send(q)
		expectFrame(t, frames, q, "query from the unspecified address")
	}
	eventually(t, 3*time.Second, "6 drops counted", func() bool { return dropped(t, g) == 6 })
	h2.send(igmpV2(h2.mac, netip.IPv4Unspecified(), 0x11, netip.Addr{}))
	eventually(t, 3*time.Second, "p2 router port after a query from 0.0.0.0", func() bool {
		return isRouterPort(routerPortList(t, m, l.brIdx), p2, false)
	})
	if rs := routerPortList(t, m, l.brIdx); isRouterPort(rs, p1, false) || isRouterPort(rs, p1, true) {
		t.Errorf("p1 became a router port: %+v", rs)
	}

	// An MLD query from a link-local address passes: p1 becomes an IPv6
	// router port, and nothing more is counted.
	q := mldFrame(h1.mac, ll1, mldV2Query(netip.Addr{}, 1000))
	h1.send(q)
	expectFrame(t, frames, q, "MLD query")
	eventually(t, 3*time.Second, "p1 IPv6 router port", func() bool {
		return isRouterPort(routerPortList(t, m, l.brIdx), p1, true)
	})
	if n := dropped(t, g); n != 6 {
		t.Errorf("Dropped = %d after a real query, want 6", n)
	}
	// Other IPv6 traffic passes.
	data := udp6Frame(h1.mac, netip.MustParseAddr("fd77::11"), g2, []byte("data"))
	h1.send(data)
	if !h2.waitFor(data, 3*time.Second) {
		t.Error("IPv6 multicast data from h1 did not reach h2 through the guarded port")
	}
}

// TestGuardMLDHost: the MLD reports of a real host kernel (a socket joining
// a group with IPV6_JOIN_GROUP) are learned through an unguarded port and
// not through a guarded one, where the port socket reads them.
func TestGuardMLDHost(t *testing.T) {
	l := newLab(t, 2)
	m := openTestMDB(t, l.br)
	p1, p2 := l.ports[0], l.ports[1]
	g := attachGuard(t, l.br, GuardTCX, p1)
	var pc *PortConn
	l.br.Do(func() {
		var err error
		if pc, err = ListenPort(p1); err != nil {
			t.Fatalf("ListenPort: %v", err)
		}
	})
	frames := portReader(t, pc)
	grp := netip.MustParseAddr("ff0e::77:3:9")
	for _, h := range l.hosts {
		h.enableIPv6()
		h.linkLocal("eth0")
		h.Do(func() {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.ListenMulticastUDP("udp6", ifi, &net.UDPAddr{IP: grp.AsSlice(), Port: 5000})
			if err != nil {
				t.Fatalf("join %s: %v", grp, err)
			}
			t.Cleanup(func() { c.Close() })
		})
	}
	expectLearned(t, m, l.brIdx, p2, grp, "kernel learning the group from h2's report on p2")
	// h1's report for the group, read on p1: an MLDv2 report (the host
	// default) with a record for grp.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f := nextFrame(t, frames, time.Until(deadline))
		if len(f) >= 14+40+8+8+20 && f[14+6] == 0 && f[14+40] == 58 && f[14+48] == 143 &&
			bytes.Contains(f[14+48:], grp.AsSlice()) {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	for _, e := range mustDump(t, m, l.brIdx) {
		if e.Port == p1 {
			t.Errorf("kernel learned on the guarded port: %s", e)
		}
	}
	if n := dropped(t, g); n == 0 {
		t.Error("the guard dropped nothing")
	}
}

// ping6 sends ICMPv6 echo requests from src (in ns) to dst every 200ms and
// reports whether a reply came within timeout.
func ping6(t *testing.T, ns *testNS, src, dst netip.Addr, timeout time.Duration) bool {
	t.Helper()
	var c *icmp.PacketConn
	ns.Do(func() {
		var err error
		if c, err = icmp.ListenPacket("ip6:ipv6-icmp", src.String()); err != nil {
			t.Fatalf("icmp socket: %v", err)
		}
	})
	defer c.Close()
	var idb [2]byte
	rand.Read(idb[:])
	id := int(binary.BigEndian.Uint16(idb[:]))
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	for seq := 1; time.Now().Before(deadline); seq++ {
		req, err := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("igmpsnoop")}}).Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteTo(req, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Fatalf("send echo: %v", err)
		}
		next := time.Now().Add(200 * time.Millisecond)
		if next.After(deadline) {
			next = deadline
		}
		c.SetReadDeadline(next)
		for {
			n, _, err := c.ReadFrom(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			m, err := icmp.ParseMessage(58, buf[:n])
			if err != nil || m.Type != ipv6.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
				return true
			}
		}
	}
	return false
}

// TestGuardND: neighbour discovery works between hosts behind guarded
// ports. Once an MLD querier exists, it only works if the hosts'
// solicited-node groups are installed (the guard drops the hosts' own
// reports for them): the daemon must install them.
func TestGuardND(t *testing.T) {
	l := newLab(t, 2)
	m := openTestMDB(t, l.br)
	for _, p := range l.ports {
		attachGuard(t, l.br, GuardTCX, p)
	}
	a1, a2 := netip.MustParseAddr("fd77::11"), netip.MustParseAddr("fd77::12")
	for i, h := range l.hosts {
		h.enableIPv6()
		h.IP("addr", "add", []string{"fd77::11/64", "fd77::12/64"}[i], "dev", "eth0", "nodad")
	}
	if !ping6(t, l.hosts[0], a1, a2, 5*time.Second) {
		t.Fatal("no echo reply from h2 through guarded ports")
	}

	// An MLD querier appears (the daemon's own, written into the bridge).
	l.br.enableIPv6()
	s := openSender(t, l)
	q := mldFrame(l.br.MAC("br0"), l.br.linkLocal("br0"), mldV2Query(netip.Addr{}, 500))
	if err := s.WriteFrame(q); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	l.hosts[0].IP("-6", "neigh", "flush", "dev", "eth0")
	if ping6(t, l.hosts[0], a1, a2, 2*time.Second) {
		t.Error("echo reply although h2's solicited-node group is not installed: was the querier not counted?")
	}
	// Installing h2's solicited-node group on its port mends it.
	sn := netip.MustParseAddr("ff02::1:ff00:12")
	if err := m.replace(Entry{Bridge: l.brIdx, Port: l.ports[1], Group: sn}); err != nil {
		t.Fatal(err)
	}
	if !ping6(t, l.hosts[0], a1, a2, 5*time.Second) {
		t.Error("no echo reply after installing h2's solicited-node group")
	}
}
