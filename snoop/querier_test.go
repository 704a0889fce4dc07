package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

func querierEngine(t *testing.T, addr4 string) *Engine {
	return newEngine(t, func(c *Config) {
		c.Querier = true
		if addr4 != "" {
			c.QuerierAddr4 = netip.MustParseAddr(addr4)
		}
	})
}

// generalQueries decodes the general queries sent into the bridge.
func generalQueries(t *testing.T, as []Action, v6 bool) []*wire.Message {
	t.Helper()
	var out []*wire.Message
	for _, a := range kinds(as, ActTransmit) {
		if a.Port != ThroughBridge {
			continue
		}
		m, err := wire.Decode(a.Frame)
		if err != nil {
			t.Fatalf("our query does not decode: %v", err)
		}
		if m.IsGeneralQuery() && m.Src.Is6() == v6 {
			out = append(out, m)
		}
	}
	return out
}

func TestQuerierStartupAndGeneralQueries(t *testing.T) {
	e := querierEngine(t, "10.77.0.5")
	acts := e.Start(t0)
	q4, q6 := generalQueries(t, acts, false), generalQueries(t, acts, true)
	if len(q4) != 1 || q4[0].Src != netip.MustParseAddr("10.77.0.5") || q4[0].Version != 3 || q4[0].Dst != netip.MustParseAddr("224.0.0.1") {
		t.Fatalf("IGMP startup query = %v", q4)
	}
	if len(q6) != 1 || q6[0].Src != self6 || q6[0].Version != 2 {
		t.Fatalf("MLD startup query = %v", q6)
	}
	if !slices.Contains(events(acts), EventQuerierSelf) || !e.QuerierPresent() {
		t.Fatal("not querier after Start")
	}
	// Startup: robustness (2) queries QI/4 apart, then every QI.
	var at []time.Duration
	for i := 0; i < 100; i++ {
		next, ok := e.NextDeadline()
		if !ok || next.After(t0.Add(300*time.Second)) {
			break
		}
		if len(generalQueries(t, e.Tick(next), false)) == 1 {
			at = append(at, next.Sub(t0))
		}
	}
	want := []time.Duration{31250 * time.Millisecond, 156250 * time.Millisecond, 281250 * time.Millisecond}
	if !slices.Equal(at, want) {
		t.Fatalf("IGMP queries after the first at %v, want %v (second startup query at QI/4, then every QI)", at, want)
	}
	q := e.Queriers(t0)
	if !q[0].Present || !q[0].Self || q[0].Address != "10.77.0.5" || q[0].Protocol != "igmp" {
		t.Fatalf("querier view = %+v", q[0])
	}
}

func TestQuerierElectionAndTakeover(t *testing.T) {
	e := querierEngine(t, "10.77.0.5")
	e.Start(t0)
	// A higher address does not stop us.
	e.HandleMessage(t0.Add(time.Second), uplink, query(netip.MustParseAddr("10.77.0.9"), netip.IPv4Unspecified(), 3), rawFrame)
	if q := e.Queriers(t0)[0]; !q.Self {
		t.Fatalf("a higher address took over: %+v", q)
	}
	// 0.0.0.0 never wins (RFC 4541 C5), and is flooded to the other host
	// ports, not to the router port where a querier was heard: it would
	// win the election there.
	acts := e.HandleMessage(t0.Add(time.Second), hostA, query(netip.IPv4Unspecified(), netip.IPv4Unspecified(), 3), rawFrame)
	if q := e.Queriers(t0)[0]; !q.Self {
		t.Fatal("a query from 0.0.0.0 won the election")
	}
	var flooded []int
	for _, a := range kinds(acts, ActTransmit) {
		flooded = append(flooded, a.Port)
	}
	slices.Sort(flooded)
	if !slices.Equal(flooded, []int{hostB}) {
		t.Fatalf("proxy query flooded to %v, want the other host port only", flooded)
	}
	// A lower address takes over: we stop querying.
	t1 := t0.Add(2 * time.Second)
	acts = e.HandleMessage(t1, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	if !slices.Contains(events(acts), EventQuerierHeard) {
		t.Fatalf("events %v, want querier_heard", events(acts))
	}
	if q := e.Queriers(t1)[0]; q.Self || q.Address != "10.77.0.1" {
		t.Fatalf("querier = %+v, want 10.77.0.1", q)
	}
	oqpi := DefaultConfig().OtherQuerierPresentInterval()
	acts = run(e, t1.Add(oqpi-time.Millisecond))
	if n := len(generalQueries(t, acts, false)); n != 0 {
		t.Fatalf("sent %d IGMP general queries while a better querier was present", n)
	}
	// It falls silent: after the other querier present interval we take over.
	acts = run(e, t1.Add(oqpi))
	if n := len(generalQueries(t, acts, false)); n != 1 || !slices.Contains(events(acts), EventQuerierLost) || !slices.Contains(events(acts), EventQuerierSelf) {
		t.Fatalf("takeover: %d queries, events %v", n, events(acts))
	}
}

func TestOlderQuerierLowersOurVersion(t *testing.T) {
	e := querierEngine(t, "10.77.0.5")
	e.Start(t0)
	// An IGMPv2 router with a higher address: not the querier, but present.
	e.HandleMessage(t0.Add(time.Second), uplink, query(netip.MustParseAddr("10.77.0.9"), netip.IPv4Unspecified(), 2), rawFrame)
	acts := run(e, t0.Add(32*time.Second))
	qs := generalQueries(t, acts, false)
	if len(qs) != 1 || qs[0].Version != 2 {
		t.Fatalf("with an IGMPv2 router present we sent %v, want one v2 query", qs)
	}
}

func TestNoMLDQuerierWithoutLinkLocal(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Querier, c.QuerierAddr6 = true, netip.Addr{} })
	acts := e.Start(t0)
	if len(generalQueries(t, acts, true)) != 0 || len(generalQueries(t, acts, false)) != 1 {
		t.Fatal("MLD queries need a link-local source; IGMP ones do not")
	}
}

