package bridge

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestLookup(t *testing.T) {
	l := newLab(t, 2)
	l.br.IP("link", "add", "vx", "type", "veth", "peer", "name", "vy")
	l.br.Do(func() {
		br, ports, err := Lookup("br0")
		if err != nil {
			t.Fatalf("Lookup(br0): %v", err)
		}
		if br.Index != l.brIdx || br.Name != "br0" || len(br.MAC) != 6 {
			t.Errorf("bridge = %+v, want index %d name br0 with a MAC", br, l.brIdx)
		}
		if want := netip.MustParseAddr("10.77.0.1"); br.IPv4 != want {
			t.Errorf("bridge IPv4 = %v, want %v", br.IPv4, want)
		}
		if br.IPv6.IsValid() {
			t.Errorf("bridge IPv6 = %v with IPv6 disabled, want none", br.IPv6)
		}
		if len(ports) != 2 {
			t.Fatalf("ports = %+v, want p1 and p2", ports)
		}
		for i, p := range ports {
			if p.Index != l.ports[i] || p.Name != "p"+string(rune('1'+i)) || p.MasterIndex != l.brIdx || !p.Up ||
				p.State != StateForwarding || !p.Learning() || !p.Forwarding() {
				t.Errorf("port %d = %+v, want index %d, master %d, up, forwarding", i, p, l.ports[i], l.brIdx)
			}
		}

		_, _, err = Lookup("vx")
		if !errors.Is(err, ErrNotBridge) {
			t.Errorf("Lookup(vx) = %v, want ErrNotBridge", err)
		}
		t.Logf("non-bridge: %v", err)
		_, _, err = Lookup("nosuch0")
		if !errors.Is(err, ErrNoLink) {
			t.Errorf("Lookup(nosuch0) = %v, want ErrNoLink", err)
		}
		t.Logf("missing: %v", err)
	})
}

func TestAddresses(t *testing.T) {
	l := newLab(t, 1)
	l.br.enableIPv6()
	l.br.IP("addr", "add", "fd77::1/64", "dev", "br0", "nodad")
	ll := l.br.linkLocal("br0")
	l.br.Do(func() {
		br, _, err := Lookup("br0")
		if err != nil {
			t.Fatal(err)
		}
		if br.IPv6 != ll || br.IPv4 != netip.MustParseAddr("10.77.0.1") {
			t.Errorf("Lookup: IPv4 %v IPv6 %v, want 10.77.0.1 and %v", br.IPv4, br.IPv6, ll)
		}
		v4, v6, err := Addresses(l.brIdx)
		if err != nil || v4 != br.IPv4 || v6 != ll {
			t.Errorf("Addresses = %v, %v, %v; want %v, %v", v4, v6, err, br.IPv4, ll)
		}
		// A port has no IPv4 address (but IPv6 gives it a link-local one).
		v4, v6, err = Addresses(l.ports[0])
		if err != nil || v4.IsValid() || (v6.IsValid() && !v6.IsLinkLocalUnicast()) {
			t.Errorf("Addresses(port) = %v, %v, %v; want no IPv4 address", v4, v6, err)
		}
	})
}

func TestLookupNoAddress(t *testing.T) {
	needRoot(t)
	ns := newNS(t, "b")
	ns.IP("link", "add", "br9", "type", "bridge")
	ns.Do(func() {
		br, ports, err := Lookup("br9")
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if br.IPv4.IsValid() || len(ports) != 0 || br.Up {
			t.Errorf("got %+v ports %v, want no address, no ports, down", br, ports)
		}
	})
}

// expectEvent reads events until one matches kind and link name, skipping
// others (e.g. BridgeChanged), for at most timeout.
func expectEvent(t *testing.T, ch <-chan LinkEvent, kind LinkEventKind, name string, timeout time.Duration) LinkEvent {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-ch:
			t.Logf("event: %v mac=%v opts=%+v", ev, ev.Link.MAC, ev.Options)
			if ev.Kind == kind && ev.Link.Name == name {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %v event for %s within %v", kind, name, timeout)
		}
	}
}

