package bridge

import (
	"context"
	"errors"
	"net/netip"
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
			if p.Index != l.ports[i] || p.Name != "p"+string(rune('1'+i)) || p.MasterIndex != l.brIdx || !p.Up {
				t.Errorf("port %d = %+v, want index %d, master %d, up", i, p, l.ports[i], l.brIdx)
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

	var w *LinkWatcher
	l.br.Do(func() {
		var err error
		if w, err = SubscribeLinks(l.brIdx); err != nil {
			t.Fatalf("SubscribeLinks: %v", err)
		}
	})
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
	if ev.Link.Up || ev.Link.MasterIndex != l.brIdx {
		t.Errorf("added port = %+v, want down, master %d", ev.Link, l.brIdx)
	}
	l.br.IP("link", "set", "p2", "up")
	expectEvent(t, events, PortUp, "p2", wait)
	l.br.IP("link", "set", "p2", "down")
	expectEvent(t, events, PortDown, "p2", wait)
	l.br.IP("link", "set", "p2", "up")
	expectEvent(t, events, PortUp, "p2", wait)
	// Carrier loss on the peer side is a PortDown too.
	h2.IP("link", "set", "eth0", "down")
	expectEvent(t, events, PortDown, "p2", wait)
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
		l.br.Do(func() { err = WatchLinks(ctx, l.brIdx, make(chan LinkEvent)) })
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
		err := WatchLinks(context.Background(), vx, make(chan LinkEvent))
		if !errors.Is(err, ErrNotBridge) {
			t.Errorf("WatchLinks(veth) = %v, want ErrNotBridge", err)
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
