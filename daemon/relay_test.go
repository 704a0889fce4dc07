package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// currentRelay is the relay the daemon made last.
func currentRelay(k *fakeKernel) *fakeRelay {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.relays) == 0 {
		return nil
	}
	return k.relays[len(k.relays)-1]
}

// relayState reads a relay's targets and marked ports under the lock.
func relayState(k *fakeKernel, r *fakeRelay) (targets [2][]int, from map[int][2]bool, closed bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	from = make(map[int][2]bool, len(r.from))
	for i, v := range r.from {
		from[i] = v
	}
	return [2][]int{slices.Clone(r.targets[0]), slices.Clone(r.targets[1])}, from, r.closed
}

// v3Leave is an IGMPv3 report leaving group (TO_IN {}) from the host
// behind ifindex: the guard never relays one.
func v3Leave(t *testing.T, ifindex int, group string) []byte {
	t.Helper()
	f, err := wire.EncodeReport(wire.Report{Version: 3, SrcMAC: hostMAC(ifindex), Src: netip.AddrFrom4([4]byte{10, 77, 0, byte(ifindex)}),
		Records: []wire.GroupRecord{{Type: wire.ChangeToInclude, Group: netip.MustParseAddr(group)}}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// With the guard relay on, the guards share one relay that never relays
// to the engine's SSM ranges; it relays to the router ports, from the
// ports without a profile; the daemon learns the reports the guard
// relayed and sends them no more, and relays the rest itself; a reload
// moves the guards to a new relay and frees the old.
func TestGuardRelay(t *testing.T) {
	deny := &snoop.Profile{Name: "deny-239.6", Rules: []snoop.Rule{{First: netip.MustParseAddr("239.6.0.0"), Last: netip.MustParseAddr("239.6.255.255")}}, DefaultPermit: true}
	k := newFakeKernel("p1", "p2", "up")
	ld := &loader{}
	set := testSettings(t, map[string]snoop.PortPolicy{"p2": {Profile: deny}})
	set.Bridges[0].GuardRelay = true
	h := startDaemon(t, k, set, ld.load)

	r := currentRelay(k)
	if r == nil {
		t.Fatal("no relay opened")
	}
	if !slices.Contains(r.ssm, netip.MustParsePrefix("232.0.0.0/8")) {
		t.Errorf("relay SSM ranges %v lack the engine's 232.0.0.0/8", r.ssm)
	}
	for _, i := range []int{10, 11, 12} {
		if g := k.port(i).guardOptions(); g.Relay != bridge.Relay(r) {
			t.Errorf("port %d guard relay %v, want the bridge's", i, g.Relay)
		}
	}
	if targets, from, _ := relayState(k, r); len(targets[0]) != 0 || len(from) != 0 {
		t.Errorf("before any router port: targets %v, from %v; want none (nothing to relay to)", targets, from)
	}

	h.feed(12, query(t, 12)) // a router on "up"
	eventually(t, "the relay to the router port", func() bool {
		targets, from, _ := relayState(k, r)
		return slices.Equal(targets[0], []int{12}) && from[10] == [2]bool{true, false}
	})
	if targets, from, _ := relayState(k, r); len(targets[1]) != 0 || from[11] != [2]bool{} {
		t.Errorf("MLD targets %v (want none: no MLD router), p2 marked %v (want not: it has a profile)", targets[1], from[11])
	}

	// Reports queued before the relay started were not relayed by the
	// guard: until a read finds p1's queue empty, the daemon sends them.
	h.feed(10, report(t, 10, "239.4.4.3", false))
	eventually(t, "the report queued across the start sent by the daemon", func() bool {
		return relayed(k.port(12).written(), "239.4.4.3")
	})

	// p1's v2 report the guard relayed; p2's report and p1's v3 leave it
	// did not.
	h.feed(10, report(t, 10, "239.4.4.4", false))
	eventually(t, "p1's entry", func() bool { return h.hasEntry(10, "239.4.4.4") })
	h.feed(11, report(t, 11, "239.5.5.5", false))
	h.feed(10, v3Leave(t, 10, "239.7.7.7"))
	eventually(t, "the daemon's relays", func() bool {
		w := k.port(12).written()
		return relayed(w, "239.5.5.5") && slices.ContainsFunc(decoded(w), func(m *wire.Message) bool { return m.Kind == wire.KindReportV3 })
	})
	eventually(t, "the entries", func() bool { return h.hasEntry(10, "239.4.4.4") && h.hasEntry(11, "239.5.5.5") })
	if relayed(k.port(12).written(), "239.4.4.4") {
		t.Error("the daemon sent again a report the guard relayed")
	}
	st := h.ask(StatsRequest{}).Stats
	if len(st) != 1 || st[0].GuardRelayed != 1 || st[0].Relayed != 3 {
		t.Errorf("stats %+v, want 1 report relayed by the guard and 3 by the daemon", st)
	}
	if p := h.port("p1"); p.GuardRelayed != 3 {
		t.Errorf("show ports p1 guard_relayed %d, want the guard's count (3)", p.GuardRelayed)
	}

	// A reload: a new relay, the guards on it, the old one freed.
	ld.next(withPolicy(set, map[string]snoop.PortPolicy{"p2": {Profile: deny}}, "again\n"), nil)
	if rep := h.ask(ReloadRequest{}); !rep.OK {
		t.Fatalf("reload = %+v", rep)
	}
	r2 := currentRelay(k)
	if r2 == r {
		t.Fatal("no new relay on reload")
	}
	if _, _, closed := relayState(k, r); !closed {
		t.Error("the old relay is not closed")
	}
	if g := k.port(10).guardOptions(); g.Relay != bridge.Relay(r2) {
		t.Error("p1's guard is not on the new relay")
	}
	eventually(t, "the new relay set up", func() bool {
		targets, from, _ := relayState(k, r2)
		return slices.Equal(targets[0], []int{12}) && from[10] == [2]bool{true, false}
	})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, closed := relayState(k, r2); !closed {
		t.Error("the relay is not closed at exit")
	}
}

// Without a relay (the kernel cannot make one, or guard_relay is off),
// the daemon relays every report itself.
func TestGuardRelayUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		relay bool
	}{{"refused", errors.New("no maps"), true}, {"off", nil, false}} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel("p1", "up")
			k.relayErr = tc.err
			set := testSettings(t, nil)
			set.Bridges[0].GuardRelay = tc.relay
			h := startDaemon(t, k, set, nil)
			if g := k.port(10).guardOptions(); g.Relay != nil {
				t.Errorf("guard relay %v, want none", g.Relay)
			}
			h.feed(11, query(t, 11))
			eventually(t, "the router port", func() bool { return h.port("up").Router != "" })
			h.feed(10, report(t, 10, "239.4.4.4", false))
			eventually(t, "the daemon's relay", func() bool { return relayed(k.port(11).written(), "239.4.4.4") })
		})
	}
}

