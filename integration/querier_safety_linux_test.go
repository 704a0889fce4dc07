package integration

import (
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// TestForgedProxyQueriesDoNotSilenceTheQuerier pins the issue "One forged
// query silences the LAN's querier": a query from 0.0.0.0 (a proxy query,
// RFC 4541 2.1.1) must never reach a router port or a port where a querier
// was heard, though host ports still get it. The router's Linux bridge
// querier, like many routers, stays silent while it hears any querier, and
// 0.0.0.0 is lower than every address: delivered to it, one forged query
// keeps the LAN's only querier quiet for its other-querier-present
// interval (here 2 × 2 s + 0.5 s), the daemon loses the querier and the
// switch bridge floods every group to every port.
//
// Host h3 forges, from 0.0.0.0, an IGMPv3 general query, an IGMPv3
// group-specific query for the joined group and an IGMPv2 general query,
// once per query interval as a proxy querier would, while the sender
// streams the group for three query intervals. Over that window the router
// must go on querying (h2 sees at least 2 of its queries), the router
// namespace must see none of the forged queries, non-member h2 none of the
// stream, member h1 the stream, and the daemon must keep naming the router
// as its IGMP querier; h2 must see every forged query (dropping them
// outright would be wrong too).
//
// Checked against the broken behaviour: on the code of the issue (the
// daemon floods proxy queries to every port, rt0 included) the router
// namespace sees the forged queries, the router sends no query in the
// window, h2 gets the flooded stream and the daemon logs querier_lost and
// shows no querier.
func TestForgedProxyQueriesDoNotSilenceTheQuerier(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, l.Router)
	d := startDaemon(t, l, fastTimers...)
	joinLearnedQuerier(t, l, d, h1, g1)
	waitFor(t, 10*time.Second, "the router is the querier", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return q.Present && !q.Self && q.Address == l.RouterAddr.String(), fmt.Sprintf("%+v", q)
	})
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier
	// Before the forgery the LAN is pruned: the failures below are its doing.
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0, l.Router: 20}, caps)
	if t.Failed() {
		t.FailNow()
	}

	conn, mac, err := lab.RawSocket(h3.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var forged [][]byte
	for _, q := range []wire.Query{
		{Version: 3, MaxResp: time.Second, QRV: 2, QueryInterval: 2 * time.Second},
		{Version: 3, Group: g1, MaxResp: time.Second, QRV: 2, QueryInterval: 2 * time.Second},
		{Version: 2, MaxResp: time.Second},
	} {
		q.SrcMAC, q.Src = mac, netip.IPv4Unspecified()
		f, err := wire.EncodeQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		forged = append(forged, f)
	}

	const (
		qi     = 2 * time.Second // the lab router's query interval
		window = 3 * qi
		gap    = 50 * time.Millisecond
		stream = int(window / gap)
	)
	router, unspecified := l.RouterAddr, netip.IPv4Unspecified()
	for _, c := range caps {
		c.Reset()
	}
	sent := make(chan error, 1)
	go func() { sent <- l.Send(g1, stream, gap) }()
	start := time.Now()
	forgedSent, rounds := 0, 0
	var lost string // the first time the daemon did not name the router
	for tick := 0; tick < 100 && time.Since(start) < window; tick++ {
		if time.Since(start) >= time.Duration(rounds)*qi {
			rounds++
			for _, f := range forged {
				if _, err := conn.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr(f[:6])}); err != nil {
					t.Fatalf("forging from %s: %v", h3.Name, err)
				}
				forgedSent++
			}
		}
		if q := querierOf(t, d, "igmp"); lost == "" && (!q.Present || q.Self || q.Address != l.RouterAddr.String()) {
			lost = fmt.Sprintf("%.1fs after the first forgery: %+v", time.Since(start).Seconds(), q)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(window + 5*time.Second):
		t.Fatal("the sender did not finish")
	}
	time.Sleep(300 * time.Millisecond) // let the last frames cross the veths

	if n := caps[h2.Name].IGMPFrom(router); n < 2 {
		t.Errorf("(a) the router sent %d queries in %v after the forgery (h2 saw them), want at least 2: it fell silent", n, window)
	}
	if n := caps[l.Router].IGMPFrom(unspecified); n != 0 {
		t.Errorf("(b) %d of the %d forged queries from 0.0.0.0 reached the router", n, forgedSent)
	}
	if n := caps[h2.Name].Count(g1); n != 0 {
		t.Errorf("(c) non-member h2 received %d of %d frames of %v: the bridge floods", n, stream, g1)
	}
	if n := caps[h1.Name].Count(g1); n < stream*9/10 {
		t.Errorf("(d) member h1 received %d of %d frames of %v", n, stream, g1)
	}
	if n := caps[h2.Name].IGMPFrom(unspecified); n < forgedSent {
		t.Errorf("(e) host h2 received %d of the %d forged queries: host ports must still get them", n, forgedSent)
	}
	if lost != "" {
		t.Errorf("(f) the daemon's IGMP querier is no longer the router at %s, %s", l.RouterAddr.String(), lost)
	}
	if q := querierOf(t, d, "igmp"); !q.Present || q.Self || q.Address != l.RouterAddr.String() {
		t.Errorf("(f) after the window the daemon's IGMP querier is %+v, want the router at %s", q, l.RouterAddr.String())
	}
	if strings.Contains(d.Log(), "querier_lost") {
		t.Errorf("the daemon logged querier_lost")
	}
}

