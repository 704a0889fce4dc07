package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Explicit host tracking (RFC 4541 §2.1.1 (3), "fast leave" made safe on
// shared ports): a fast-leave port cuts at once what no tracked host
// behind it still wants, and queries instead while a listener it cannot
// track may be there. These tests pin when a host counts.

const fastPort = 5

func hostN(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 77, 1, byte(i)}) }

func fastEngine(t *testing.T, mutate ...func(*Config)) *Engine {
	e := newEngine(t, mutate...)
	e.PortUp(t0, fastPort, "fast")
	return e
}

// leaveAll sends TO_IN {} from each host at at and reports whether the
// group is gone at once, and whether a query went out instead.
func leaveAll(t *testing.T, e *Engine, at time.Time, hosts ...netip.Addr) (gone, queried bool) {
	t.Helper()
	for _, h := range hosts {
		if len(queries(t, e.HandleMessage(at, fastPort, v3From(h, rec(wire.ChangeToInclude)), rawFrame))) > 0 {
			queried = true
		}
	}
	return !isMember(e, fastPort, grp), queried
}

// MaxHosts bounds the hosts tracked per membership; up to it every host
// is tracked, past it the extra one is an untracked listener and the
// port queries rather than cut. MaxHosts 0 means no bound.
func TestTrackedHostsUpToMaxHosts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxHosts int
		hosts    int
		tracked  bool // every host tracked: the last leave cuts at once
	}{
		{"at the limit", 2, 2, true},
		{"one past the limit", 2, 3, false},
		{"no limit", 0, DefaultMaxHosts + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := fastEngine(t, func(c *Config) { c.MaxHosts = tc.maxHosts })
			var hosts []netip.Addr
			for i := range tc.hosts {
				hosts = append(hosts, hostN(i+1))
				e.HandleMessage(t0, fastPort, v3From(hostN(i+1), rec(wire.ModeIsExclude)), rawFrame)
			}
			if err := e.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
			gone, queried := leaveAll(t, e, t0.Add(time.Second), hosts...)
			if gone != tc.tracked || queried == tc.tracked {
				t.Fatalf("after every host left: gone %v, queried %v; want gone %v", gone, queried, tc.tracked)
			}
		})
	}
}

// MaxSources also bounds the sources tracked per host: a host at the
// limit is still tracked, one past it is not (its wishes are no longer
// known). MaxSources 0 means no bound.
func TestTrackedHostSourcesUpToMaxSources(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxSources int
		sources    []netip.Addr
		tracked    bool
	}{
		{"at the limit", 3, addrs(1, 2, 3), true},
		{"no limit", 0, addrs(1, 2, 3, 4, 5), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := fastEngine(t, func(c *Config) { c.MaxSources = tc.maxSources })
			e.HandleMessage(t0, fastPort, v3From(hostIP, rec(wire.ModeIsInclude, tc.sources...)), rawFrame)
			acts := e.HandleMessage(t0.Add(time.Second), fastPort, v3From(hostIP, rec(wire.BlockOldSources, tc.sources...)), rawFrame)
			if gone := !isMember(e, fastPort, grp); gone != tc.tracked || len(queries(t, acts)) > 0 == tc.tracked {
				t.Fatalf("after the host blocked its sources: gone %v, actions %+v", gone, acts)
			}
		})
	}
	t.Run("one past the limit", func(t *testing.T) {
		e := fastEngine(t, func(c *Config) { c.MaxSources = 3 })
		e.HandleMessage(t0, fastPort, v3From(hostIP, rec(wire.ModeIsExclude, addrs(1, 2, 3, 4)...)), rawFrame)
		if pg := e.table.Get(grpKey, fastPort); pg.UntrackedUntil() <= e.table.TimeOf(t0) {
			t.Fatal("a host with more sources than the limit is still trusted for fast leave")
		}
	})
}

// A host's source list is a set: ALLOW of a source it already asked for
// adds nothing, so one BLOCK ends the wish, whichever place the source
// has in the list.
func TestHostSourceListIsASet(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allow   []netip.Addr
		block   netip.Addr
		install []netip.Addr // INCLUDE list once the block took effect
	}{
		{"first source asked for again, then blocked", addrs(1), addr(1), addrs(2)},
		{"last source asked for again, then blocked", addrs(2), addr(2), addrs(1)},
		{"first source blocked", nil, addr(1), addrs(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := fastEngine(t)
			e.HandleMessage(t0, fastPort, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame)
			if tc.allow != nil {
				e.HandleMessage(t0, fastPort, v3(rec(wire.AllowNewSources, tc.allow...)), rawFrame)
			}
			acts := e.HandleMessage(t0.Add(time.Second), fastPort, v3(rec(wire.BlockOldSources, tc.block)), rawFrame)
			if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Mode != fdb.Include || !slices.Equal(in[0].Sources, tc.install) {
				t.Fatalf("installs %+v, want INCLUDE %v at once", in, tc.install)
			}
		})
	}
}

// A host counts for its membership interval (RFC 3376 §8.4) and not at
// its end, as timers run out at their deadline: a host that reported at
// t0, and a listener that could not be tracked, no longer hold the group
// at t0 + GMI.
func TestHostsCountUntilTheirMembershipInterval(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	for _, tc := range []struct {
		name  string
		first netip.Addr // reports at t0
	}{
		{"tracked host", hostIP2},
		{"untracked listener", netip.IPv4Unspecified()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, at := range []time.Duration{gmi - time.Millisecond, gmi} {
				e := fastEngine(t)
				e.HandleMessage(t0, fastPort, v3From(tc.first, rec(wire.ModeIsExclude)), rawFrame)
				e.HandleMessage(t0.Add(10*time.Second), fastPort, v3From(hostIP, rec(wire.ModeIsExclude)), rawFrame)
				gone, _ := leaveAll(t, e, t0.Add(at), hostIP)
				if want := at == gmi; gone != want {
					t.Fatalf("leave at %v: group gone at once %v, want %v", at, gone, want)
				}
			}
		})
	}
}
