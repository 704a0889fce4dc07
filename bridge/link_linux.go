package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Lookup finds the bridge called name and its current ports (sorted by
// ifindex), each with its STP state. It fails with ErrNoLink if no link has
// that name and with ErrNotBridge if the link is not a bridge.
func Lookup(name string) (Bridge, []Link, error) {
	r, err := openRTNL()
	if err != nil {
		return Bridge{}, nil, fmt.Errorf("lookup bridge %q: %w", name, err)
	}
	defer r.close()
	links, err := r.dumpLinks()
	if err != nil {
		return Bridge{}, nil, fmt.Errorf("lookup bridge %q: %w", name, err)
	}
	var br linkMsg
	found := false
	for _, m := range links {
		if m.link.Name == name {
			br, found = m, true
			break
		}
	}
	if !found {
		return Bridge{}, nil, fmt.Errorf("lookup bridge %q: %w", name, ErrNoLink)
	}
	if br.kind != "bridge" {
		kind := br.kind
		if kind == "" {
			kind = "device without a link kind"
		}
		return Bridge{}, nil, fmt.Errorf("lookup bridge %q: it is a %s: %w", name, kind, ErrNotBridge)
	}
	ports := portsOf(links, br.link.Index)
	v4, v6, err := r.addresses(br.link.Index)
	if err != nil {
		return Bridge{}, nil, fmt.Errorf("lookup bridge %q: %w", name, err)
	}
	return Bridge{Link: br.link, IPv4: v4, IPv6: v6}, ports, nil
}

// Addresses returns the first IPv4 address and the IPv6 link-local address
// of the link with ifindex index (see Bridge.IPv4 and Bridge.IPv6); each is
// invalid if the link has none. Lookup fills them in once; a daemon that
// starts before the bridge has its addresses (IPv6 link-local addresses
// appear only once the link is up) asks again with this.
func Addresses(index int) (ipv4, ipv6 netip.Addr, err error) {
	r, err := openRTNL()
	if err != nil {
		return ipv4, ipv6, fmt.Errorf("addresses of link %d: %w", index, err)
	}
	defer r.close()
	if ipv4, ipv6, err = r.addresses(index); err != nil {
		return ipv4, ipv6, fmt.Errorf("addresses of link %d: %w", index, err)
	}
	return ipv4, ipv6, nil
}

func portsOf(links []linkMsg, bridgeIndex int) []Link {
	var ports []Link
	for _, m := range links {
		if m.link.MasterIndex == bridgeIndex && m.link.Index != bridgeIndex {
			ports = append(ports, m.link)
		}
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Index < ports[j].Index })
	return ports
}

// LinkWatcher is a subscription to link changes of one bridge. It is
// subscribed when SubscribeLinks returns, so no change after that moment is
// missed: events are relative to the state in Ports.
//
// Port STP states come from two kinds of notification that the kernel does
// not order with link state: a port may be reported forwarding while still
// down (or up while still disabled) for a moment. A port carries traffic
// when it is both Up and Forwarding.
type LinkWatcher struct {
	sock  *nl.NetlinkSocket // RTNLGRP_LINK subscription
	query *rtnl             // same namespace, for resyncs after overruns
	state linkState

	closeOnce sync.Once
	runOnce   sync.Once
}

// SubscribeLinks subscribes to link notifications in the calling thread's
// network namespace and takes a snapshot of the bridge and its ports. Call
// Run to receive the changes; Close if Run is never called.
func SubscribeLinks(bridgeIndex int) (*LinkWatcher, error) {
	sock, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
	if err != nil {
		return nil, fmt.Errorf("watch links of bridge %d: subscribe: %w", bridgeIndex, err)
	}
	// A bigger buffer makes overruns (ENOBUFS, handled by a resync) rare when
	// many ports change at once.
	_ = sock.SetReceiveBufferSize(1<<20, false) // best effort: the default also works
	w := &LinkWatcher{sock: sock, state: linkState{bridgeIndex: bridgeIndex}}
	if w.query, err = openRTNL(); err != nil {
		sock.Close()
		return nil, fmt.Errorf("watch links of bridge %d: %w", bridgeIndex, err)
	}
	// The snapshot is taken after subscribing: a change racing with it shows
	// up in both, and the state machine drops the duplicate.
	links, err := w.query.dumpLinks()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("watch links of bridge %d: %w", bridgeIndex, err)
	}
	if err := w.state.init(links); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch links of bridge %d: %w", bridgeIndex, err)
	}
	return w, nil
}

