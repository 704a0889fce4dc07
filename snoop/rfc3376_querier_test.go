package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Querier-side rules of RFC 3376 §6.6 and §7.3.1 (RFC 3810 §7.6, §8.2).

// RFC 3376 §7.3.1 and §8.12 (RFC 3810 §8.2.1, §9.13): while an older
// querier is present we query in its version, and go back to ours when
// the Older Version Querier Present Timeout (RV × QI + QRI) has passed
// since its last query. The oldest version present wins.
func TestOlderQuerierPresentTimeoutLowersOurVersion(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	t1 := t0.Add(time.Second)
	v1 := func() *wire.Message {
		q := query(netip.MustParseAddr("10.77.0.9"), netip.IPv4Unspecified(), 1)
		q.MaxResp = 10 * time.Second
		return q
	}
	v2 := func() *wire.Message { return query(netip.MustParseAddr("10.77.0.9"), netip.IPv4Unspecified(), 2) }
	mldV1 := func() *wire.Message {
		return mldMsg(wire.KindQuery, 1, netip.MustParseAddr("fe80::f00"), netip.IPv6Unspecified())
	}
	for _, tc := range []struct {
		name    string
		heard   []*wire.Message // at t1, in order
		v6      bool
		older   int // our version while they are present
		current int // and after
	}{
		{"IGMPv1 querier", []*wire.Message{v1()}, false, 1, 3},
		{"IGMPv2 querier", []*wire.Message{v2()}, false, 2, 3},
		{"IGMPv1 and IGMPv2 queriers", []*wire.Message{v2(), v1()}, false, 1, 3},
		{"MLDv1 querier", []*wire.Message{mldV1()}, true, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := querierEngine(t, "10.77.0.5")
			e.cfg.QuerierAddr6 = netip.MustParseAddr("fe80::1") // lower than the MLD querier's: we stay querier
			e.Start(t0)
			for _, m := range tc.heard {
				e.HandleMessage(t1, uplink, m, rawFrame)
			}
			version := func(at time.Time) int {
				for _, q := range e.Queriers(at) {
					if q.Protocol == protoName(tc.v6) && q.VLAN == 0 {
						if !q.Self {
							t.Fatalf("querier view %+v: we should still be the querier", q)
						}
						return q.Version
					}
				}
				t.Fatal("no querier view")
				return 0
			}
			if v := version(t1.Add(gmi - time.Millisecond)); v != tc.older {
				t.Fatalf("version 1 ms before the timeout = %d, want %d", v, tc.older)
			}
			if v := version(t1.Add(gmi)); v != tc.current {
				t.Fatalf("version at the timeout = %d, want %d", v, tc.current)
			}
			// The queries we send say so too.
			qs := generalQueries(t, run(e, t1.Add(gmi-time.Millisecond)), tc.v6)
			if len(qs) == 0 || qs[len(qs)-1].Version != tc.older {
				t.Fatalf("general queries while the older querier is present: %v, want version %d", qs, tc.older)
			}
		})
	}
}