// Deterministic link-local addresses for TestMLDQueriesOfASnooperDoNotWinElections:
// the switch's bridges get low ones, the router's bridge a high one, so
// any query from a snooping bridge would beat the router in an election.
const (
	qsBr0MAC    = "02:00:00:00:00:01" // fe80::ff:fe00:1
	qsBr2MAC    = "02:00:00:00:00:02" // fe80::ff:fe00:2
	qsRouterMAC = "fe:ff:ff:ff:ff:fe" // fe80::fcff:ffff:feff:fffe
)

var (
	qsBr0LL    = netip.MustParseAddr("fe80::ff:fe00:1")
	qsRouterLL = netip.MustParseAddr("fe80::fcff:ffff:feff:fffe")
)

// TestMLDQueriesOfASnooperDoNotWinElections pins the issue "The daemon's
// MLD last-listener queries take part in elections": a daemon that is not
// the querier answers an MLD Done with group-specific queries from its
// bridge's link-local address, and a second snooping switch in series
// elected that address as its querier whenever it was lower than the real
// querier's. No query a daemon sends while another querier is elected may
// make that querier, or another igmpsnoop, change its elected querier.
//
// Two bridges in series in the switch namespace: br0 (the lab's: router,
// sender, h1) and br2, linked by a veth pair up2 (a port of br0) and dn2
// (a port of br2), with host b2h1 on br2; a daemon on each. br0's
// link-local is fe80::ff:fe00:1, the router's fe80::fcff:ffff:feff:fffe
// (checked with `ip -6 addr` and on the wire: the router's MLD queries
// come from it). b2h1 joins ff0e::1:1 and leaves, three times a second
// apart; each leave reaches br0's daemon through br2's daemon (relayed to
// its router port dn2), and br0's daemon queries it out of up2. Both
// daemons must keep naming the router as the MLD querier throughout and
// after, and the router's queries must keep reaching b2h1.
//
// Checked against the broken behaviour: on the code of the issue br2's
// daemon elects br0's fe80::ff:fe00:1 at the first leave and keeps it.
func TestMLDQueriesOfASnooperDoNotWinElections(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1, IPv6: true})
	b2h1 := qsSecondBridge(t, l)
	// Pin the link-local addresses before any daemon starts: a new MAC on
	// an up bridge keeps its old link-local, so down, set, up, no DAD.
	qsSetMAC(t, l, l.Switch, l.Bridge, qsBr0MAC)
	qsSetMAC(t, l, l.Switch, "br2", qsBr2MAC)
	qsSetMAC(t, l, l.Router, "rbr", qsRouterMAC)
	qsWaitLinkLocal(t, l, l.Switch, l.Bridge, qsBr0LL)
	qsWaitLinkLocal(t, l, l.Router, "rbr", qsRouterLL)
	qsWaitLinkLocal(t, l, l.Switch, "br2", netip.MustParseAddr("fe80::ff:fe00:2"))

	mld := sniffer(t, l, b2h1.Name)
	waitFor(t, 10*time.Second, "the router's MLD queries from its link-local reach b2h1", func() (bool, string) {
		queries := qsMLDQueries(mld)
		return queries[qsRouterLL] > 0, fmt.Sprintf("MLD queries by source: %v", queries)
	})
	d0 := startDaemon(t, l, fastTimers...)
	d2 := startDaemon(t, qsOnBridge(l, "br2"), fastTimers...)
	for _, d := range []*lab.Daemon{d0, d2} {
		waitFor(t, 10*time.Second, "the router is the MLD querier", func() (bool, string) {
			q := querierOf(t, d, "mld")
			return q.Present && !q.Self && q.Address == qsRouterLL.String(), fmt.Sprintf("%+v", q)
		})
	}

	g := netip.MustParseAddr("ff0e::1:1")
	// Sample both daemons' MLD querier from the first leave on.
	var (
		mu       sync.Mutex
		elected  []string
		stopc    = make(chan struct{})
		sampling = make(chan struct{})
	)
	sample := func() {
		for i, d := range []*lab.Daemon{d0, d2} {
			var qs struct{ Queriers []snoop.QuerierView }
			if err := d.Show("querier", &qs); err != nil {
				continue
			}
			for _, q := range qs.Queriers {
				if q.Protocol == "mld" && q.VLAN == 0 && (!q.Present || q.Self || q.Address != qsRouterLL.String()) {
					mu.Lock()
					elected = append(elected, fmt.Sprintf("%s: %+v", []string{"br0", "br2"}[i], q))
					mu.Unlock()
				}
			}
		}
	}
	mldBefore := 0
	for i := 0; i < 3; i++ {
		m, err := l.Join(b2h1, g)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, fmt.Sprintf("join %d learned on b2h1 (br2) and up2 (br0)", i+1), func() (bool, string) {
			_, ok2, seen2 := member(t, d2, g, b2h1.Port)
			_, ok0, seen0 := member(t, d0, g, "up2")
			return ok0 && ok2, "br2 " + seen2 + " br0 " + seen0
		})
		if err := m.Leave(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			mldBefore = qsMLDQueries(mld)[qsRouterLL]
			go func() {
				defer close(sampling)
				for j := 0; j < 200; j++ {
					select {
					case <-stopc:
						return
					case <-time.After(100 * time.Millisecond):
					}
					sample()
				}
			}()
		}
		time.Sleep(time.Second)
	}
	// br0's daemon queried the leaves: the test means something.
	waitFor(t, 5*time.Second, "br0's daemon pruned up2 (it queried the leaves)", func() (bool, string) {
		_, ok, seen := member(t, d0, g, "up2")
		return !ok, seen
	})
	time.Sleep(2 * time.Second) // one more query interval
	close(stopc)
	<-sampling
	sample()
	if mu.Lock(); len(elected) > 0 {
		t.Errorf("after the leaves a daemon no longer named the router (%v) as MLD querier %d times; first: %s; last: %s",
			qsRouterLL, len(elected), elected[0], elected[len(elected)-1])
	}
	mu.Unlock()
	for name, d := range map[string]*lab.Daemon{"br0": d0, "br2": d2} {
		if q := querierOf(t, d, "mld"); !q.Present || q.Self || q.Address != qsRouterLL.String() {
			t.Errorf("%s's daemon: MLD querier %+v after the leaves, want the router at %v", name, q, qsRouterLL)
		}
	}
	if queries := qsMLDQueries(mld); queries[qsRouterLL]-mldBefore < 2 {
		t.Errorf("b2h1 saw %d MLD queries from the router since the first leave, want at least 2; MLD queries by source: %v", queries[qsRouterLL]-mldBefore, queries)
	}
}