// Ports returns the bridge's ports as of the snapshot, sorted by ifindex.
// Call it before Run: Run owns the state afterwards.
func (w *LinkWatcher) Ports() []Link { return w.state.portList() }

// Close releases the subscription. It is safe to call more than once and
// concurrently with Run, which then returns.
func (w *LinkWatcher) Close() error {
	w.closeOnce.Do(func() {
		w.sock.Close()
		w.query.close()
	})
	return nil
}

// Run sends events for the bridge and its ports until ctx is done (then it
// returns nil) or the subscription fails. It closes the watcher when it
// returns and may be called only once. Sends block until events is read or
// ctx is done.
func (w *LinkWatcher) Run(ctx context.Context, events chan<- LinkEvent) error {
	ran := false
	w.runOnce.Do(func() { ran = true })
	if !ran {
		return errors.New("link watcher: Run called twice")
	}
	defer w.Close()

	// Closing the socket is the only way to interrupt a blocking Receive.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			w.Close()
		case <-done:
		}
	}()
	defer wg.Wait()
	defer close(done)

	send := func(evs []LinkEvent) bool {
		for _, ev := range evs {
			select {
			case events <- ev:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}

	for {
		msgs, _, err := w.sock.Receive()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, unix.ENOBUFS) {
			// The kernel dropped notifications: diff a fresh dump instead.
			links, err := w.query.dumpLinks()
			if err != nil {
				return fmt.Errorf("watch links of bridge %d: resync: %w", w.state.bridgeIndex, err)
			}
			if !send(w.state.resync(links)) {
				return nil
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("watch links of bridge %d: receive: %w", w.state.bridgeIndex, err)
		}
		for _, m := range msgs {
			var evs []LinkEvent
			switch m.Header.Type {
			case unix.RTM_NEWLINK, unix.RTM_DELLINK:
				lm, err := parseLinkMsg(m.Data)
				if err != nil {
					continue // one malformed notification must not stop the watch
				}
				evs = w.state.apply(m.Header.Type == unix.RTM_DELLINK, lm)
			}
			if !send(evs) {
				return nil
			}
		}
	}
}

// linkState is the watcher's view of one bridge: a pure state machine from
// link messages to events, with no I/O.
type linkState struct {
	bridgeIndex int
	bridge      Link
	opts        *Options
	ports       map[int]Link
	gone        bool
}

func (s *linkState) init(links []linkMsg) error {
	s.ports = make(map[int]Link)
	found := false
	for _, m := range links {
		if m.link.Index == s.bridgeIndex {
			if m.kind != "bridge" {
				return fmt.Errorf("link %d (%s): %w", m.link.Index, m.link.Name, ErrNotBridge)
			}
			s.bridge, s.opts, found = m.link, m.opts, true
		}
	}
	if !found {
		return fmt.Errorf("bridge %d: %w", s.bridgeIndex, ErrNoLink)
	}
	for _, p := range portsOf(links, s.bridgeIndex) {
		s.ports[p.Index] = p
	}
	return nil
}

func (s *linkState) portList() []Link {
	ports := make([]Link, 0, len(s.ports))
	for _, p := range s.ports {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Index < ports[j].Index })
	return ports
}