// RFC 3376 §4.1.6, §4.1.7 and §8 (RFC 3810 §9): a non-querier takes the
// querier's QRV, QQI and Max Resp Time field by field, saying so once
// per change (timers_changed); a field the query leaves 0 means the
// configured value (an MRC of 0 would leave hosts no time to answer).
func TestQuerierTimersAdoptedFieldByField(t *testing.T) {
	def := DefaultConfig()
	q := func(qrv uint8, qi, mrc time.Duration) *wire.Message {
		m := query(routeIP, netip.IPv4Unspecified(), 3)
		m.QRV, m.QueryInterval, m.MaxResp = qrv, qi, mrc
		return m
	}
	for _, tc := range []struct {
		name    string
		msg     *wire.Message
		r       int
		qi, qri time.Duration
		changed bool
	}{
		{"nothing new", q(2, 125*time.Second, 10*time.Second), 2, def.QueryInterval, def.QueryResponseInterval, false},
		{"robustness only", q(3, 125*time.Second, 10*time.Second), 3, def.QueryInterval, def.QueryResponseInterval, true},
		{"query interval only", q(2, 60*time.Second, 10*time.Second), 2, 60 * time.Second, def.QueryResponseInterval, true},
		{"response time only", q(2, 125*time.Second, 4*time.Second), 2, def.QueryInterval, 4 * time.Second, true},
		{"MRC 0 keeps the configured response time", q(2, 125*time.Second, 0), 2, def.QueryInterval, def.QueryResponseInterval, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			acts := e.HandleMessage(t0, uplink, tc.msg, rawFrame)
			if got := slices.Contains(events(acts), EventTimersChanged); got != tc.changed {
				t.Fatalf("timers_changed %v, want %v", got, tc.changed)
			}
			v := e.Queriers(t0)[0]
			if v.Robustness != tc.r || v.QueryIntervalMs != tc.qi.Milliseconds() || v.QueryResponseMs != tc.qri.Milliseconds() {
				t.Fatalf("timers in force %+v, want %d, %v, %v", v, tc.r, tc.qi, tc.qri)
			}
			if acts := e.HandleMessage(t0.Add(time.Second), uplink, tc.msg, rawFrame); slices.Contains(events(acts), EventTimersChanged) {
				t.Fatal("the same timers again said timers_changed")
			}
		})
	}
}

// A response time an older version can carry is sent as it is: IGMPv2's
// Max Resp Time reaches 25.5 s (RFC 2236 §2.2), so a 25.5 s query
// interval response is neither cut nor reported (query_clamped).
func TestResponseTimeAtTheVersionsLimitIsNotClamped(t *testing.T) {
	e := newEngine(t, func(c *Config) {
		c.Querier, c.QuerierAddr4, c.IGMPVersion = true, netip.MustParseAddr("10.77.0.5"), 2
		c.QueryResponseInterval = 25500 * time.Millisecond
	})
	acts := e.Start(t0)
	if qs := generalQueries(t, acts, false); len(qs) != 1 || qs[0].Version != 2 || qs[0].MaxResp != 25500*time.Millisecond {
		t.Fatalf("general query %v, want IGMPv2 with max response 25.5 s", qs)
	}
	if slices.Contains(events(acts), EventQueryClamped) {
		t.Fatal("a response time the version carries was reported clamped")
	}
}

// RFC 3376 §7.3.1: each time an older querier lowers our version, a
// response time that version cannot carry is cut, and said once; back
// in our own version, the next drop is news again.
func TestEachDropToAnOlderVersionReportsTheClamp(t *testing.T) {
	e := newEngine(t, func(c *Config) {
		c.Querier, c.QuerierAddr4 = true, netip.MustParseAddr("10.77.0.5")
		c.QueryResponseInterval = 30 * time.Second
	})
	older := query(netip.MustParseAddr("10.77.0.9"), netip.IPv4Unspecified(), 2)
	e.Start(t0)
	e.HandleMessage(t0.Add(time.Second), uplink, older, rawFrame)
	// v2 queries, then v3 once the v2 querier is gone (RV × QI + QRI =
	// 2 × 125 s + 30.4 s, the QRI as our MRC advertises it, after t0+1s).
	acts := run(e, t0.Add(410*time.Second))
	var versions []int
	for _, q := range generalQueries(t, acts, false) {
		versions = append(versions, q.Version)
	}
	if !slices.Equal(versions, []int{2, 2, 2, 3}) {
		t.Fatalf("general query versions %v, want 2, 2, 2, 3", versions)
	}
	e.HandleMessage(t0.Add(410*time.Second), uplink, older, rawFrame)
	acts = append(acts, run(e, t0.Add(540*time.Second))...)
	n := 0
	for _, k := range events(acts) {
		if k == EventQueryClamped {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d query_clamped events, want one per drop to IGMPv2 (2)", n)
	}
}
