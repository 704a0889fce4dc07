package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// staticSettings has a static group, 239.3.3.3, on p2.
func staticSettings(t *testing.T) *Settings {
	return testSettings(t, map[string]snoop.PortPolicy{"p2": {StaticGroups: []snoop.StaticGroup{{Group: grpC}}}})
}

// ourEntries lists the MDB entries with our proto.
func ourEntries(k *fakeKernel) []bridge.Entry {
	return slices.DeleteFunc(k.entries(), func(e bridge.Entry) bool { return e.Proto != 77 })
}

// Stopping removes every entry of ours, learned or static, leaves other
// programs' entries, and gives a dynamic router port back to learning.
func TestShutdownRemovesOurEntries(t *testing.T) {
	k := newFakeKernel("p1", "p2", "p3")
	others := bridge.Entry{Bridge: 1, Port: 10, Group: grpB, Proto: 4}
	k.locked(func() { k.mdb = append(k.mdb, others) })
	h := startDaemon(t, k, staticSettings(t), nil)
	h.feed(10, report(t, 10, grpA.String(), false))
	h.feed(12, query(t, 12))
	eventually(t, "the entry and the static one", func() bool { return h.hasEntry(10, grpA.String()) && h.hasEntry(11, grpC.String()) })
	eventually(t, "p3 a temporary router port", func() bool {
		m, _ := routerModeOf(k, 12)
		return m == bridge.PortRouterTemporary
	})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if es := ourEntries(k); len(es) != 0 {
		t.Errorf("entries of ours after stop: %v", es)
	}
	if !slices.ContainsFunc(k.entries(), func(e bridge.Entry) bool { return sameEntry(e, others) }) {
		t.Error("another program's entry was removed")
	}
	if m, _ := routerModeOf(k, 12); m != bridge.PortRouterLearned {
		t.Errorf("p3's router mode after stop = %d, want learned (%d)", m, bridge.PortRouterLearned)
	}
	for _, i := range []int{10, 11, 12} {
		if !k.port(i).isClosed() {
			t.Errorf("port %d left open", i)
		}
	}
}

// With handover the learned entries stay for the kernel to age, but the
// static groups go with the daemon.
func TestHandoverKeepsLearnedEntries(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	set := staticSettings(t)
	set.Bridges[0].Handover = true
	h := startDaemon(t, k, set, nil)
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry and the static one", func() bool { return h.hasEntry(10, grpA.String()) && h.hasEntry(11, grpC.String()) })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if !h.hasEntry(10, grpA.String()) {
		t.Error("the learned entry was removed despite handover")
	}
	if h.hasEntry(11, grpC.String()) {
		t.Error("the static group stayed after handover")
	}
	if !k.port(10).isClosed() {
		t.Error("p1 left open")
	}
}

// A port added to the bridge is snooped, with the guard and router mode
// its policy asks for; one removed is closed, its memberships forgotten
// and its router mode given back.
func TestPortAddedAndRemoved(t *testing.T) {
	k := newFakeKernel("p1")
	h := startDaemon(t, k, testSettings(t, map[string]snoop.PortPolicy{"p9": {RefuseQueries: true}}), nil)
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(20, "p9")}
	eventually(t, "p9 opened", func() bool { return k.port(20) != nil })
	if g := k.port(20).guardOptions(); !g.DropQueries {
		t.Errorf("p9's guard = %+v, want queries dropped (refuse_queries)", g)
	}
	if m, ok := routerModeOf(k, 20); !ok || m != bridge.PortRouterDisabled {
		t.Errorf("p9's router mode = %d (set %t), want disabled", m, ok)
	}
	h.feed(20, report(t, 20, grpA.String(), false))
	eventually(t, "p9's entry", func() bool { return h.hasEntry(20, grpA.String()) })

	// The kernel deletes the port's entries with it.
	k.locked(func() { k.mdb = slices.DeleteFunc(k.mdb, func(e bridge.Entry) bool { return e.Port == 20 }) })
	k.events <- bridge.LinkEvent{Kind: bridge.PortRemoved, Link: fakeLink(20, "p9")}
	eventually(t, "p9 closed", k.port(20).isClosed)
	if gs := h.ask(GroupsRequest{}).Groups; len(gs) != 0 {
		t.Errorf("show groups after p9 went = %+v, want none", gs)
	}
	for _, p := range h.ask(PortsRequest{}).Ports {
		if p.Port == "p9" {
			t.Errorf("p9 still listed: %+v", p)
		}
	}
	if m, _ := routerModeOf(k, 20); m != bridge.PortRouterLearned {
		t.Errorf("p9's router mode after it went = %d, want given back (learned)", m)
	}
}

// A port the kernel cannot open is left out; the daemon goes on.
func TestPortAddedOpenFails(t *testing.T) {
	k := newFakeKernel("p1")
	k.openErr = func(i int) error {
		if i == 20 {
			return errors.New("no such device")
		}
		return nil
	}
	h := startDaemon(t, k, testSettings(t, nil), nil)
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(20, "p9")}
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(21, "p10")}
	eventually(t, "p10 opened", func() bool { return k.port(21) != nil })
	for _, p := range h.ask(PortsRequest{}).Ports {
		if p.Port == "p9" {
			t.Errorf("p9, which did not open, is listed: %+v", p)
		}
	}
}

