package integration

import (
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// row returns the daemon's membership row for (group, port, source), if any.
func row(t *testing.T, d *lab.Daemon, group netip.Addr, port, source string) (snoop.GroupView, bool, string) {
	t.Helper()
	var gs groupsJSON
	if err := d.Show("groups", &gs); err != nil {
		t.Fatalf("show groups: %v", err)
	}
	var seen []string
	for _, g := range gs.Groups {
		seen = append(seen, fmt.Sprintf("%s/%s@%s(%s)", g.Group, g.Source, g.Port, g.Mode))
		if g.Group == group.String() && g.Port == port && g.Source == source {
			return g, true, fmt.Sprint(seen)
		}
	}
	return snoop.GroupView{}, false, fmt.Sprint(seen)
}

// sniffer starts a Sniffer on eth0 in ns, closed when the test ends.
func sniffer(t *testing.T, l *lab.Lab, ns string) *lab.Sniffer {
	t.Helper()
	s, err := l.Sniff(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func captures(t *testing.T, l *lab.Lab, namespaces ...string) map[string]*lab.Capture {
	t.Helper()
	caps := map[string]*lab.Capture{}
	for _, ns := range namespaces {
		c, err := l.Capture(ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		caps[ns] = c
	}
	return caps
}

// TestSSMSourceFiltering: a source-specific receiver (IP_ADD_SOURCE_MEMBERSHIP)
// gets traffic from its source and not from another source to the same
// group, while an any-source member gets both (RFC 4541 D7). The group is
// outside the SSM range, where any-source joins are refused
// (TestSSMRangeRefusesExcludeJoins).
func TestSSMSourceFiltering(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, h3.Name)
	d := startDaemon(t, l, fastTimers...)
	g := netip.MustParseAddr("239.77.1.1")

	ssm, err := l.JoinSource(h1, g, lab.Sender1)
	if err != nil {
		t.Fatal(err)
	}
	asm, err := l.Join(h2, g)
	if err != nil {
		t.Fatal(err)
	}
	defer asm.Leave()
	waitFor(t, 10*time.Second, "h1 INCLUDE {S1} and h2 EXCLUDE {} learned", func() (bool, string) {
		r1, ok1, seen := row(t, d, g, h1.Port, lab.Sender1.String())
		r2, ok2, _ := row(t, d, g, h2.Port, "")
		return ok1 && r1.Mode == "include" && ok2 && r2.Mode == "exclude" && querierOf(t, d, "igmp").Present, seen
	})
	found := false
	for _, e := range mdb(t, l) {
		if e.Port != portIndex(t, l, h1.Port) || e.Group != g || e.Source.IsValid() {
			continue
		}
		found = true
		if e.Mode != bridge.ModeInclude || !slices.Equal(e.Sources, []netip.Addr{lab.Sender1}) {
			t.Errorf("h1's MDB entry %v, want INCLUDE {%v}", e, lab.Sender1)
		}
	}
	if !found {
		t.Errorf("no MDB entry for %v on h1", g)
	}
	send := func(src netip.Addr) {
		if err := l.SendFrom(src, g, 20, 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	send(lab.Sender1)
	send(lab.Sender2)
	time.Sleep(300 * time.Millisecond)
	for _, c := range []struct {
		host lab.Host
		src  netip.Addr
		want int
	}{{h1, lab.Sender1, 20}, {h1, lab.Sender2, 0}, {h2, lab.Sender1, 20}, {h2, lab.Sender2, 20}, {h3, lab.Sender1, 0}, {h3, lab.Sender2, 0}} {
		if got := caps[c.host.Name].CountFrom(c.src, g); got != c.want {
			t.Errorf("%s received %d frames from %v to %v, want %d", c.host.Name, got, c.src, g, c.want)
		}
	}

	if err := ssm.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, lmqt+3*time.Second, "h1's source membership pruned", func() (bool, string) {
		_, ok, seen := row(t, d, g, h1.Port, lab.Sender1.String())
		return !ok, seen
	})
	caps[h1.Name].Reset()
	send(lab.Sender1)
	time.Sleep(300 * time.Millisecond)
	if n := caps[h1.Name].Count(g); n != 0 {
		t.Errorf("h1 received %d frames after leaving", n)
	}
}

func portIndex(t *testing.T, l *lab.Lab, name string) int {
	t.Helper()
	idx := 0
	err := lab.InNetns(l.Switch, func() error {
		_, ports, err := bridge.Lookup(l.Bridge)
		for _, p := range ports {
			if p.Name == name {
				idx = p.Index
			}
		}
		return err
	})
	if err != nil || idx == 0 {
		t.Fatalf("port %s: %v", name, err)
	}
	return idx
}

// TestMLDPruning: MLDv2 and MLDv1 hosts are pruned like IPv4 ones, and
// neighbour discovery keeps working because solicited-node groups are
// learned too.
func TestMLDPruning(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3, IPv6: true})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	if err := l.ForceMLDVersion(h3, 1); err != nil {
		t.Fatal(err)
	}
	caps := captures(t, l, h1.Name, h2.Name, h3.Name, l.Router)
	d := startDaemon(t, l, fastTimers...)
	waitFor(t, 10*time.Second, "MLD querier heard", func() (bool, string) {
		q := querierOf(t, d, "mld")
		return q.Present && !q.Self, fmt.Sprintf("%+v", q)
	})
	g2, g1 := netip.MustParseAddr("ff0e::1:2"), netip.MustParseAddr("ff0e::1:1")
	m1, err := l.Join(h1, g2)
	if err != nil {
		t.Fatal(err)
	}
	m3, err := l.Join(h3, g1)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		host    lab.Host
		group   netip.Addr
		version int
	}{{h1, g2, 2}, {h3, g1, 1}} {
		waitFor(t, 10*time.Second, fmt.Sprintf("%v learned on %s", w.group, w.host.Port), func() (bool, string) {
			r, ok, seen := row(t, d, w.group, w.host.Port, "")
			return ok && r.Version == w.version, seen
		})
	}
	// Solicited-node groups are learned like any other (only ff02::1 is not).
	a := h2.Addr6.As16()
	sn := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]})
	waitFor(t, 10*time.Second, "h2's solicited-node group learned", func() (bool, string) {
		_, ok, seen := row(t, d, sn, h2.Port, "")
		return ok, seen
	})
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier
	expectDelivery(t, l, g2, 20, map[string]int{h1.Name: 20, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 20, l.Router: 20}, caps)
	if err := l.Unicast6(h1, h2, 3*time.Second); err != nil {
		t.Fatalf("neighbour discovery through the snooping bridge: %v", err)
	}
	all, _ := portEntries(l, mdb(t, l))
	for _, e := range all {
		if !strings.HasSuffix(e, fmt.Sprintf("/proto%d", ourProto)) {
			t.Errorf("MDB entry not ours: %s", e)
		}
	}

	if err := m1.Leave(); err != nil {
		t.Fatal(err)
	}
	if err := m3.Leave(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		host  lab.Host
		group netip.Addr
	}{{h1, g2}, {h3, g1}} {
		waitFor(t, lmqt+3*time.Second, fmt.Sprintf("%s pruned from %v", w.host.Port, w.group), func() (bool, string) {
			_, ok, seen := row(t, d, w.group, w.host.Port, "")
			return !ok, seen
		})
	}
	expectDelivery(t, l, g2, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
}

