package bridge

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

var (
	h3IP  = netip.MustParseAddr("10.77.0.13")
	h3IP6 = netip.MustParseAddr("fd77::13")
)

// igmpQuery builds an IGMPv2 general query with a maximum response time in
// tenths of a second.
func igmpQuery(src net.HardwareAddr, srcIP netip.Addr, maxResp byte) []byte {
	f := igmpV2(src, srcIP, 0x11, netip.Addr{})
	m := f[len(f)-8:]
	m[1] = maxResp
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:4], checksum(m))
	return f
}

// igmpV3Query builds an IGMPv3 general query with a maximum response code
// in tenths of a second (exact below 128).
func igmpV3Query(src net.HardwareAddr, srcIP netip.Addr, maxResp byte) []byte {
	m := make([]byte, 12)
	m[0], m[1] = 0x11, maxResp
	m[8], m[9] = 2, 125 // QRV 2, QQIC 125 s
	binary.BigEndian.PutUint16(m[2:4], checksum(m))
	return ipv4Frame(src, srcIP, netip.MustParseAddr("224.0.0.1"), 2, m)
}

func openSender(t *testing.T, l *lab) *Sender {
	t.Helper()
	var s *Sender
	l.br.Do(func() {
		var err error
		if s, err = OpenBridgeSender(l.brIdx); err != nil {
			t.Fatalf("OpenBridgeSender: %v", err)
		}
	})
	t.Cleanup(func() { s.Close() })
	return s
}

// delivery sends frame from a host and reports which of the receivers got it
// (each is given wait, in turn).
func delivery(from *rawSock, frame []byte, wait time.Duration, to ...*rawSock) []bool {
	from.send(frame)
	got := make([]bool, len(to))
	for i, r := range to {
		got[i] = r.waitFor(frame, wait)
	}
	return got
}

// routerPortList returns the bridge's router ports.
func routerPortList(t *testing.T, m *MDB, br int) []RouterPort {
	t.Helper()
	rs, err := m.routerPorts(br)
	if err != nil {
		t.Fatalf("RouterPorts: %v", err)
	}
	return rs
}

// TestBridgeSenderQuerier: an IGMPv2 general query written into the bridge
// device reaches the hosts on every port, and makes the kernel forward by
// the MDB (after the query's max response time) without making any port a
// router port.
func TestBridgeSenderQuerier(t *testing.T) {
	l := newLab(t, 3)
	m := openTestMDB(t, l.br)
	h1, h2, h3 := openRaw(t, l.hosts[0], "eth0"), openRaw(t, l.hosts[1], "eth0"), openRaw(t, l.hosts[2], "eth0")
	s := openSender(t, l)
	g := netip.MustParseAddr("239.77.8.1")
	if err := m.replace(Entry{Bridge: l.brIdx, Port: l.ports[0], Group: g}); err != nil {
		t.Fatal(err)
	}
	const long, short = 2 * time.Second, 300 * time.Millisecond

	// No querier yet: the bridge floods, the entry is not used.
	before := udpFrame(h3.mac, h3IP, g, []byte("before the query"))
	if got := delivery(h3, before, long, h1, h2); !got[0] || !got[1] {
		t.Fatalf("before any query: delivered to h1, h2 = %v, want both (flooding)", got)
	}

	// (a) The query from the bridge's address reaches every host.
	q := igmpQuery(l.br.MAC("br0"), netip.MustParseAddr("10.77.0.1"), 10) // 1 s
	if err := s.WriteFrame(q); err != nil {
		t.Fatalf("WriteFrame: %v", err)
	}
	sent := time.Now()
	for i, h := range []*rawSock{h1, h2, h3} {
		if !h.waitFor(q, long) {
			t.Errorf("h%d did not receive the query", i+1)
		}
	}
	if rs := routerPortList(t, m, l.brIdx); len(rs) != 0 {
		t.Errorf("router ports after the bridge's own query: %+v, want none", rs)
	}

	// (b) After max response time, the kernel forwards by the MDB.
	time.Sleep(time.Until(sent.Add(1100 * time.Millisecond)))
	after := udpFrame(h3.mac, h3IP, g, []byte("after the query"))
	if got := delivery(h3, after, short, h1, h2); !got[0] || got[1] {
		t.Errorf("after the query: delivered to h1, h2 = %v, want h1 only", got)
	}
	unreg := udpFrame(h3.mac, h3IP, netip.MustParseAddr("239.77.8.2"), []byte("unregistered"))
	if got := delivery(h3, unreg, short, h1, h2); got[0] || got[1] {
		t.Errorf("unregistered group: delivered to h1, h2 = %v, want neither (no router ports)", got)
	}
	// Short frames and frames to a bridge that is down are refused.
	if err := s.WriteFrame(q[:12]); err == nil {
		t.Error("WriteFrame of 12 bytes succeeded")
	}
	l.br.IP("link", "set", "br0", "down")
	if err := s.WriteFrame(q); err == nil {
		t.Error("WriteFrame on a bridge that is down succeeded")
	} else {
		t.Logf("bridge down: %v", err)
	}
}