// A port whose router mode the configuration fixes, but the kernel refuses
// to set, is left out: its socket closed, no reader, and no router mode
// written back to it as if the daemon had set one.
func TestPortRouterModeRefused(t *testing.T) {
	k := newFakeKernel("p1")
	k.routerErr = func(i int, mode uint8) error {
		if i == 20 && mode == bridge.PortRouterPermanent {
			return errors.New("operation not supported")
		}
		return nil
	}
	h := startDaemon(t, k, testSettings(t, map[string]snoop.PortPolicy{"p9": {Router: true}}), nil)
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(20, "p9")}
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(21, "p10")}
	eventually(t, "p10 opened", func() bool { return k.port(21) != nil })
	eventually(t, "p9's socket closed", func() bool { p := k.port(20); return p != nil && p.isClosed() })
	for _, p := range h.ask(PortsRequest{}).Ports {
		if p.Port == "p9" {
			t.Errorf("p9, whose router mode could not be set, is listed: %+v", p)
		}
	}
	if m, ok := routerModeOf(k, 20); ok {
		t.Errorf("p9's router mode was written (%d) though setting it failed", m)
	}
}

// A check that cannot read the MDB says so in `show stats`, in place of
// the last check that could.
func TestFailedCheckShown(t *testing.T) {
	k := newFakeKernel("p1")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	if c := h.ask(CheckRequest{}).Checks; len(c) != 1 || c[0].Error != "" {
		t.Fatalf("check = %+v, want one without error", c)
	}
	k.mu.Lock()
	k.dumpErr = errors.New("netlink: no buffer space")
	k.mu.Unlock()
	if c := h.ask(CheckRequest{}).Checks; len(c) != 1 || !strings.Contains(c[0].Error, "no buffer space") {
		t.Fatalf("check with the dump failing = %+v, want its error", c)
	}
	s := h.ask(StatsRequest{}).Stats
	if len(s) != 1 || s[0].MDBCheck == nil || !strings.Contains(s[0].MDBCheck.Error, "no buffer space") {
		t.Errorf("show stats' last check = %+v, want the failed one", s)
	}
}

// downLink is a port that is down (and so STP-disabled).
func downLink(index int, name string) bridge.Link {
	l := fakeLink(index, name)
	l.Up, l.State = false, bridge.StateDisabled
	return l
}

// A port down, or blocked by STP, learns nothing; up and forwarding again
// it does.
func TestPortDownAndBlockingLearnNothing(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	k.events <- bridge.LinkEvent{Kind: bridge.PortDown, Link: downLink(10, "p1")}
	blocking := fakeLink(11, "p2")
	blocking.State = bridge.StateBlocking
	k.events <- bridge.LinkEvent{Kind: bridge.PortState, Link: blocking}
	eventually(t, "p2 blocking", func() bool { return h.port("p2").STP == "blocking" })
	h.feed(10, report(t, 10, grpA.String(), false))
	h.feed(11, report(t, 11, grpB.String(), false))
	// A report on an active port after them: once it is in, they were read.
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(12, "p3")}
	h.feed(12, report(t, 12, grpC.String(), false))
	eventually(t, "p3's entry", func() bool { return h.hasEntry(12, grpC.String()) })
	if h.hasEntry(10, grpA.String()) || h.hasEntry(11, grpB.String()) {
		t.Fatalf("a down or blocking port learned: MDB %v", k.entries())
	}

	k.events <- bridge.LinkEvent{Kind: bridge.PortUp, Link: fakeLink(10, "p1")}
	k.events <- bridge.LinkEvent{Kind: bridge.PortState, Link: fakeLink(11, "p2")}
	eventually(t, "p1 and p2 active", func() bool { return h.port("p1").Up && h.port("p2").Up })
	h.feed(10, report(t, 10, grpA.String(), false))
	h.feed(11, report(t, 11, grpB.String(), false))
	eventually(t, "p1's and p2's entries", func() bool { return h.hasEntry(10, grpA.String()) && h.hasEntry(11, grpB.String()) })
}

// Nothing is sent out of a port STP does not let forward, even one that
// learns: a router port in the learning state gets no relayed report.
func TestNoTransmitToNonForwardingPort(t *testing.T) {
	k := newFakeKernel("p1", "p2", "p3")
	h := startDaemon(t, k, testSettings(t, map[string]snoop.PortPolicy{"p2": {Router: true}, "p3": {Router: true}}), nil)
	learning := fakeLink(11, "p2")
	learning.State = bridge.StateLearning
	k.events <- bridge.LinkEvent{Kind: bridge.PortState, Link: learning}
	eventually(t, "p2 learning", func() bool { return h.port("p2").STP == "learning" })
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the report relayed to p3", func() bool { return relayed(k.port(12).written(), grpA.String()) })
	if relayed(k.port(11).written(), grpA.String()) {
		t.Error("the report was sent out of p2, which STP keeps from forwarding")
	}
}