func TestWatchLinks(t *testing.T) {
	l := newLab(t, 1)
	h2 := newNS(t, "h")

	w := subscribe(t, l.br, l.brIdx)
	if ports := w.Ports(); len(ports) != 1 || ports[0].Name != "p1" || !ports[0].Up {
		t.Fatalf("snapshot ports = %+v, want p1 up", ports)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan LinkEvent, 64)
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runErr = w.Run(ctx, events)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	const wait = 5 * time.Second
	l.br.IP("link", "add", "p2", "type", "veth", "peer", "name", "eth0", "netns", h2.Name)
	h2.IP("link", "set", "eth0", "up")
	l.br.IP("link", "set", "p2", "master", "br0")
	ev := expectEvent(t, events, PortAdded, "p2", wait)
	if ev.Link.Up || ev.Link.MasterIndex != l.brIdx || ev.Link.State != StateDisabled {
		t.Errorf("added port = %+v, want down, master %d, disabled", ev.Link, l.brIdx)
	}
	l.br.IP("link", "set", "p2", "up")
	ev = expectEvent(t, events, PortUp, "p2", wait)
	// With STP off the kernel makes an up port forwarding, possibly only
	// once its link-watch work has seen the carrier (a PortState later).
	expectState(t, events, ev.Link, StateForwarding, wait)
	l.br.IP("link", "set", "p2", "down")
	expectEvent(t, events, PortDown, "p2", wait)
	l.br.IP("link", "set", "p2", "up")
	expectEvent(t, events, PortUp, "p2", wait)
	// Carrier loss on the peer side is a PortDown too.
	h2.IP("link", "set", "eth0", "down")
	expectEvent(t, events, PortDown, "p2", wait)
	// Renamed while down (Linux renames nothing that is up).
	l.br.IP("link", "set", "p2", "down")
	l.br.IP("link", "set", "p2", "name", "p2x")
	ev = expectEvent(t, events, PortRenamed, "p2x", wait)
	if ev.Link.Index != l.br.Index("p2x") || ev.Link.Up {
		t.Errorf("renamed port = %+v, want ifindex %d, down", ev.Link, l.br.Index("p2x"))
	}
	l.br.IP("link", "set", "p2x", "name", "p2")
	expectEvent(t, events, PortRenamed, "p2", wait)
	l.br.IP("link", "set", "p2", "nomaster")
	expectEvent(t, events, PortRemoved, "p2", wait)
	l.br.IP("link", "set", "p2", "master", "br0")
	expectEvent(t, events, PortAdded, "p2", wait)
	l.br.IP("link", "del", "p2")
	ev = expectEvent(t, events, PortRemoved, "p2", wait)
	if ev.Link.MasterIndex != 0 {
		t.Errorf("removed port master = %d, want 0", ev.Link.MasterIndex)
	}
	// An option change is a BridgeChanged carrying the options.
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	ev = expectEvent(t, events, BridgeChanged, "br0", wait)
	if ev.Options == nil || ev.Options.Snooping {
		t.Errorf("BridgeChanged options = %+v, want snooping off", ev.Options)
	}
	l.br.IP("link", "del", "br0")
	expectEvent(t, events, PortRemoved, "p1", wait)
	expectEvent(t, events, BridgeGone, "br0", wait)

	cancel()
	wg.Wait()
	if runErr != nil {
		t.Errorf("Run = %v, want nil after cancel", runErr)
	}
}

// expectState waits until port last (as of its latest event) is in STP
// state want, reading events for at most timeout. Every port event carries
// the port's state; a change must come as a PortState.
func expectState(t *testing.T, ch <-chan LinkEvent, last Link, want STPState, timeout time.Duration) Link {
	t.Helper()
	if last.State == want {
		return last
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-ch:
			t.Logf("event: %v", ev)
			if ev.Link.Index != last.Index {
				continue
			}
			if ev.Link.State != last.State && ev.Kind != PortState {
				// A PortUp or PortDown that changes the state is followed
				// by a PortState; take the state from that one.
				select {
				case next := <-ch:
					t.Logf("event: %v", next)
					if next.Kind != PortState || !next.Link.equal(ev.Link) {
						t.Fatalf("%v changed the state without a PortState after it (next %v)", ev, next)
					}
					ev = next
				case <-timer.C:
					t.Fatalf("%v changed the state without a PortState after it", ev)
				}
			}
			last = ev.Link
			if last.State == want {
				return last
			}
		case <-timer.C:
			t.Fatalf("%s not %v within %v (last %v)", last.Name, want, timeout, last.State)
		}
	}
}

