package daemon

import (
	"net/netip"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// kernelEntry is an entry the kernel learned on port (one station's).
func kernelEntry(port int, group string) bridge.Entry {
	return bridge.Entry{Bridge: 1, Port: port, Group: netip.MustParseAddr(group), Proto: bridge.ProtoKernel}
}

// hasKernelEntry tells whether the MDB holds a kernel entry for group on port.
func (h *harness) hasKernelEntry(port int, group string) bool {
	for _, e := range h.k.entries() {
		if e.Port == port && e.Group == netip.MustParseAddr(group) && e.Proto == bridge.ProtoKernel {
			return true
		}
	}
	return false
}

// A port with mcast_to_unicast at start: its guard passes reports, the
// kernel's entries there stay (but for groups its profile denies), an
// earlier run's entry there goes, its reports are learned, shown and not
// relayed, and no entry of ours is written for them; the check agrees.
func TestMcastToUnicastPortAtStart(t *testing.T) {
	deny := &snoop.Profile{Name: "no-239.6", Rules: []snoop.Rule{{First: netip.MustParseAddr("239.6.0.0"), Last: netip.MustParseAddr("239.6.255.255")}}, DefaultPermit: true}
	k := newFakeKernel("p1", "p2", "up")
	k.links[0].MulticastToUnicast = true
	k.locked(func() { k.mdb = append(k.mdb, kernelEntry(10, "239.1.1.1")) }) // a station's, learned before we started
	k.locked(func() { k.mdb = append(k.mdb, kernelEntry(10, "239.6.0.1")) }) // denied by the port's profile
	k.locked(func() {
		k.mdb = append(k.mdb, bridge.Entry{Bridge: 1, Port: 10, Group: netip.MustParseAddr("239.2.2.2"), Proto: 77})
	})
	k.locked(func() { k.mdb = append(k.mdb, kernelEntry(11, "239.3.3.3")) }) // an ordinary port: ours to learn
	h := startDaemon(t, k, testSettings(t, map[string]snoop.PortPolicy{"p1": {Profile: deny}}), nil)

	eventually(t, "the guards", func() bool { return k.port(10) != nil && k.port(11) != nil })
	if g := k.port(10).guardOptions(); !g.PassReports {
		t.Errorf("p1 guard %+v, want reports passed", g)
	}
	if g := k.port(11).guardOptions(); g.PassReports {
		t.Errorf("p2 guard %+v, want reports dropped", g)
	}
	eventually(t, "the take-over", func() bool {
		return !h.hasKernelEntry(10, "239.6.0.1") && !h.hasEntry(10, "239.2.2.2") && !h.hasKernelEntry(11, "239.3.3.3")
	})
	if !h.hasKernelEntry(10, "239.1.1.1") {
		t.Error("the kernel's entry on the mcast_to_unicast port was removed")
	}

	h.feed(12, query(t, 12)) // a router on "up"
	eventually(t, "the router port", func() bool { return h.port("up").Router != "" })
	h.feed(10, report(t, 10, "239.4.4.4", false))
	h.feed(11, report(t, 11, "239.4.4.4", false))
	eventually(t, "both memberships", func() bool {
		return len(h.ask(GroupsRequest{}).Groups) == 2 && h.hasEntry(11, "239.4.4.4")
	})
	if h.hasEntry(10, "239.4.4.4") {
		t.Error("an entry of ours on the mcast_to_unicast port: its copy would go out addressed to the group")
	}
	n := 0
	for _, m := range decoded(k.port(12).written()) {
		if m.Group == netip.MustParseAddr("239.4.4.4") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d reports relayed to the router port, want p2's only: the bridge forwards p1's", n)
	}
	if p := h.port("p1"); !p.McastToUnicast || p.Groups != 1 {
		t.Errorf("show ports p1 %+v, want mcast_to_unicast and 1 group", p)
	}
	if p := h.port("p2"); p.McastToUnicast {
		t.Errorf("show ports p2 %+v", p)
	}
	// The kernel learned p1's station too: the check finds nothing to do.
	k.locked(func() { k.mdb = append(k.mdb, kernelEntry(10, "239.4.4.4")) })
	r := h.ask(CheckRequest{})
	if len(r.Checks) != 1 || !r.Checks[0].Consistent() {
		t.Errorf("check %+v, want consistent", r.Checks)
	}
	if !h.hasKernelEntry(10, "239.4.4.4") || !h.hasKernelEntry(10, "239.1.1.1") {
		t.Error("the check removed the kernel's entries on the mcast_to_unicast port")
	}
}

// The flag switched at run time: on, our entry on the port goes and the
// guard passes reports; off, the guard drops them again, the kernel's
// entries there go and ours come back.
func TestMcastToUnicastSwitched(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	h.feed(10, report(t, 10, "239.1.1.1", false))
	eventually(t, "our entry", func() bool { return h.hasEntry(10, "239.1.1.1") })

	on := fakeLink(10, "p1")
	on.MulticastToUnicast = true
	k.events <- bridge.LinkEvent{Kind: bridge.PortMulticastToUnicast, Link: on}
	eventually(t, "our entry removed", func() bool { return !h.hasEntry(10, "239.1.1.1") })
	if g := k.port(10).guardOptions(); !g.PassReports {
		t.Errorf("guard %+v, want reports passed", g)
	}
	if p := h.port("p1"); !p.McastToUnicast || p.Groups != 1 {
		t.Errorf("show ports p1 %+v, want mcast_to_unicast, the membership still shown", p)
	}
	k.locked(func() { k.mdb = append(k.mdb, kernelEntry(10, "239.1.1.1")) })    // the kernel learns the next report
	k.events <- bridge.LinkEvent{Kind: bridge.PortMulticastToUnicast, Link: on} // no change
	k.events <- bridge.LinkEvent{Kind: bridge.PortMulticastToUnicast, Link: fakeLink(10, "p1")}
	eventually(t, "ours back, the kernel's gone", func() bool {
		return h.hasEntry(10, "239.1.1.1") && !h.hasKernelEntry(10, "239.1.1.1")
	})
	if g := k.port(10).guardOptions(); g.PassReports {
		t.Errorf("guard %+v, want reports dropped", g)
	}
	if p := h.port("p1"); p.McastToUnicast {
		t.Errorf("show ports p1 %+v", p)
	}
}
