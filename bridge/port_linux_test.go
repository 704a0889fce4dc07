package bridge

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestPortConn(t *testing.T) {
	l := newLab(t, 2)
	h1, h2 := openRaw(t, l.hosts[0], "eth0"), openRaw(t, l.hosts[1], "eth0")
	var pc *PortConn
	l.br.Do(func() {
		var err error
		if pc, err = ListenPort(l.ports[0]); err != nil {
			t.Fatalf("ListenPort: %v", err)
		}
	})
	frames := portReader(t, pc)
	g := netip.MustParseAddr("239.77.5.1")

	// Non-IGMP frames from h1 are not read; the IGMP report after them is.
	h1.send(udpFrame(h1.mac, h1IP, g, []byte("not igmp")))
	arp := make([]byte, 60)
	copy(arp, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(arp[6:], h1.mac)
	binary.BigEndian.PutUint16(arp[12:], unix.ETH_P_ARP)
	h1.send(arp)
	rep1 := igmpV2(h1.mac, h1IP, 0x16, g)
	h1.send(rep1)
	expectFrame(t, frames, rep1, "first frame read")

	// An IGMPv3 report from h2 is flooded by the bridge out of p1 (h1 gets
	// it), but that is an outgoing frame on p1: not read.
	flooded := igmpV3Report(h2.mac, h2IP, g)
	h2.send(flooded)
	if !h1.waitFor(flooded, 3*time.Second) {
		t.Fatal("the bridge did not flood h2's report to h1")
	}
	rep2 := igmpV2(h1.mac, h1IP, 0x17, g)
	h1.send(rep2)
	expectFrame(t, frames, rep2, "frame read after the flood")

	// WriteFrame goes out of p1 only, not through the bridge.
	out := igmpV2(l.br.MAC("br0"), netip.MustParseAddr("10.77.0.1"), 0x11, netip.Addr{})
	if err := pc.WriteFrame(out); err != nil {
		t.Fatalf("WriteFrame: %v", err)
	}
	if !h1.waitFor(out, 3*time.Second) {
		t.Fatal("h1 did not receive the written frame")
	}
	if h2.waitFor(out, 300*time.Millisecond) {
		t.Error("h2 received a frame written to p1")
	}
	select {
	case f := <-frames:
		t.Errorf("read our own written frame: % x", f)
	case <-time.After(200 * time.Millisecond):
	}
	if err := pc.WriteFrame(out[:10]); err == nil {
		t.Error("WriteFrame of a 10-byte frame succeeded")
	}

	rcv, drp, err := pc.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if rcv != 2 || drp != 0 {
		t.Errorf("Stats = %d received, %d dropped; want 2, 0", rcv, drp)
	}
	// Totals accumulate across calls although the kernel resets its counters.
	h1.send(rep1)
	expectFrame(t, frames, rep1, "third report")
	if rcv, _, _ = pc.Stats(); rcv != 3 {
		t.Errorf("Stats after one more = %d received, want 3", rcv)
	}
}

// TestPortFilter runs the classic BPF filter in x/net/bpf's VM.
func TestPortFilter(t *testing.T) {
	raw, err := portFilter()
	if err != nil {
		t.Fatal(err)
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("disassemble")
	}
	// The VM has no pkttype extension; drop the two leading instructions.
	if _, ok := insns[0].(bpf.LoadExtension); !ok {
		t.Fatalf("first instruction %v is not the packet type load", insns[0])
	}
	vm, err := bpf.NewVM(insns[2:])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range portFilterCases() {
		n, err := vm.Run(c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if (n > 0) != c.want {
			t.Errorf("%s: filter returned %d, want accept=%t", c.name, n, c.want)
		}
		if t.Failed() {
			continue
		}
		if c.want && n < len(c.frame) {
			t.Errorf("%s: snap length %d cuts the frame", c.name, n)
		}
	}
}

type filterCase struct {
	name  string
	frame []byte
	want  bool
}

// portFilterCases are frames the port filter must accept or refuse.
func portFilterCases() []filterCase {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	g := netip.MustParseAddr("239.77.6.1")
	igmp := igmpV2(mac, h1IP, 0x16, g)
	udp := udpFrame(mac, h1IP, g, []byte("x"))
	pim4 := ipv4Frame(mac, h1IP, netip.MustParseAddr("224.0.0.13"), unix.IPPROTO_PIM, make([]byte, 12))
	ll := netip.MustParseAddr("fe80::11")
	g6 := netip.MustParseAddr("ff0e::77:6")
	v2report := mldV2Report(g6)
	icmp6 := func(msg []byte) []byte {
		return icmpv6Frame(mac, ll, netip.MustParseAddr("ff02::1"), 58, nil, msg)
	}
	short := func(typ byte) []byte { m := make([]byte, 24); m[0] = typ; return m }
	cases := []filterCase{
		{"igmp", igmp, true},
		{"tagged igmp", tagged(igmp), true},
		{"pim", pim4, true},
		{"tagged pim", tagged(pim4), true},
		{"unicast pim", ipv4Frame(mac, h1IP, netip.MustParseAddr("10.77.0.1"), unix.IPPROTO_PIM, make([]byte, 12)), false},
		{"pim to another group", ipv4Frame(mac, h1IP, netip.MustParseAddr("224.0.0.14"), unix.IPPROTO_PIM, make([]byte, 12)), false},
		{"udp", udp, false},
		{"tagged udp", tagged(udp), false},
		{"short", igmp[:13], false},
		{"mldv2 report", mldFrame(mac, ll, v2report), true},
		{"tagged mldv2 report", tagged(mldFrame(mac, ll, v2report)), true},
		{"mld query", mldFrame(mac, ll, mldV2Query(netip.Addr{}, 1000)), true},
		{"hop-by-hop udp", ipv6Frame(mac, ll, g6, 0, hopByHop(17, 0), make([]byte, 12)), true},
		{"pim6", ipv6Frame(mac, ll, netip.MustParseAddr("ff02::d"), 103, nil, make([]byte, 12)), true},
		{"tagged pim6", tagged(ipv6Frame(mac, ll, netip.MustParseAddr("ff02::d"), 103, nil, make([]byte, 12))), true},
		{"unicast pim6", ipv6Frame(mac, ll, netip.MustParseAddr("fd77::1"), 103, nil, make([]byte, 12)), false},
		{"pim6 to ff02::e", ipv6Frame(mac, ll, netip.MustParseAddr("ff02::e"), 103, nil, make([]byte, 12)), false},
		{"pim6 to ff05::d", ipv6Frame(mac, ll, netip.MustParseAddr("ff05::d"), 103, nil, make([]byte, 12)), false},
		{"udp6", udp6Frame(mac, ll, g6, []byte("x")), false},
		{"tagged udp6", tagged(udp6Frame(mac, ll, g6, []byte("x"))), false},
		{"dstopts udp6", ipv6Frame(mac, ll, g6, 60, extHeader(60, 17, 0), make([]byte, 12)), false},
		{"arp", append(append(bytes.Clone(igmp[:12]), 0x08, 0x06), make([]byte, 28)...), false},
		{"short ipv6", mldFrame(mac, ll, v2report)[:14+6], false},
		{"icmpv6 without type", icmp6(v2report)[:14+40], false},
	}
	for _, typ := range []byte{130, 131, 132, 143, 151, 152, 153} {
		cases = append(cases, filterCase{fmt.Sprintf("icmpv6 %d without hop-by-hop", typ), icmp6(short(typ)), true})
		cases = append(cases, filterCase{fmt.Sprintf("tagged icmpv6 %d without hop-by-hop", typ), tagged(icmp6(short(typ))), true})
	}
	for _, typ := range []byte{1, 128, 129, 133, 134, 135, 136, 144, 150, 154} {
		cases = append(cases, filterCase{fmt.Sprintf("icmpv6 %d", typ), icmp6(short(typ)), false})
	}
	return cases
}

// TestPortConnProtocols sends the filter's test frames through a real port:
// exactly the accepted ones are read, in order.
func TestPortConnProtocols(t *testing.T) {
	l := newLab(t, 1)
	h1 := openRaw(t, l.hosts[0], "eth0")
	var pc *PortConn
	l.br.Do(func() {
		var err error
		if pc, err = ListenPort(l.ports[0]); err != nil {
			t.Fatalf("ListenPort: %v", err)
		}
	})
	frames := portReader(t, pc)
	var want [][]byte
	for _, c := range portFilterCases() {
		// The kernel takes an in-band tag out of the frame before packet
		// taps, so a tagged frame is read untagged; short frames are padded.
		if bytes.Equal(c.frame[12:14], []byte{0x81, 0x00}) || len(c.frame) < 60 {
			continue
		}
		h1.send(c.frame)
		if c.want {
			want = append(want, c.frame)
		}
	}
	sentinel := igmpV2(h1.mac, h1IP, 0x16, netip.MustParseAddr("239.77.6.99"))
	h1.send(sentinel)
	want = append(want, sentinel)
	for i, w := range want {
		got := nextFrame(t, frames, 3*time.Second)
		if !bytes.Equal(got, w) {
			t.Fatalf("frame %d read: % x\nwant % x", i, got, w)
		}
	}
}