// TestWatchPortState sets a port's STP state by hand (STP off): each change
// is a PortState event, and Lookup reports the state. Blocking cannot be
// set by hand with STP off: the kernel's port state selection makes a
// blocking designated port forwarding again at once (TestWatchPortStateSTP
// covers blocking).
func TestWatchPortState(t *testing.T) {
	l := newLab(t, 1)
	w := subscribe(t, l.br, l.brIdx)
	ports := w.Ports()
	if len(ports) != 1 || ports[0].State != StateForwarding {
		w.Close()
		t.Fatalf("snapshot ports = %+v, want p1 forwarding", ports)
	}
	events := runWatcher(t, w, 64)

	const wait = 5 * time.Second
	for _, c := range []struct {
		state              STPState
		learning, forwards bool
	}{
		{StateListening, false, false},
		{StateLearning, true, false},
		{StateDisabled, false, false},
		{StateForwarding, true, true},
	} {
		l.br.Exec("bridge", "link", "set", "dev", "p1", "state", strconv.Itoa(int(c.state)))
		ev := expectEvent(t, events, PortState, "p1", wait)
		if ev.Link.State != c.state || ev.Link.Learning() != c.learning || ev.Link.Forwarding() != c.forwards ||
			!ev.Link.Up || ev.Link.MasterIndex != l.brIdx {
			t.Errorf("state %v: event link %+v (learning %t, forwarding %t), want that state, up, master %d",
				c.state, ev.Link, ev.Link.Learning(), ev.Link.Forwarding(), l.brIdx)
		}
		l.br.Do(func() {
			_, ports, err := Lookup("br0")
			if err != nil || len(ports) != 1 || ports[0].State != c.state {
				t.Errorf("state %v: Lookup = %+v, %v", c.state, ports, err)
			}
		})
	}
	// Setting the same state again changes nothing: no event. Nor does
	// blocking, which the kernel turns back into forwarding before it
	// notifies anyone.
	l.br.Exec("bridge", "link", "set", "dev", "p1", "state", "3")
	l.br.Exec("bridge", "link", "set", "dev", "p1", "state", "4")
	l.br.Do(func() {
		_, ports, err := Lookup("br0")
		if err != nil || len(ports) != 1 || ports[0].State != StateForwarding {
			t.Errorf("after setting blocking: Lookup = %+v, %v; want p1 forwarding", ports, err)
		}
	})
	// The port going down makes it disabled: PortDown (carrying the new
	// state if the same notification had it), and a PortState at some point.
	l.br.IP("link", "set", "p1", "down")
	ev := expectEvent(t, events, PortDown, "p1", wait)
	ev.Link = expectState(t, events, ev.Link, StateDisabled, wait)
	l.br.IP("link", "set", "p1", "up")
	ev = expectEvent(t, events, PortUp, "p1", wait)
	expectState(t, events, ev.Link, StateForwarding, wait)
	// No more port events (the bridge may report its own carrier).
	quiet := time.After(300 * time.Millisecond)
	for {
		select {
		case ev := <-events:
			if ev.Kind != BridgeChanged {
				t.Errorf("unexpected event %v", ev)
			}
		case <-quiet:
			return
		}
	}
}

// TestWatchPortStateSTP runs the kernel's STP on a bridge with two ports
// cabled to each other (a loop): one port ends blocking, the other goes
// through listening and learning to forwarding, all reported as PortState.
func TestWatchPortStateSTP(t *testing.T) {
	needRoot(t)
	ns := newNS(t, "b")
	// forward_delay 2 s (the minimum), so listening and learning take 2 s each.
	ns.IP("link", "add", "br0", "type", "bridge", "stp_state", "1", "forward_delay", "200", "hello_time", "100")
	ns.IP("link", "set", "br0", "up")
	brIdx := ns.Index("br0")
	w := subscribe(t, ns, brIdx)
	events := runWatcher(t, w, 256)

	ns.IP("link", "add", "la", "type", "veth", "peer", "name", "lb")
	ns.IP("link", "set", "la", "master", "br0")
	ns.IP("link", "set", "lb", "master", "br0")
	ns.IP("link", "set", "la", "up")
	ns.IP("link", "set", "lb", "up")

	// Follow both ports' states from the events until one is forwarding
	// and the other blocking.
	seen := map[string][]STPState{}
	state := map[string]STPState{}
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !(state["la"] == StateForwarding && state["lb"] == StateBlocking ||
		state["lb"] == StateForwarding && state["la"] == StateBlocking) {
		select {
		case ev := <-events:
			t.Logf("event: %v", ev)
			if ev.Kind == BridgeChanged {
				continue
			}
			name := ev.Link.Name
			if ev.Kind == PortAdded || ev.Kind == PortState {
				seen[name] = append(seen[name], ev.Link.State)
			}
			state[name] = ev.Link.State
		case <-deadline.C:
			t.Fatalf("no blocking and forwarding port within 20s: states %v, history %v", state, seen)
		}
	}
	fwd, blk := "la", "lb"
	if state["lb"] == StateForwarding {
		fwd, blk = blk, fwd
	}
	t.Logf("forwarding %s: %v; blocking %s: %v", fwd, seen[fwd], blk, seen[blk])
	// The forwarding port went through listening and learning, in order.
	h := seen[fwd]
	if i := slices.Index(h, StateListening); i < 0 || !slices.Contains(h[i:], StateLearning) {
		t.Errorf("%s states %v: want listening, then learning, then forwarding", fwd, h)
	}
	ns.Do(func() {
		_, ports, err := Lookup("br0")
		if err != nil || len(ports) != 2 {
			t.Fatalf("Lookup = %+v, %v", ports, err)
		}
		for _, p := range ports {
			if want := state[p.Name]; p.State != want {
				t.Errorf("Lookup: %s %v, want %v", p.Name, p.State, want)
			}
		}
	})
}

