package daemon

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// dadFrom is the duplicate address detection solicitation the guest behind
// ifindex sends for addr.
func dadFrom(t *testing.T, ifindex int, addr string) []byte {
	t.Helper()
	a := netip.MustParseAddr(addr)
	f, err := wire.EncodeND(wire.ND{Type: wire.TypeNeighborSolicit, SrcMAC: hostMAC(ifindex), Src: netip.IPv6Unspecified(),
		Dst: wire.SolicitedNode(a), Target: a})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// An nd_guests port's socket reads ND, and the solicited-node groups of
// its guest's addresses are installed; a port without the option learns
// nothing from ND. Switched off by a reload, the port stops reading ND
// and its ND groups go.
func TestNDGuestsPort(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	ld := &loader{}
	set := testSettings(t, map[string]snoop.PortPolicy{"p1": {NDGuests: true}})
	h := startDaemon(t, k, set, ld.load)
	const sn = "ff02::1:ff00:a"
	eventually(t, "p1 reading ND", func() bool { p := k.port(10); return p != nil && p.readsND() })

	h.feed(11, dadFrom(t, 11, "fd77::a"))
	h.feed(10, dadFrom(t, 10, "fd77::a"))
	eventually(t, "p1's guest's solicited-node group", func() bool { return h.hasEntry(10, sn) })
	if h.hasEntry(11, sn) || k.port(11).readsND() {
		t.Error("p2, without nd_guests, reads ND or learned from it")
	}
	gs := h.ask(GroupsRequest{}).Groups
	if len(gs) != 1 || gs[0].Via != "nd" || gs[0].Port != "p1" || len(gs[0].Reporters) != 1 || gs[0].Reporters[0] != "fd77::a" {
		t.Errorf("show groups = %+v, want p1's group via nd, reported by fd77::a", gs)
	}
	if p := h.port("p1"); !p.NDGuests {
		t.Errorf("show ports p1 = %+v, want nd_guests", p)
	}
	if n := h.port("p2").Refused; n != 1 {
		t.Errorf("p2 refused %d, want its solicitation refused (not MLD)", n)
	}

	ld.next(withPolicy(set, nil, "no nd\n"), nil)
	h.reload <- syscall.SIGHUP
	eventually(t, "p1 to stop reading ND", func() bool { return !k.port(10).readsND() })
	eventually(t, "the ND group removed", func() bool { return !h.hasEntry(10, sn) })
}