// TestQuerierKeepsMembersWithoutRouter: with no router on the LAN and
// --querier, members keep receiving and others get nothing for well over
// three membership intervals.
func TestQuerierKeepsMembersWithoutRouter(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3, NoQuerier: true})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, h3.Name, l.Router)
	d := startDaemon(t, l, append([]string{"--querier"}, fastTimers...)...)
	if q := querierOf(t, d, "igmp"); !q.Self || q.Address != l.BridgeAddr.String() {
		t.Fatalf("querier = %+v, want ourselves at %s", q, l.BridgeAddr.String())
	}
	m, err := l.Join(h1, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave()
	waitFor(t, 5*time.Second, "h1 learned", func() (bool, string) {
		_, ok, seen := member(t, d, g1, h1.Port)
		return ok, seen
	})
	end := time.Now().Add(3*gmi + 2*time.Second)
	for i := 0; time.Now().Before(end) && i < 1000; i++ {
		if _, ok, seen := member(t, d, g1, h1.Port); !ok {
			t.Fatalf("h1 lost its membership while querying: %s", seen)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := caps[h2.Name].IGMPFrom(l.BridgeAddr); n < 3 {
		t.Fatalf("h2 saw %d of our queries, want one every query interval", n)
	}
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0, h3.Name: 0, l.Router: 0}, caps)
}

