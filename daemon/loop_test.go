package daemon

import (
	"net/netip"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// A report read on a port becomes that port's MDB entry, marked ours, and
// shows in `show groups`, `show ports` and `show stats`.
func TestReportInstallsEntry(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	h.feed(10, report(t, 10, "239.1.1.1", false))
	eventually(t, "the entry", func() bool { return h.hasEntry(10, "239.1.1.1") })
	if h.hasEntry(11, "239.1.1.1") {
		t.Error("p2, which sent no report, has an entry")
	}
	gs := h.ask(GroupsRequest{}).Groups
	if len(gs) != 1 || gs[0].Port != "p1" || gs[0].Group != "239.1.1.1" || gs[0].Bridge != "br0" {
		t.Errorf("show groups = %+v, want 239.1.1.1 on p1 of br0", gs)
	}
	if gs := h.ask(GroupsRequest{Port: "p2"}).Groups; len(gs) != 0 {
		t.Errorf("show groups --port p2 = %+v, want none", gs)
	}
	if gs := h.ask(GroupsRequest{Group: "239.2.0.0/16"}).Groups; len(gs) != 0 {
		t.Errorf("show groups --group 239.2.0.0/16 = %+v, want none", gs)
	}
	if gs := h.ask(GroupsRequest{Group: "239.1.1.1"}).Groups; len(gs) != 1 {
		t.Errorf("show groups --group 239.1.1.1 = %+v, want the one", gs)
	}
	ports := h.ask(PortsRequest{}).Ports
	if len(ports) != 2 {
		t.Fatalf("show ports = %+v, want p1 and p2", ports)
	}
	for _, p := range ports {
		if p.STP != "forwarding" || p.GuardDropped != 5 || p.SocketDropped != 3 {
			t.Errorf("port %s: stp %q, guard drops %d, socket drops %d; want forwarding, the kernel's 5 and 3", p.Port, p.STP, p.GuardDropped, p.SocketDropped)
		}
	}
	stats := h.ask(StatsRequest{}).Stats
	if len(stats) != 1 || stats[0].Memberships != 1 {
		t.Errorf("show stats = %+v, want one membership", stats)
	}
}

// A leave on a fast-leave port removes the entry at once.
func TestFastLeaveRemovesEntry(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	h := startDaemon(t, k, testSettings(t, map[string]snoop.PortPolicy{"p1": {FastLeave: true}}), nil)
	h.feed(10, report(t, 10, "239.1.1.1", false))
	eventually(t, "the entry", func() bool { return h.hasEntry(10, "239.1.1.1") })
	h.feed(10, report(t, 10, "239.1.1.1", true))
	eventually(t, "the entry to go", func() bool { return !h.hasEntry(10, "239.1.1.1") })
}

// Reports go to router ports, and only there; a static router port is
// permanent in the kernel while the daemon runs and learned after.
func TestRelayToRouterPort(t *testing.T) {
	k := newFakeKernel("p1", "p2", "p3")
	h := startDaemon(t, k, testSettings(t, map[string]snoop.PortPolicy{"p2": {Router: true}}), nil)
	if m, _ := routerModeOf(k, 11); m != bridge.PortRouterPermanent {
		t.Errorf("p2's router mode = %d, want permanent (%d)", m, bridge.PortRouterPermanent)
	}
	h.feed(10, report(t, 10, "239.1.1.1", false))
	eventually(t, "the relayed report", func() bool {
		for _, f := range k.port(11).written() {
			if m, err := wire.Decode(f); err == nil && m.Kind == wire.KindReport && m.Group == netip.MustParseAddr("239.1.1.1") {
				return true
			}
		}
		return false
	})
	for _, f := range k.port(12).written() {
		if m, err := wire.Decode(f); err == nil && m.Kind == wire.KindReport {
			t.Errorf("p3, no router port, got a report: %v", m)
		}
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if m, _ := routerModeOf(k, 11); m != bridge.PortRouterLearned {
		t.Errorf("p2's router mode after stop = %d, want learned (%d)", m, bridge.PortRouterLearned)
	}
}