// TestBridgeSenderMLDQuerier: the same for an MLDv2 general query from the
// bridge's link-local address, and (subtest) from a link-local address the
// bridge does not have, on a bridge without IPv6.
func TestBridgeSenderMLDQuerier(t *testing.T) {
	for _, bridgeIPv6 := range []bool{true, false} {
		t.Run(fmt.Sprintf("bridge IPv6 %t", bridgeIPv6), func(t *testing.T) {
			l := newLab(t, 3)
			src := netip.MustParseAddr("fe80::77:1")
			if bridgeIPv6 {
				l.br.enableIPv6()
				src = l.br.linkLocal("br0")
				l.br.Do(func() {
					br, _, err := Lookup("br0")
					if err != nil {
						t.Fatal(err)
					}
					if br.IPv6 != src {
						t.Errorf("Lookup: bridge IPv6 = %v, want %v", br.IPv6, src)
					}
				})
			}
			m := openTestMDB(t, l.br)
			h1, h2, h3 := openRaw(t, l.hosts[0], "eth0"), openRaw(t, l.hosts[1], "eth0"), openRaw(t, l.hosts[2], "eth0")
			s := openSender(t, l)
			g := netip.MustParseAddr("ff0e::77:8:1")
			if err := m.replace(Entry{Bridge: l.brIdx, Port: l.ports[0], Group: g}); err != nil {
				t.Fatal(err)
			}
			const long, short = 2 * time.Second, 300 * time.Millisecond
			before := udp6Frame(h3.mac, h3IP6, g, []byte("before the query"))
			if got := delivery(h3, before, long, h1, h2); !got[0] || !got[1] {
				t.Fatalf("before any query: delivered to h1, h2 = %v, want both (flooding)", got)
			}
			q := mldFrame(l.br.MAC("br0"), src, mldV2Query(netip.Addr{}, 1000))
			if err := s.WriteFrame(q); err != nil {
				t.Fatalf("WriteFrame: %v", err)
			}
			sent := time.Now()
			for i, h := range []*rawSock{h1, h2, h3} {
				if !h.waitFor(q, long) {
					t.Errorf("h%d did not receive the query", i+1)
				}
			}
			if rs := routerPortList(t, m, l.brIdx); len(rs) != 0 {
				t.Errorf("router ports after the bridge's own query: %+v, want none", rs)
			}
			time.Sleep(time.Until(sent.Add(1100 * time.Millisecond)))
			after := udp6Frame(h3.mac, h3IP6, g, []byte("after the query"))
			got := delivery(h3, after, short, h1, h2)
			t.Logf("after the query: delivered to h1, h2 = %v", got)
			if !got[0] || got[1] {
				t.Errorf("after the query: delivered to h1, h2 = %v, want h1 only", got)
			}
		})
	}
}

