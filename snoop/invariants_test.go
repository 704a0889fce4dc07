package snoop

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// invariantEngine holds memberships at the limits (two sources, two
// hosts), an any-source one, and a static one with more sources than a
// learned membership may have.
func invariantEngine(t *testing.T, maxSources, maxHosts int) *Engine {
	t.Helper()
	static := PortPolicy{StaticGroups: []StaticGroup{{Group: grp, Sources: addrs(1, 2, 3)}}}
	e := newEngine(t, withPort("st", static), func(c *Config) { c.MaxSources, c.MaxHosts = maxSources, maxHosts })
	e.PortUp(t0, 7, "st")
	e.HandleMessage(t0, hostA, v3From(hostIP, rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame)
	e.HandleMessage(t0, hostA, v3From(hostIP2, rec(wire.ModeIsInclude, addrs(1)...)), rawFrame)
	e.HandleMessage(t0, hostB, report(2, grp), rawFrame)
	return e
}

// CheckInvariants passes a consistent engine, limits reached but not
// passed included (and no limit at all when they are 0), and names each
// broken invariant: a filter mode, sorted sources, the source and host
// limits of learned memberships, a timer for each, no INCLUDE {}, the
// (S,G) key count, and the timer heap's bound (timerBound, with one item
// of slack).
func TestCheckInvariantsNamesEachBrokenInvariant(t *testing.T) {
	a := func(e *Engine) *fdb.PortGroup { return e.table.Get(grpKey, hostA) }
	fill := func(e *Engine, n int) {
		for len(e.timers) < n {
			e.timers.add(timer{at: e.table.TimeOf(t0), kind: timerGroup, key: fdb.Key{Group: netip.MustParseAddr("239.9.9.9")}})
		}
	}
	for _, tc := range []struct {
		name       string
		maxS, maxH int
		corrupt    func(e *Engine)
		want       string // "" if consistent
	}{
		{"at the limits", 2, 2, func(*Engine) {}, ""},
		{"no limits", 0, 0, func(*Engine) {}, ""},
		{"no filter mode", 2, 2, func(e *Engine) { a(e).Mode = 0 }, "no filter mode"},
		{"unsorted sources", 2, 2, func(e *Engine) { s := a(e).Sources; s[0], s[1] = s[1], s[0] }, "sources not sorted"},
		{"sources over the limit", 2, 2, func(e *Engine) {
			a(e).Sources = append(a(e).Sources, fdb.Source{Addr: addr(3), Expires: a(e).Sources[0].Expires})
		}, "3 sources over the limit 2"},
		{"hosts over the limit", 2, 2, func(e *Engine) {
			a(e).Hosts = append(a(e).Hosts, fdb.Host{Addr: netip.MustParseAddr("10.77.0.13"), Mode: fdb.Exclude})
		}, "3 hosts over the limit 2"},
		{"no timer", 2, 2, func(e *Engine) { a(e).Wake = 0 }, "no timer set"},
		{"INCLUDE {}", 0, 0, func(e *Engine) { a(e).Sources = nil }, "INCLUDE with no sources"},
		{"a source key miscounted", 2, 2, func(e *Engine) { e.srcKeys[srcKey{grpKey, addr(1)}]++ }, "counted 3, installed 2 times"},
		{"a source key missing", 2, 2, func(e *Engine) { delete(e.srcKeys, srcKey{grpKey, addr(2)}) }, "source key count 2, installed sources say 3"},
		{"timer heap one past its bound", 2, 2, func(e *Engine) { fill(e, e.timerBound()+1) }, ""},
		{"timer heap two past its bound", 2, 2, func(e *Engine) { fill(e, e.timerBound()+2) }, "timers, bound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := invariantEngine(t, tc.maxS, tc.maxH)
			tc.corrupt(e)
			err := e.CheckInvariants()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("consistent engine refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// timerBound is four items per live membership, router port and family,
// plus 1024: up to it stale items stay in the heap, past it maybeCompact
// keeps only the live ones.
func TestTimerHeapCompactedOnlyPastItsBound(t *testing.T) {
	e := invariantEngine(t, 2, 2)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame) // a router port
	live := e.table.Len() + len(e.families) + e.table.RouterCount()
	if live != 3+1+1 || e.timerBound() != 4*live+1024 { // memberships, the IGMP family, the router port
		t.Fatalf("%d live items, bound %d, want 5 and 1044", live, e.timerBound())
	}
	stale := timer{at: e.table.TimeOf(t0), kind: timerGroup, key: fdb.Key{Group: netip.MustParseAddr("239.9.9.9")}}
	for len(e.timers) < e.timerBound() {
		e.timers.add(stale)
	}
	e.maybeCompact()
	if n := len(e.timers); n != e.timerBound() {
		t.Fatalf("compacted at the bound: %d timers left", n)
	}
	e.timers.add(stale)
	e.maybeCompact()
	if n := len(e.timers); n > live {
		t.Fatalf("%d timers after compaction, want at most one per live item (%d)", n, live)
	}
	if err := e.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