// TestWatchLinksReturns checks WatchLinks returns promptly on cancel even
// with nobody reading events, and refuses a non-bridge.
func TestWatchLinksReturns(t *testing.T) {
	l := newLab(t, 1)
	l.br.IP("link", "add", "vx", "type", "veth", "peer", "name", "vy")
	vx := l.br.Index("vx")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var err error
		l.br.Do(func() { err = watchLinks(ctx, l.brIdx, make(chan LinkEvent)) })
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	l.br.IP("link", "set", "p1", "down") // an event nobody reads
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WatchLinks = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchLinks did not return after cancel")
	}

	l.br.Do(func() {
		err := watchLinks(context.Background(), vx, make(chan LinkEvent))
		if !errors.Is(err, ErrNotBridge) {
			t.Errorf("watchLinks(veth) = %v, want ErrNotBridge", err)
		}
	})
}

// TestLinkStateResync drives the state machine directly: a lost-notification
// resync reports exactly the differences.
func TestLinkStateResync(t *testing.T) {
	br := linkMsg{link: Link{Index: 1, Name: "br0", Up: true}, kind: "bridge", opts: &Options{Snooping: true}}
	p := func(i int, up bool, master int) linkMsg {
		return linkMsg{link: Link{Index: i, Name: "p" + string(rune('0'+i)), Up: up, MasterIndex: master}}
	}
	s := linkState{bridgeIndex: 1}
	if err := s.init([]linkMsg{br, p(2, true, 1), p(3, true, 1), p(4, true, 0)}); err != nil {
		t.Fatal(err)
	}
	// AF_BRIDGE copies are ignored.
	bm := p(2, false, 0)
	bm.family = unix.AF_BRIDGE
	if evs := s.apply(true, bm); len(evs) != 0 {
		t.Errorf("AF_BRIDGE message gave %v", evs)
	}
	evs := s.resync([]linkMsg{br, p(2, false, 1), p(4, true, 1)})
	want := map[string]LinkEventKind{"p3": PortRemoved, "p2": PortDown, "p4": PortAdded}
	if len(evs) != len(want) {
		t.Fatalf("resync events = %v, want %v", evs, want)
	}
	for _, ev := range evs {
		if want[ev.Link.Name] != ev.Kind {
			t.Errorf("event %v, want %v", ev, want[ev.Link.Name])
		}
	}
	evs = s.resync([]linkMsg{p(4, true, 0)})
	if len(evs) != 3 || evs[2].Kind != BridgeGone {
		t.Errorf("bridge gone resync = %v, want 2 PortRemoved then BridgeGone", evs)
	}
}