// A port whose guard cannot take the relay (at start, or when a reload
// moves the guards to a new relay) is guarded without it and never
// marked as relayed from: the daemon relays its reports.
func TestGuardRelayRefusedOnAPort(t *testing.T) {
	k := newFakeKernel("p1", "p2", "up")
	k.relayRefused = map[int]bool{10: true}
	ld := &loader{}
	set := testSettings(t, nil)
	set.Bridges[0].GuardRelay = true
	h := startDaemon(t, k, set, ld.load)
	if g := k.port(10).guardOptions(); g.Relay != nil {
		t.Errorf("p1 guard relay %v, want none (refused)", g.Relay)
	}
	r := currentRelay(k)
	h.feed(12, query(t, 12))
	eventually(t, "p2 relayed from", func() bool { _, from, _ := relayState(k, r); return from[11][0] })
	if _, from, _ := relayState(k, r); from[10] != [2]bool{} {
		t.Errorf("p1 marked %v though its guard has no relay", from[10])
	}
	h.feed(10, report(t, 10, "239.4.4.4", false))
	eventually(t, "p1's report relayed by the daemon", func() bool { return relayed(k.port(12).written(), "239.4.4.4") })

	// A reload whose new relay p2's guard refuses: p2's guard goes on
	// without a relay, and is not marked in the new one.
	k.locked(func() { k.relayRefused = map[int]bool{10: true, 11: true} })
	ld.next(withPolicy(set, nil, "again\n"), nil)
	if rep := h.ask(ReloadRequest{}); !rep.OK {
		t.Fatalf("reload = %+v", rep)
	}
	r2 := currentRelay(k)
	if _, _, closed := relayState(k, r); !closed {
		t.Error("the old relay is not closed")
	}
	h.feed(11, report(t, 11, "239.5.5.5", false))
	eventually(t, "p2's report relayed by the daemon", func() bool { return relayed(k.port(12).written(), "239.5.5.5") })
	if _, from, _ := relayState(k, r2); from[11] != [2]bool{} || from[10] != [2]bool{} {
		t.Errorf("new relay marks %v, want neither p1 nor p2", from)
	}
}

// A mark the kernel refuses (its port map full) is not asked for again at
// every turn of the loop, and the port's reports go through the daemon.
func TestGuardRelayMarkRefused(t *testing.T) {
	k := newFakeKernel("p1", "up")
	set := testSettings(t, nil)
	set.Bridges[0].GuardRelay = true
	h := startDaemon(t, k, set, nil)
	r := currentRelay(k)
	k.locked(func() { r.portErr = errors.New("map full") })
	h.feed(11, query(t, 11))
	eventually(t, "the router port", func() bool { return h.port("up").Router != "" })
	for i := range 20 {
		h.feed(10, report(t, 10, netip.AddrFrom4([4]byte{239, 9, 9, byte(i)}).String(), false))
	}
	eventually(t, "p1's reports relayed by the daemon", func() bool { return relayed(k.port(11).written(), "239.9.9.19") })
	var calls int
	k.locked(func() { calls = r.portCalls })
	if calls > 4 {
		t.Errorf("%d SetPort calls for 2 ports whose marks never change: asked again at every turn", calls)
	}
}