// TestQuerierTakeover: a querier with a lower address takes over and the
// daemon stops querying; when it goes quiet, the daemon takes over again.
func TestQuerierTakeover(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1, NoQuerier: true})
	h1 := l.Hosts[0]
	caps := captures(t, l, h1.Name)
	ours := netip.MustParseAddr("10.77.0.50")
	d := startDaemon(t, l, append([]string{"--querier", "--querier-address", ours.String()}, fastTimers...)...)
	waitFor(t, 5*time.Second, "our queries reach h1", func() (bool, string) {
		n := caps[h1.Name].IGMPFrom(ours)
		return n > 0, fmt.Sprintf("%d queries", n)
	})
	stop, err := l.StartQuerier(l.RouterAddr, 2*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	waitFor(t, 10*time.Second, "the router (lower address) is querier", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return q.Present && !q.Self && q.Address == l.RouterAddr.String(), fmt.Sprintf("%+v", q)
	})
	before := caps[h1.Name].IGMPFrom(ours)
	time.Sleep(5 * time.Second) // over two query intervals
	if after := caps[h1.Name].IGMPFrom(ours); after != before {
		t.Fatalf("we sent %d queries after a better querier took over", after-before)
	}
	stop()
	stop = nil
	waitFor(t, 10*time.Second, "we take over after the other querier present interval", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return q.Self && caps[h1.Name].IGMPFrom(ours) > before, fmt.Sprintf("%+v", q)
	})
}

// TestRouterWithHigherAddressStillGetsTraffic: while the daemon is the
// querier, the kernel ignores queries from higher addresses and would not
// learn that router's port; the daemon pushes its router ports into the
// kernel, so the router still gets registered and unregistered traffic.
func TestRouterWithHigherAddressStillGetsTraffic(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2, NoQuerier: true})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	caps := captures(t, l, h1.Name, h2.Name, l.Router)
	d := startDaemon(t, l, append([]string{"--querier"}, fastTimers...)...)
	stop, err := l.StartQuerier(netip.MustParseAddr("10.77.0.200"), 2*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	m, err := l.Join(h1, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave()
	waitFor(t, 10*time.Second, "router port learned and h1 a member, we still querier", func() (bool, string) {
		var r struct{ Routers []snoop.RouterView }
		if err := d.Show("routers", &r); err != nil {
			return false, err.Error()
		}
		_, ok, seen := member(t, d, g1, h1.Port)
		q := querierOf(t, d, "igmp")
		return ok && q.Self && len(r.Routers) == 1 && r.Routers[0].Port == l.RouterPort, fmt.Sprintf("%v routers %+v querier %+v", seen, r.Routers, q)
	})
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0, l.Router: 20}, caps)
	expectDelivery(t, l, g9, 20, map[string]int{h1.Name: 0, h2.Name: 0, l.Router: 20}, caps)
}

// TestFastLeavePrunesAtOnce: on a --fast-leave port the last host's leave
// prunes at once, with no group-specific query; on another port the leave
// is queried first, and the member kept for the last member query time.
func TestFastLeavePrunesAtOnce(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	caps := captures(t, l, h1.Name, h2.Name)
	// A long last member query time (2 × 4 s): only fast-leave prunes
	// within the waits below.
	d := startDaemon(t, l, "--fast-leave", h1.Port, "--query-interval", "2s", "--query-response-interval", "1s",
		"--last-member-interval", "4s", "--last-member-count", "2", "--log-level", "debug")
	m1 := joinLearnedQuerier(t, l, d, h1, g1)
	m2 := joinLearned(t, l, d, h2, g1)
	for _, c := range caps {
		c.Reset()
	}
	proxy := netip.IPv4Unspecified() // the source of the daemon's group-specific queries
	if err := m1.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "h1 pruned at once", func() (bool, string) {
		_, ok, seen := member(t, d, g1, h1.Port)
		return !ok, seen
	})
	if n := caps[h1.Name].IGMPFrom(proxy); n != 0 {
		t.Errorf("the fast-leave port was sent %d queries from %v", n, proxy)
	}
	if err := m2.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "h2's leave queried", func() (bool, string) {
		n := caps[h2.Name].IGMPFrom(proxy)
		return n > 0, fmt.Sprintf("%d queries from %v", n, proxy)
	})
	if _, ok, seen := member(t, d, g1, h2.Port); !ok {
		t.Errorf("h2 pruned before its last member query time: %s", seen)
	}
}