// TestLinkStatePortState drives the state machine with STP state changes
// from both message families.
func TestLinkStatePortState(t *testing.T) {
	br := linkMsg{link: Link{Index: 1, Name: "br0", Up: true}, kind: "bridge", opts: &Options{Snooping: true}}
	port := func(family uint8, i int, up bool, master int, state STPState, has bool) linkMsg {
		return linkMsg{family: family, hasState: has,
			link: Link{Index: i, Name: "p" + strconv.Itoa(i), Up: up, MasterIndex: master, State: state}}
	}
	gen := func(i int, up bool, state STPState) linkMsg { return port(unix.AF_UNSPEC, i, up, 1, state, true) }
	afb := func(i int, master int, state STPState) linkMsg {
		return port(unix.AF_BRIDGE, i, true, master, state, true)
	}
	s := linkState{bridgeIndex: 1}
	if err := s.init([]linkMsg{br, gen(2, true, StateForwarding), gen(3, false, StateDisabled)}); err != nil {
		t.Fatal(err)
	}
	if ps := s.portList(); ps[0].State != StateForwarding || ps[1].State != StateDisabled {
		t.Fatalf("init ports %+v", ps)
	}
	check := func(what string, evs []LinkEvent, want ...LinkEventKind) {
		t.Helper()
		if len(evs) != len(want) {
			t.Errorf("%s: events %v, want %v", what, evs, want)
			return
		}
		for i := range want {
			if evs[i].Kind != want[i] {
				t.Errorf("%s: events %v, want %v", what, evs, want)
			}
		}
	}
	evs := s.apply(false, afb(2, 1, StateBlocking))
	check("AF_BRIDGE blocking", evs, PortState)
	if len(evs) == 1 && (evs[0].Link.State != StateBlocking || evs[0].Link.Name != "p2" || !evs[0].Link.Up) {
		t.Errorf("PortState link %+v, want p2 up blocking", evs[0].Link)
	}
	check("same state again", s.apply(false, afb(2, 1, StateBlocking)))
	check("AF_BRIDGE without state", s.apply(false, port(unix.AF_BRIDGE, 2, true, 1, StateForwarding, false)))
	check("AF_BRIDGE of another bridge", s.apply(false, afb(2, 9, StateForwarding)))
	check("AF_BRIDGE of an unknown port", s.apply(false, afb(7, 1, StateForwarding)))
	check("AF_BRIDGE deletion", s.apply(true, afb(2, 1, StateForwarding)))
	// A generic message without the state keeps the one known.
	check("generic without state", s.apply(false, port(unix.AF_UNSPEC, 2, true, 1, StateDisabled, false)))
	if s.ports[2].State != StateBlocking {
		t.Errorf("p2 state %v after a message without state, want blocking", s.ports[2].State)
	}
	// A generic message changing both: PortUp, then PortState.
	evs = s.apply(false, gen(3, true, StateForwarding))
	check("generic up and forwarding", evs, PortUp, PortState)
	check("generic down and disabled", s.apply(false, gen(3, false, StateDisabled)), PortDown, PortState)
	check("generic state only", s.apply(false, gen(2, true, StateListening)), PortState)
	// A resync reports state differences.
	check("resync", s.resync([]linkMsg{br, gen(2, true, StateLearning), gen(3, false, StateDisabled)}), PortState)
	if s.ports[2].State != StateLearning || !s.ports[2].Learning() || s.ports[2].Forwarding() {
		t.Errorf("p2 after resync %+v", s.ports[2])
	}
}

func TestSTPStateString(t *testing.T) {
	for s, want := range map[STPState]string{StateDisabled: "disabled", StateListening: "listening",
		StateLearning: "learning", StateForwarding: "forwarding", StateBlocking: "blocking", 9: "stp-state(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", uint8(s), s.String(), want)
		}
	}
	if PortState.String() != "port-state" || PortRenamed.String() != "port-renamed" {
		t.Errorf("PortState = %q, PortRenamed = %q", PortState.String(), PortRenamed.String())
	}
}

// watchLinks subscribes to link changes in the calling thread's network
// namespace and sends events for bridgeIndex and its ports until ctx is done
// (then it returns nil). Events are relative to the state when it
// subscribed; callers that need to know that moment (so a Lookup made before
// cannot miss a change) use SubscribeLinks and Run instead.
func watchLinks(ctx context.Context, bridgeIndex int, events chan<- LinkEvent) error {
	w, err := SubscribeLinks(bridgeIndex)
	if err != nil {
		return err
	}
	return w.Run(ctx, events)
}

// subscribe subscribes to bridge brIdx's links from inside ns.
func subscribe(t *testing.T, ns *testNS, brIdx int) *LinkWatcher {
	t.Helper()
	var w *LinkWatcher
	ns.Do(func() {
		var err error
		if w, err = SubscribeLinks(brIdx); err != nil {
			t.Fatalf("SubscribeLinks: %v", err)
		}
	})
	return w
}

// runWatcher runs w until the test ends and returns its events, buffer of
// them queued at most.
func runWatcher(t *testing.T, w *LinkWatcher, buffer int) <-chan LinkEvent {
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan LinkEvent, buffer)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx, events); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return events
}
