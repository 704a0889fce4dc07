package bridge

import (
	"bytes"
	"encoding/binary"
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
	vm, err := bpf.NewVM(insns[2:])
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	g := netip.MustParseAddr("239.77.6.1")
	igmp := igmpV2(mac, h1IP, 0x16, g)
	tagged := append(append(bytes.Clone(igmp[:12]), 0x81, 0x00, 0x00, 0x0a), igmp[12:]...)
	udp := udpFrame(mac, h1IP, g, []byte("x"))
	taggedUDP := append(append(bytes.Clone(udp[:12]), 0x81, 0x00, 0x00, 0x0a), udp[12:]...)
	for _, c := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"igmp", igmp, true},
		{"tagged igmp", tagged, true},
		{"udp", udp, false},
		{"tagged udp", taggedUDP, false},
		{"short", igmp[:13], false},
	} {
		n, err := vm.Run(c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if (n > 0) != c.want {
			t.Errorf("%s: filter returned %d, want accept=%t", c.name, n, c.want)
		}
	}
}
