package snoop

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// The group-specific and group-and-source-specific queries a leave or a
// block starts (RFC 3376 §6.6.3, RFC 3810 §7.6.3): how many, when, and
// with which S flag.

// RFC 3376 §6.6.3.1: the S flag of a group-specific query is set only
// while the group timer is above the last member query time, that is
// after a report answered; the first query, and retransmissions nobody
// answered, go with S clear.
func TestGroupQueriesCarrySOnlyOnceAnswered(t *testing.T) {
	for _, tc := range []struct {
		name     string
		answered bool
		want     []bool // S flag of each query
	}{
		{"unanswered", false, []bool{false, false}},
		{"answered after the first", true, []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
			acts := slices.Clone(e.HandleMessage(t0.Add(time.Second), hostA, leave(grp), rawFrame))
			if tc.answered {
				r := report(2, grp)
				r.Src = hostIP2
				e.HandleMessage(t0.Add(1500*time.Millisecond), hostA, r, rawFrame)
			}
			acts = append(acts, run(e, t0.Add(time.Minute))...)
			var s []bool
			for _, q := range queries(t, acts) {
				s = append(s, q.SuppressRouterSide)
			}
			if !slices.Equal(s, tc.want) {
				t.Fatalf("S flags %v, want %v", s, tc.want)
			}
		})
	}
}

// RFC 3376 §6.6.3.2 and §8.9: a block is asked about Last Member Query
// Count times, Last Member Query Interval apart; unanswered, the source
// goes at the Last Member Query Time and the others stay.
func TestBlockedSourceQueriedLastMemberQueryCountTimes(t *testing.T) {
	for _, lmqc := range []int{1, 2, 3} {
		t.Run("LMQC "+strconv.Itoa(lmqc), func(t *testing.T) {
			e := newEngine(t, func(c *Config) { c.LastMemberQueryCount = lmqc })
			e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame)
			t1 := t0.Add(time.Second)
			acts := slices.Clone(e.HandleMessage(t1, hostA, v3(rec(wire.BlockOldSources, addr(1))), rawFrame))
			lmqt := time.Duration(lmqc) * time.Second
			acts = append(acts, run(e, t1.Add(lmqt-time.Millisecond))...)
			if req, _ := sourceState(e, hostA, grp, addr(1)); !req {
				t.Fatal("source 1 gone before the last member query time")
			}
			acts = append(acts, run(e, t1.Add(time.Minute))...)
			qs := queries(t, acts)
			if len(qs) != lmqc {
				t.Fatalf("%d queries, want %d: %v", len(qs), lmqc, qs)
			}
			for _, q := range qs {
				if !slices.Equal(q.Sources, addrs(1)) || q.SuppressRouterSide {
					t.Fatalf("query %v, want Q(G,{1}) with S clear", q)
				}
			}
			if req, _ := sourceState(e, hostA, grp, addr(1)); req {
				t.Fatal("unanswered source 1 still forwarded")
			}
			if req, _ := sourceState(e, hostA, grp, addr(2)); !req {
				t.Fatal("source 2, never blocked, went too")
			}
		})
	}
}

// RFC 3376 §6.6.3.2: when every queried source has been renewed by a
// report, a retransmission is the one query with S set; the half without
// S is empty and not sent (an empty source list would make it a
// group-specific query).
func TestRetransmissionOfRenewedSourcesOnly(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame)
	e.HandleMessage(t0.Add(time.Second), hostA, v3(rec(wire.BlockOldSources, addr(1))), rawFrame)
	e.HandleMessage(t0.Add(1500*time.Millisecond), hostA, v3From(hostIP2, rec(wire.ModeIsInclude, addr(1))), rawFrame)
	qs := queries(t, run(e, t0.Add(2*time.Second)))
	if len(qs) != 1 || !qs[0].SuppressRouterSide || !slices.Equal(qs[0].Sources, addrs(1)) {
		t.Fatalf("retransmission %v, want only Q(G,{1}) with S set", qs)
	}
}

// With nothing to ask (under an IGMPv2 querier no query can name a
// source), a BLOCK starts no queries and is no leave: the group is not
// shown leaving, and when it ages out it expires.
func TestBlockWithNothingToAskIsNoLeave(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 2), rawFrame)
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addr(1))), rawFrame)
	acts := e.HandleMessage(t0.Add(time.Second), hostA, v3(rec(wire.BlockOldSources, addr(1))), rawFrame)
	if qs := queries(t, acts); len(qs) != 0 {
		t.Fatalf("queries %v, want none", qs)
	}
	if g := e.Groups(t0.Add(time.Second)); len(g) != 1 || g[0].Leaving {
		t.Fatalf("groups %+v, want one, not leaving", g)
	}
	acts = run(e, t0.Add(DefaultConfig().GroupMembershipInterval()))
	if ev := events(acts); isMember(e, hostA, grp) || !slices.Contains(ev, EventExpire) || slices.Contains(ev, EventLeave) {
		t.Fatalf("events %v, want the membership to expire, not leave", ev)
	}
}
