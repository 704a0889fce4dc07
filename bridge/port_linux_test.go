package bridge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/igmpsnoop/igmpsnoop/wire"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestPortConn(t *testing.T) {
	l := newLab(t, 2)
	h1, h2 := openRaw(t, l.hosts[0], "eth0"), openRaw(t, l.hosts[1], "eth0")
	pc := l.listen(0)
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
	pc := l.listen(0)
	frames := portReader(t, pc)
	var want [][]byte
	for _, c := range portFilterCases() {
		// Short frames are padded. Tagged frames are read tagged: the kernel
		// moves the tag out before the filter, ReadFrame puts it back.
		if len(c.frame) < 60 {
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

// withTag inserts a VLAN tag (TPID tpid, TCI tci) after the MAC addresses.
func withTag(f []byte, tpid, tci uint16) []byte {
	var tag [4]byte
	binary.BigEndian.PutUint16(tag[0:2], tpid)
	binary.BigEndian.PutUint16(tag[2:4], tci)
	return append(append(bytes.Clone(f[:12]), tag[:]...), f[12:]...)
}

// TestPortConnVLAN checks that ReadFrame returns frames as they were on the
// wire although the kernel takes the VLAN tag out of them before packet
// sockets see them.
func TestPortConnVLAN(t *testing.T) {
	l := newLab(t, 1)
	h1 := openRaw(t, l.hosts[0], "eth0")
	pc := l.listen(0)
	frames := portReader(t, pc)
	g := netip.MustParseAddr("239.77.7.1")
	report := func(vlan uint16) []byte {
		f, err := wire.EncodeReport(wire.Report{Version: 2, SrcMAC: h1.mac, Src: h1IP, Group: g, VLAN: vlan})
		if err != nil {
			t.Fatalf("EncodeReport: %v", err)
		}
		return f
	}
	untagged := report(0)
	cases := []struct {
		name    string
		frame   []byte
		vlan    uint16 // what wire.Decode must report
		refused bool   // wire refuses it (a tag it does not take)
	}{
		{"vlan 10", report(10), 10, false},
		{"untagged", untagged, 0, false},
		{"vlan 10 priority 5 dei", withTag(untagged, unix.ETH_P_8021Q, 5<<13|1<<12|10), 10, false},
		{"priority-tagged", withTag(untagged, unix.ETH_P_8021Q, 6<<13), 0, false},
		{"vlan 4094", report(4094), 4094, false},
		// An 802.1ad S-tag keeps its TPID.
		{"802.1ad", withTag(untagged, unix.ETH_P_8021AD, 20), 0, true},
		// Two tags: the kernel moves the outer one only, so the filter sees
		// the inner one in band (its tagged branch).
		{"802.1ad over 802.1Q", withTag(report(10), unix.ETH_P_8021AD, 20), 0, true},
		{"802.1Q over 802.1Q", withTag(report(10), unix.ETH_P_8021Q, 30), 0, true},
	}
	for _, c := range cases {
		h1.send(c.frame)
		got := nextFrame(t, frames, 3*time.Second)
		if !bytes.Equal(got, c.frame) {
			t.Errorf("%s: read % x\nwant % x", c.name, got, c.frame)
			continue
		}
		m, err := wire.Decode(got)
		switch {
		case c.refused && err == nil:
			t.Errorf("%s: decoded %v, want a refusal", c.name, m)
		case c.refused:
			t.Logf("%s: %v", c.name, err)
		case err != nil:
			t.Errorf("%s: decode: %v", c.name, err)
		case m.VLAN != c.vlan || m.Group != g:
			t.Errorf("%s: decoded VLAN %d group %v, want %d %v", c.name, m.VLAN, m.Group, c.vlan, g)
		}
	}
	// Tagged UDP is still not read: the sentinel after it is the next frame.
	h1.send(withTag(udpFrame(h1.mac, h1IP, g, make([]byte, 40)), unix.ETH_P_8021Q, 10))
	sentinel := report(11)
	h1.send(sentinel)
	expectFrame(t, frames, sentinel, "sentinel after tagged UDP")

	// A buffer too small for the whole tagged frame cuts its end, not the
	// tag. A second socket on the port reads with one.
	pc2 := l.listen(0)
	tagged12 := report(12)
	h1.send(tagged12)
	expectFrame(t, frames, tagged12, "VLAN 12 report")
	type result struct {
		n   int
		err error
	}
	buf := make([]byte, len(tagged12)-2)
	done := make(chan result, 1)
	go func() {
		n, err := pc2.ReadFrame(buf)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || !bytes.Equal(buf[:r.n], tagged12[:len(buf)]) {
			t.Errorf("short read = %d, %v: % x\nwant % x", r.n, r.err, buf[:r.n], tagged12[:len(buf)])
		}
	case <-time.After(3 * time.Second):
		pc2.Close()
		<-done
		t.Fatal("no frame read with a short buffer")
	}
	// After Close, ReadFrame fails at once with net.ErrClosed.
	pc2.Close()
	if _, err := pc2.ReadFrame(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close = %v, want net.ErrClosed", err)
	}
}

// TestInsertTag checks the tag insertion alone, with buffers of every size.
func TestInsertTag(t *testing.T) {
	frame := make([]byte, 60)
	for i := range frame {
		frame[i] = byte(i)
	}
	want := withTag(frame, unix.ETH_P_8021Q, 0xa00a)
	for size := 0; size <= len(want)+2; size++ {
		buf := make([]byte, size)
		n := copy(buf, frame)
		got := insertTag(buf, n, unix.ETH_P_8021Q, 0xa00a)
		switch {
		case n < 12:
			if got != n || !bytes.Equal(buf[:got], frame[:n]) {
				t.Errorf("size %d: got % x, want the frame unchanged", size, buf[:got])
			}
		case !bytes.Equal(buf[:got], want[:min(size, len(want))]):
			t.Errorf("size %d: got % x\nwant % x", size, buf[:got], want[:min(size, len(want))])
		}
	}
}

// TestAuxVLAN parses hand-built PACKET_AUXDATA control messages.
func TestAuxVLAN(t *testing.T) {
	aux := func(status uint32, tci, tpid uint16) []byte {
		d := make([]byte, tpacketAuxdataLen)
		binary.NativeEndian.PutUint32(d[0:4], status)
		binary.NativeEndian.PutUint16(d[16:18], tci)
		binary.NativeEndian.PutUint16(d[18:20], tpid)
		b := make([]byte, unix.CmsgSpace(len(d)))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = unix.SOL_PACKET, unix.PACKET_AUXDATA
		h.SetLen(unix.CmsgLen(len(d)))
		copy(b[unix.CmsgLen(0):], d)
		return b
	}
	for _, c := range []struct {
		name      string
		oob       []byte
		tpid, tci uint16
		ok        bool
	}{
		{"none", nil, 0, 0, false},
		{"no vlan", aux(unix.TP_STATUS_USER, 0, 0), 0, 0, false},
		{"vlan", aux(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID, 10, unix.ETH_P_8021AD), unix.ETH_P_8021AD, 10, true},
		{"vlan without tpid", aux(unix.TP_STATUS_VLAN_VALID, 0xe00a, 0x1234), unix.ETH_P_8021Q, 0xe00a, true},
		{"priority tag", aux(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID, 0, unix.ETH_P_8021Q), unix.ETH_P_8021Q, 0, true},
		{"truncated", aux(unix.TP_STATUS_VLAN_VALID, 10, 0)[:unix.CmsgLen(0)+8], 0, 0, false},
	} {
		tpid, tci, ok := auxVLAN(c.oob)
		if tpid != c.tpid || tci != c.tci || ok != c.ok {
			t.Errorf("%s: auxVLAN = %#x, %#x, %t; want %#x, %#x, %t", c.name, tpid, tci, ok, c.tpid, c.tci, c.ok)
		}
	}
}

// TestPortConnBatch checks ReadBatch and WriteFrames on a real port: frames
// queued on the socket are read several per system call, in order, each
// as ReadFrame returns it (VLAN tags put back); frames written in a batch
// go out in order, and a bad one stops the batch where it is.
func TestPortConnBatch(t *testing.T) {
	l := newLab(t, 1)
	h1 := openRaw(t, l.hosts[0], "eth0")
	pc := l.listen(0)

	const sent, capacity = 40, 16
	var want [][]byte
	for i := range sent {
		f := igmpV2(h1.mac, h1IP, 0x16, netip.AddrFrom4([4]byte{239, 77, 8, byte(i)}))
		if i%5 == 0 {
			f = withTag(f, unix.ETH_P_8021Q, uint16(100+i))
		}
		h1.send(f)
		want = append(want, f)
	}
	// Read only once all are queued, so each call finds a full batch.
	deadline := time.Now().Add(3 * time.Second)
	for {
		rcv, _, err := pc.Stats()
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if rcv == sent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d frames queued after 3s", rcv, sent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stuck := time.AfterFunc(5*time.Second, func() { pc.Close() })
	defer stuck.Stop()
	b := NewFrameBatch(capacity, 2048)
	var got [][]byte
	for call := 0; len(got) < sent && call < sent; call++ {
		if err := pc.ReadBatch(b); err != nil {
			t.Fatalf("ReadBatch %d: %v", call, err)
		}
		if w := min(capacity, sent-len(got)); b.Len() != w {
			t.Errorf("ReadBatch %d read %d frames, want %d (all queued)", call, b.Len(), w)
		}
		for i := range b.Len() {
			got = append(got, bytes.Clone(b.Frame(i)))
		}
	}
	if len(got) != sent {
		t.Fatalf("read %d frames, want %d", len(got), sent)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d read % x\nwant % x", i, got[i], want[i])
		}
	}

	// Written in one batch: all go out, in order.
	var out [][]byte
	for i := range 20 {
		out = append(out, igmpV2(l.br.MAC("br0"), netip.MustParseAddr("10.77.0.1"), 0x16, netip.AddrFrom4([4]byte{239, 77, 9, byte(i)})))
	}
	if n, err := pc.WriteFrames(out); n != len(out) || err != nil {
		t.Fatalf("WriteFrames = %d, %v; want %d, nil", n, err, len(out))
	}
	for i, f := range out {
		if !h1.waitFor(f, 3*time.Second) {
			t.Fatalf("frame %d of the batch not received in order", i)
		}
	}
	// A frame with no Ethernet header: those before it are sent, it and
	// those after it are not.
	bad := [][]byte{out[0], out[1], out[2][:10], out[3]}
	n, err := pc.WriteFrames(bad)
	if n != 2 || err == nil {
		t.Fatalf("WriteFrames with a 10-byte third frame = %d, %v; want 2 and an error", n, err)
	}
	t.Logf("refused: %v", err)
	for _, f := range bad[:2] {
		if !h1.waitFor(f, 3*time.Second) {
			t.Fatal("a frame before the bad one was not sent")
		}
	}
	if h1.waitFor(out[3], 300*time.Millisecond) {
		t.Error("the frame after the bad one was sent")
	}
}