func TestTimersAdoptedFromQuerier(t *testing.T) {
	e := newEngine(t)
	q := query(routeIP, netip.IPv4Unspecified(), 3)
	q.QRV, q.QueryInterval, q.MaxResp = 3, 125*time.Second, 5*time.Second
	acts := e.HandleMessage(t0, uplink, q, rawFrame)
	if !slices.Contains(events(acts), EventTimersChanged) {
		t.Fatal("no timers_changed event")
	}
	want := 3*125*time.Second + 5*time.Second // longer than the configured 260 s
	if v := e.Queriers(t0)[0]; v.MembershipIntervalMs != want.Milliseconds() || v.Robustness != 3 {
		t.Fatalf("querier view = %+v, want membership interval %v", v, want)
	}
	if got := e.BridgeMembershipInterval(); got != want+e.cfg.MDBRefreshInterval {
		t.Fatalf("bridge membership interval = %v, want %v", got, want+e.cfg.MDBRefreshInterval)
	}
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	run(e, t0.Add(want-time.Millisecond))
	if !isMember(e, hostA, grp) {
		t.Fatal("membership aged by the configured interval, not the querier's")
	}
	run(e, t0.Add(want))
	if isMember(e, hostA, grp) {
		t.Fatal("membership outlived the querier's membership interval")
	}
	// The querier is gone by now: configured timers again.
	if v := e.Queriers(t0.Add(want))[0]; v.Present || v.Robustness != 2 {
		t.Fatalf("after the querier left: %+v", v)
	}
}

func TestQueryWithSFlagDoesNotLowerTimers(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	q := query(routeIP, grp, 3)
	q.SuppressRouterSide = true
	e.HandleMessage(t0.Add(time.Second), uplink, q, rawFrame)
	run(e, t0.Add(10*time.Second))
	if !isMember(e, hostA, grp) {
		t.Fatal("a group-specific query with S set lowered the group timer (RFC 3376 §6.6.1)")
	}
	// Without S: lowered to LMQC × MRT (here 2 × 1 s).
	gsq := query(routeIP, grp, 3)
	gsq.MaxResp = time.Second
	e.HandleMessage(t0.Add(20*time.Second), uplink, gsq, rawFrame)
	run(e, t0.Add(22*time.Second))
	if isMember(e, hostA, grp) {
		t.Fatal("an unanswered group-specific query did not end the membership")
	}
}

func TestMLDQuerierStartsWhenLinkLocalAppears(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Querier, c.QuerierAddr6 = true, netip.Addr{} })
	e.Start(t0)
	acts := e.SetQuerierAddr6(t0.Add(time.Second), self6)
	if qs := generalQueries(t, acts, true); len(qs) != 1 || qs[0].Src != self6 {
		t.Fatalf("MLD queries once the address appeared: %v", qs)
	}
	if acts := e.SetQuerierAddr6(t0.Add(2*time.Second), self6); len(acts) != 0 {
		t.Fatal("the same address again restarted the querier")
	}
}