// A renamed port is listed under its new name, and its memberships too.
func TestPortRenamed(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	k.events <- bridge.LinkEvent{Kind: bridge.PortDown, Link: downLink(11, "p2")}
	k.events <- bridge.LinkEvent{Kind: bridge.PortRenamed, Link: downLink(11, "uplink")}
	// Listed under its new name while still down.
	eventually(t, "the new name", func() bool {
		var names []string
		for _, p := range h.ask(PortsRequest{}).Ports {
			names = append(names, p.Port)
		}
		slices.Sort(names)
		return slices.Equal(names, []string{"p1", "uplink"})
	})
	k.events <- bridge.LinkEvent{Kind: bridge.PortUp, Link: fakeLink(11, "uplink")}
	eventually(t, "uplink up", func() bool { return h.port("uplink").Up })
	h.feed(11, report(t, 11, grpA.String(), false))
	eventually(t, "the membership", func() bool {
		gs := h.ask(GroupsRequest{}).Groups
		return len(gs) == 1 && gs[0].Port == "uplink"
	})
}

// Snooping switched off on the bridge drops the kernel's entries; switched
// back on, the daemon reinstalls them.
func TestSnoopingToggledReinstalls(t *testing.T) {
	k := newFakeKernel("p1")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry", func() bool { return h.hasEntry(10, grpA.String()) })
	off, _ := k.Options(1)
	on := off
	off.Snooping = false
	k.events <- bridge.LinkEvent{Kind: bridge.BridgeChanged, Link: k.br.Link, Options: &off}
	k.locked(func() { k.mdb = nil }) // as the kernel does
	k.events <- bridge.LinkEvent{Kind: bridge.BridgeChanged, Link: k.br.Link, Options: &on}
	eventually(t, "the entry reinstalled", func() bool { return h.hasEntry(10, grpA.String()) })
}

// mldQueriesFrom counts the MLD queries sent through the bridge from src.
func mldQueriesFrom(k *fakeKernel, src netip.Addr) (n int) {
	for _, m := range decoded(k.sentFrames()) {
		if m.Kind == wire.KindQuery && m.Proto == wire.MLD && m.Src == src {
			n++
		}
	}
	return n
}

// As querier the daemon sends queries through the bridge from the start;
// MLD ones once the bridge has a link-local address, from it.
func TestQuerierAndNewLinkLocal(t *testing.T) {
	k := newFakeKernel("p1")
	k.br.IPv6 = netip.Addr{}
	set := testSettings(t, nil)
	set.Bridges[0].Engine.Querier = true
	h := startDaemon(t, k, set, nil)
	eventually(t, "an IGMP query", func() bool {
		for _, m := range decoded(k.sentFrames()) {
			if m.Kind == wire.KindQuery && m.Src == k.br.IPv4 {
				return true
			}
		}
		return false
	})
	ll := netip.MustParseAddr("fe80::2")
	if n := mldQueriesFrom(k, ll); n != 0 {
		t.Fatalf("%d MLD queries without a link-local address", n)
	}
	k.locked(func() { k.br.IPv6 = ll })
	k.events <- bridge.LinkEvent{Kind: bridge.BridgeChanged, Link: k.br.Link}
	eventually(t, "an MLD query from fe80::2", func() bool { return mldQueriesFrom(k, ll) > 0 })
	qs := h.ask(QuerierRequest{}).Queriers
	if !slices.ContainsFunc(qs, func(q snoop.QuerierView) bool { return q.Protocol == "mld" && q.Self && q.Address == ll.String() }) {
		t.Errorf("show querier = %+v, want us as MLD querier from fe80::2", qs)
	}
}

// A deleted bridge stops its loop; the daemon snoops it again once it is
// back.
func TestBridgeGoneAndBack(t *testing.T) {
	k := newFakeKernel("p1")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	old := k.port(10)
	k.locked(func() { k.gone = true })
	k.events <- bridge.LinkEvent{Kind: bridge.BridgeGone, Link: k.br.Link}
	eventually(t, "the loop to stop", old.isClosed)
	eventually(t, "br0 no longer snooped", func() bool {
		r, err := askSocket(h.settings.Socket, GroupsRequest{Bridge: "br0"})
		return err == nil && r.Error == `no bridge "br0" is snooped`
	})
	k.locked(func() { k.gone = false })
	eventuallyWithin(t, 4*time.Second, "br0 snooped again", func() bool {
		p := k.port(10)
		return p != nil && p != old
	})
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry", func() bool { return h.hasEntry(10, grpA.String()) })
}

// A link watcher that fails stops the loop as a deleted bridge does, and
// the daemon starts it again.
func TestWatcherFailure(t *testing.T) {
	k := newFakeKernel("p1")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	old := k.port(10)
	k.watchErr <- errors.New("netlink: no buffer space")
	eventually(t, "the loop to stop", old.isClosed)
	eventuallyWithin(t, 4*time.Second, "br0 snooped again", func() bool {
		p := k.port(10)
		return p != nil && p != old
	})
	if r := h.ask(GroupsRequest{Bridge: "br0"}); r.Error != "" {
		t.Errorf("show groups for br0 = %q", r.Error)
	}
}