// qsOnBridge returns a copy of the lab whose snooping bridge is br, for
// starting a daemon on another bridge of the switch namespace.
func qsOnBridge(l *lab.Lab, br string) *lab.Lab {
	c := *l
	c.Bridge = br
	return &c
}

// qsSecondBridge builds br2 in the switch namespace, in series with br0
// through the veth pair up2 (br0) - dn2 (br2), and one host on it (port
// b2h1) addressed in 10.77.0.0/24 and fd77::/64.
func qsSecondBridge(t *testing.T, l *lab.Lab) lab.Host {
	t.Helper()
	prefix := strings.TrimSuffix(l.Switch, "-sw")
	h := lab.Host{Name: prefix + "-b2h1", Port: "b2h1", Addr: netip.MustParseAddr("10.77.0.61"), Addr6: netip.MustParseAddr("fd77::61")}
	if err := l.AddNetns(h.Name); err != nil {
		t.Fatal(err)
	}
	if err := ip("link", "add", h.Port, "netns", l.Switch, "type", "veth", "peer", "name", "eth0", "netns", h.Name); err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]string{
		{l.Switch, "ip", "link", "add", "br2", "type", "bridge", "mcast_snooping", "1"},
		{l.Switch, "ip", "link", "add", "up2", "type", "veth", "peer", "name", "dn2"},
		{l.Switch, "ip", "link", "set", "up2", "master", l.Bridge},
		{l.Switch, "ip", "link", "set", "dn2", "master", "br2"},
		{l.Switch, "ip", "link", "set", h.Port, "master", "br2"},
		{l.Switch, "ip", "link", "set", "up2", "up"},
		{l.Switch, "ip", "link", "set", "dn2", "up"},
		{l.Switch, "ip", "link", "set", h.Port, "up"},
		{h.Name, "ip", "link", "set", "eth0", "up"},
		{h.Name, "ip", "addr", "add", h.Addr.String() + "/24", "dev", "eth0"},
		{h.Name, "ip", "addr", "add", h.Addr6.String() + "/64", "dev", "eth0", "nodad"},
	} {
		if err := l.Run(s[0], s[1], s[2:]...); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// qsSetMAC gives bridge dev in namespace ns the MAC mac and brings it up
// with its new EUI-64 link-local address, without DAD.
func qsSetMAC(t *testing.T, l *lab.Lab, ns, dev, mac string) {
	t.Helper()
	for _, s := range [][]string{
		{"sysctl", "-qw", "net.ipv6.conf." + dev + ".dad_transmits=0"},
		{"ip", "link", "set", dev, "down"},
		{"ip", "link", "set", dev, "address", mac},
		{"ip", "link", "set", dev, "up"},
	} {
		if err := l.Run(ns, s[0], s[1:]...); err != nil {
			t.Fatal(err)
		}
	}
}

// qsWaitLinkLocal waits until dev in ns has link-local address want, valid
// (not tentative), and no other link-local one.
func qsWaitLinkLocal(t *testing.T, l *lab.Lab, ns, dev string, want netip.Addr) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%s in %s has link-local %v", dev, ns, want), func() (bool, string) {
		out, err := l.Exec(ns, "ip", "-6", "addr", "show", "dev", dev, "scope", "link")
		if err != nil {
			return false, err.Error()
		}
		lines := 0
		for _, ln := range strings.Split(out, "\n") {
			if strings.Contains(ln, "inet6 ") {
				lines++
			}
		}
		return lines == 1 && strings.Contains(out, "inet6 "+want.String()+"/64") && !strings.Contains(out, "tentative"), out
	})
}

// qsMLDQueries counts the MLD queries (ICMPv6 type 130) among the frames
// s recorded, by IPv6 source.
func qsMLDQueries(s *lab.Sniffer) map[netip.Addr]int {
	n := map[netip.Addr]int{}
	for _, f := range s.Frames() {
		if h, p := frameICMPv6(f.Data); h != nil && p[0] == 130 {
			n[netip.AddrFrom16([16]byte(h[8:24]))]++
		}
	}
	return n
}
