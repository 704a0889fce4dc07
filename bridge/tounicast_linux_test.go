package bridge

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLinkStateMulticastToUnicast drives the state machine with the
// mcast_to_unicast flag from both message families: `bridge link set`
// notifies with an AF_BRIDGE message only, `ip link set ... type
// bridge_slave` with a generic one.
func TestLinkStateMulticastToUnicast(t *testing.T) {
	br := linkMsg{link: Link{Index: 1, Name: "br0", Up: true}, kind: "bridge", opts: &Options{Snooping: true}}
	port := func(family uint8, on, has bool) linkMsg {
		return linkMsg{family: family, hasState: true, hasToUcast: has,
			link: Link{Index: 2, Name: "p2", Up: true, MasterIndex: 1, State: StateForwarding, MulticastToUnicast: on}}
	}
	s := linkState{bridgeIndex: 1}
	if err := s.init([]linkMsg{br, port(unix.AF_UNSPEC, true, true)}); err != nil {
		t.Fatal(err)
	}
	if !s.ports[2].MulticastToUnicast {
		t.Fatalf("init: %+v, want mcast_to_unicast", s.ports[2])
	}
	for _, c := range []struct {
		what string
		m    linkMsg
		want []LinkEventKind
		on   bool
	}{
		{"AF_BRIDGE off", port(unix.AF_BRIDGE, false, true), []LinkEventKind{PortMulticastToUnicast}, false},
		{"AF_BRIDGE off again", port(unix.AF_BRIDGE, false, true), nil, false},
		{"generic without the flag keeps it", port(unix.AF_UNSPEC, true, false), nil, false},
		{"AF_BRIDGE without the flag keeps it", port(unix.AF_BRIDGE, true, false), nil, false},
		{"generic on", port(unix.AF_UNSPEC, true, true), []LinkEventKind{PortMulticastToUnicast}, true},
	} {
		evs := s.apply(false, c.m)
		if len(evs) != len(c.want) {
			t.Errorf("%s: events %v, want %v", c.what, evs, c.want)
			continue
		}
		for i, ev := range evs {
			if ev.Kind != c.want[i] || ev.Link.MulticastToUnicast != c.on || ev.Link.Name != "p2" {
				t.Errorf("%s: event %v (to-unicast %t), want %v (%t)", c.what, ev, ev.Link.MulticastToUnicast, c.want[i], c.on)
			}
		}
		if s.ports[2].MulticastToUnicast != c.on {
			t.Errorf("%s: port %+v, want to-unicast %t", c.what, s.ports[2], c.on)
		}
	}
	if PortMulticastToUnicast.String() != "port-mcast-to-unicast" {
		t.Errorf("String() = %q", PortMulticastToUnicast.String())
	}
}

// TestWatchMulticastToUnicast switches a real port's flag both ways and
// with both tools: Lookup and the watcher see each change.
func TestWatchMulticastToUnicast(t *testing.T) {
	l := newLab(t, 1)
	w := subscribe(t, l.br, l.brIdx)
	if ps := w.Ports(); len(ps) != 1 || ps[0].MulticastToUnicast {
		w.Close()
		t.Fatalf("snapshot ports = %+v, want p1 without mcast_to_unicast", ps)
	}
	events := runWatcher(t, w, 64)
	for _, c := range []struct {
		cmd []string
		on  bool
	}{
		{[]string{"bridge", "link", "set", "dev", "p1", "mcast_to_unicast", "on"}, true},
		{[]string{"ip", "link", "set", "p1", "type", "bridge_slave", "mcast_to_unicast", "off"}, false},
		{[]string{"ip", "link", "set", "p1", "type", "bridge_slave", "mcast_to_unicast", "on"}, true},
		{[]string{"bridge", "link", "set", "dev", "p1", "mcast_to_unicast", "off"}, false},
	} {
		l.br.Exec(c.cmd...)
		ev := expectEvent(t, events, PortMulticastToUnicast, "p1", 5*time.Second)
		if ev.Link.MulticastToUnicast != c.on || ev.Link.State != StateForwarding || !ev.Link.Up {
			t.Errorf("%v: event link %+v, want to-unicast %t, up and forwarding", c.cmd, ev.Link, c.on)
		}
		l.br.Do(func() {
			if _, ports, err := Lookup("br0"); err != nil || len(ports) != 1 || ports[0].MulticastToUnicast != c.on {
				t.Errorf("%v: Lookup = %+v, %v", c.cmd, ports, err)
			}
		})
	}
}