// apply turns one notification into events.
func (s *linkState) apply(deleted bool, m linkMsg) []LinkEvent {
	if s.gone {
		return nil
	}
	// The bridge also sends AF_BRIDGE-family messages about its ports, the
	// only notification of an STP state change, and an RTM_DELLINK when a
	// port merely leaves the bridge. Only the generic family describes the
	// device itself; of the bridge's messages only port states are used.
	if m.family == unix.AF_BRIDGE {
		return s.applyPortState(deleted, m)
	}
	if m.family != unix.AF_UNSPEC {
		return nil
	}
	idx := m.link.Index
	if idx == s.bridgeIndex {
		if deleted {
			var evs []LinkEvent
			// The kernel releases ports before deleting the bridge; if any
			// notification was lost, report the ports gone first anyway.
			for _, p := range s.portList() {
				evs = append(evs, LinkEvent{Kind: PortRemoved, Link: p})
			}
			s.ports = map[int]Link{}
			s.gone = true
			return append(evs, LinkEvent{Kind: BridgeGone, Link: s.bridge})
		}
		changed := !m.link.equal(s.bridge)
		if m.opts != nil {
			if s.opts == nil || *m.opts != *s.opts {
				changed = true
			}
			s.opts = m.opts
		}
		s.bridge = m.link
		if !changed {
			return nil
		}
		ev := LinkEvent{Kind: BridgeChanged, Link: m.link}
		if s.opts != nil {
			o := *s.opts
			ev.Options = &o
		}
		return []LinkEvent{ev}
	}

	old, known := s.ports[idx]
	isPort := !deleted && m.link.MasterIndex == s.bridgeIndex
	switch {
	case known && !isPort:
		delete(s.ports, idx)
		if deleted {
			// The deletion message may still name the old master.
			m.link.MasterIndex = 0
		}
		return []LinkEvent{{Kind: PortRemoved, Link: m.link}}
	case !known && isPort:
		s.ports[idx] = m.link
		return []LinkEvent{{Kind: PortAdded, Link: m.link}}
	case known && isPort:
		if !m.hasState {
			m.link.State = old.State
		}
		if !m.hasToUcast {
			m.link.MulticastToUnicast = old.MulticastToUnicast
		}
		s.ports[idx] = m.link
		var evs []LinkEvent
		if m.link.Name != old.Name {
			evs = append(evs, LinkEvent{Kind: PortRenamed, Link: m.link})
		}
		switch {
		case m.link.Up && !old.Up:
			evs = append(evs, LinkEvent{Kind: PortUp, Link: m.link})
		case !m.link.Up && old.Up:
			evs = append(evs, LinkEvent{Kind: PortDown, Link: m.link})
		}
		if m.link.State != old.State {
			evs = append(evs, LinkEvent{Kind: PortState, Link: m.link})
		}
		if m.link.MulticastToUnicast != old.MulticastToUnicast {
			evs = append(evs, LinkEvent{Kind: PortMulticastToUnicast, Link: m.link})
		}
		return evs
	}
	return nil
}

// applyPortState takes the STP state and the mcast_to_unicast flag from
// the bridge's own (AF_BRIDGE) message about a port already known (`bridge
// link set` notifies only with those), and reports a change. The rest of
// the port's link comes from generic messages only: a port's PortAdded
// always comes from one, and carries the state the port had then.
func (s *linkState) applyPortState(deleted bool, m linkMsg) []LinkEvent {
	p, known := s.ports[m.link.Index]
	if deleted || !known || m.link.MasterIndex != s.bridgeIndex {
		return nil
	}
	var evs []LinkEvent
	if m.hasState && m.link.State != p.State {
		p.State = m.link.State
		evs = append(evs, LinkEvent{Kind: PortState, Link: p})
	}
	if m.hasToUcast && m.link.MulticastToUnicast != p.MulticastToUnicast {
		p.MulticastToUnicast = m.link.MulticastToUnicast
		evs = append(evs, LinkEvent{Kind: PortMulticastToUnicast, Link: p})
	}
	s.ports[p.Index] = p
	return evs
}

// resync diffs a full dump against the state, after lost notifications.
func (s *linkState) resync(links []linkMsg) []LinkEvent {
	if s.gone {
		return nil
	}
	var evs []LinkEvent
	seen := make(map[int]bool, len(links))
	bridgeSeen := false
	for _, m := range links {
		seen[m.link.Index] = true
		if m.link.Index == s.bridgeIndex {
			bridgeSeen = true
		}
	}
	// Ports that vanished entirely.
	for _, p := range s.portList() {
		if !seen[p.Index] {
			evs = append(evs, s.apply(true, linkMsg{link: p})...)
		}
	}
	if !bridgeSeen {
		return append(evs, s.apply(true, linkMsg{link: s.bridge})...)
	}
	for _, m := range links {
		if m.link.Index == s.bridgeIndex || m.link.MasterIndex == s.bridgeIndex || s.ports[m.link.Index].Index != 0 {
			evs = append(evs, s.apply(false, m)...)
		}
	}
	return evs
}
