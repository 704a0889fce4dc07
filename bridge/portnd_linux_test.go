package bridge

import (
	"net/netip"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/wire"
	"golang.org/x/net/bpf"
)

// TestPortFilterND: with ND the filter takes router and neighbour
// solicitations and advertisements too, and everything else as before.
func TestPortFilterND(t *testing.T) {
	vms := map[bool]*bpf.VM{}
	for _, nd := range []bool{false, true} {
		raw, err := portFilterND(nd)
		if err != nil {
			t.Fatal(err)
		}
		insns, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatal("disassemble")
		}
		if vms[nd], err = bpf.NewVM(insns[2:]); err != nil { // no pkttype in the VM: see TestPortFilter
			t.Fatal(err)
		}
	}
	mac := []byte{2, 0, 0, 0, 0, 1}
	ll := netip.MustParseAddr("fe80::11")
	isND := func(typ byte) bool { return typ >= 133 && typ <= 136 }
	for _, c := range portFilterCases() {
		n, err := vms[true].Run(c.frame)
		if err != nil {
			t.Fatal(err)
		}
		// An ICMPv6 frame with no extension header has its type at 54.
		want := c.want || len(c.frame) > 54 && c.frame[20] == 58 && c.frame[12] == 0x86 && isND(c.frame[54])
		if (n > 0) != want {
			t.Errorf("%s: ND filter returned %d, want accept=%t", c.name, n, want)
		}
	}
	for typ := byte(133); typ <= 136; typ++ {
		m := make([]byte, 24)
		m[0] = typ
		f := icmpv6Frame(mac, ll, netip.MustParseAddr("ff02::1:ff00:11"), 58, nil, m)
		for nd, vm := range vms {
			if n, _ := vm.Run(f); (n > 0) != nd || nd && n < len(f) {
				t.Errorf("ICMPv6 %d, ND %t: filter returned %d", typ, nd, n)
			}
		}
	}
}

// TestPortConnSetND: a port reads neighbour solicitations only while SetND
// says so.
func TestPortConnSetND(t *testing.T) {
	l := newLab(t, 1)
	h1 := openRaw(t, l.hosts[0], "eth0")
	pc := l.listen(0)
	frames := portReader(t, pc)
	target := netip.MustParseAddr("fd77::11")
	ns, err := wire.EncodeND(wire.ND{Type: wire.TypeNeighborSolicit, SrcMAC: h1.mac, Src: netip.IPv6Unspecified(),
		Dst: wire.SolicitedNode(target), Target: target})
	if err != nil {
		t.Fatal(err)
	}
	sentinel := func(i byte) []byte {
		return igmpV2(h1.mac, h1IP, 0x16, netip.AddrFrom4([4]byte{239, 77, 8, i}))
	}
	// Off (as opened): the solicitation is not read, the report after it is.
	h1.send(ns)
	h1.send(sentinel(1))
	expectFrame(t, frames, sentinel(1), "report after an unread solicitation")
	if err := pc.SetND(true); err != nil {
		t.Fatal(err)
	}
	h1.send(ns)
	expectFrame(t, frames, ns, "solicitation with ND on")
	if err := pc.SetND(false); err != nil {
		t.Fatal(err)
	}
	h1.send(ns)
	h1.send(sentinel(2))
	got := nextFrame(t, frames, 3*time.Second)
	if string(got) != string(sentinel(2)) {
		t.Fatalf("read % x after ND off, want the report", got)
	}
}