// TestBridgeSenderElection documents how the kernel's querier election
// treats queries written into the bridge. The kernel keeps the lowest
// querier address it heard (0.0.0.0 never counts as an address); a query
// from a higher address, on a port, is then ignored altogether for the
// querier interval: it neither refreshes the querier nor makes its port a
// router port. An IGMP query from 0.0.0.0 written into the bridge still
// makes the kernel forward by the MDB. An MLD query not from a link-local
// address is invalid to the kernel: dropped, not flooded, not counted.
func TestBridgeSenderElection(t *testing.T) {
	for _, c := range []struct {
		name            string
		injected, host  string
		hostIsRouter    bool // the host's later query makes its port a router port
		injectedCounted bool // the injected query makes the kernel forward by the MDB
		old             bool // inject IGMPv3 / MLDv1 instead of IGMPv2 / MLDv2
	}{
		{"IGMP lower", "10.77.0.1", "10.77.0.12", false, true, false},
		{"IGMP higher", "10.77.0.50", "10.77.0.12", true, true, false},
		{"IGMP 0.0.0.0", "0.0.0.0", "10.77.0.12", true, true, false},
		{"IGMPv3 lower", "10.77.0.1", "10.77.0.12", false, true, true},
		{"MLD lower", "fe80::1", "fe80::12", false, true, false},
		{"MLD higher", "fe80::50", "fe80::12", true, true, false},
		{"MLDv1 lower", "fe80::1", "fe80::12", false, true, true},
		{"MLD global", "fd77::1", "fe80::12", true, false, false},
		{"MLD unspecified", "::", "fe80::12", true, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, 3)
			m := openTestMDB(t, l.br)
			h1, h2, h3 := openRaw(t, l.hosts[0], "eth0"), openRaw(t, l.hosts[1], "eth0"), openRaw(t, l.hosts[2], "eth0")
			s := openSender(t, l)
			src, hostSrc := netip.MustParseAddr(c.injected), netip.MustParseAddr(c.host)
			v6 := src.Is6()
			var q, hq []byte
			g := netip.MustParseAddr("239.77.8.9")
			if v6 {
				g = netip.MustParseAddr("ff0e::77:8:9")
				q = mldFrame(l.br.MAC("br0"), src, mldV2Query(netip.Addr{}, 500))
				if c.old {
					q = mldFrame(l.br.MAC("br0"), src, mldV1(130, netip.Addr{}, 500))
				}
				hq = mldFrame(h2.mac, hostSrc, mldV2Query(netip.Addr{}, 500))
			} else {
				q = igmpQuery(l.br.MAC("br0"), src, 5)
				if c.old {
					q = igmpV3Query(l.br.MAC("br0"), src, 5)
				}
				hq = igmpQuery(h2.mac, hostSrc, 5)
			}
			if err := m.replace(Entry{Bridge: l.brIdx, Port: l.ports[0], Group: g}); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteFrame(q); err != nil {
				t.Fatal(err)
			}
			if got := h1.waitFor(q, time.Second); got != c.injectedCounted {
				t.Errorf("h1 received the injected query: %t, want %t", got, c.injectedCounted)
			}
			time.Sleep(600 * time.Millisecond)
			var data []byte
			if v6 {
				data = udp6Frame(h3.mac, h3IP6, g, []byte("data"))
			} else {
				data = udpFrame(h3.mac, h3IP, g, []byte("data"))
			}
			got := delivery(h3, data, 300*time.Millisecond, h1, h2)
			if counted := got[0] && !got[1]; counted != c.injectedCounted {
				t.Errorf("after the injected query, data reached h1, h2 = %v: counted as querier %t, want %t", got, counted, c.injectedCounted)
			}

			h2.send(hq)
			time.Sleep(300 * time.Millisecond)
			rs := routerPortList(t, m, l.brIdx)
			if got := isRouterPort(rs, l.ports[1], v6); got != c.hostIsRouter {
				t.Errorf("after the host's query from %s, p2 router port %t, want %t (%+v)", hostSrc, got, c.hostIsRouter, rs)
			}
		})
	}
}
