package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// Engine.Adopt takes over an MDB entry of an earlier run for the kernel's
// remaining time, at most one membership interval; a remaining time of 0
// or less (unknown) counts as a whole interval.
func TestAdoptLivesForTheKernelsRemainingTime(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	for _, tc := range []struct {
		name      string
		remaining time.Duration
		lives     time.Duration
	}{
		{"30 s left", 30 * time.Second, 30 * time.Second},
		{"1 ms left", time.Millisecond, time.Millisecond},
		{"unknown (0)", 0, gmi},
		{"negative", -time.Second, gmi},
		{"exactly one interval", gmi, gmi},
		{"longer than one interval", gmi + time.Hour, gmi},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.Adopt(t0, hostA, grpKey, fdb.Exclude, nil, tc.remaining)
			run(e, t0.Add(tc.lives-time.Millisecond))
			if !isMember(e, hostA, grp) {
				t.Fatalf("adopted entry gone before %v", tc.lives)
			}
			run(e, t0.Add(tc.lives))
			if isMember(e, hostA, grp) {
				t.Fatalf("adopted entry still there at %v", tc.lives)
			}
		})
	}
}

// An adopted entry keeps what the kernel held: INCLUDE with its sources,
// EXCLUDE with its excluded ones, and an INCLUDE entry without sources,
// which cannot be a membership (RFC 3376 §6.2.1: INCLUDE {} is none), as
// any-source: a superset loses no traffic.
func TestAdoptKeepsTheKernelsFilter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    fdb.FilterMode
		sources []netip.Addr
		want    string // the view's mode
		rows    int
	}{
		{"INCLUDE {1,2}", fdb.Include, addrs(1, 2), "include", 2},
		{"EXCLUDE {1}", fdb.Exclude, addrs(1), "exclude", 1},
		{"INCLUDE {}", fdb.Include, nil, "exclude", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.Adopt(t0, hostA, grpKey, tc.mode, tc.sources, time.Minute)
			rows := e.Groups(t0)
			if len(rows) != tc.rows || rows[0].Mode != tc.want || rows[0].Version != 0 {
				t.Fatalf("rows %+v, want %d %s row(s), version unknown (0)", rows, tc.rows, tc.want)
			}
			if tc.mode == fdb.Exclude && !slices.Equal(rows[0].Excluded, []string{addr(1).String()}) {
				t.Fatalf("excluded %v, want [10.0.0.1]", rows[0].Excluded)
			}
			if err := e.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An adopted INCLUDE entry's sources are (S,G) keys in the kernel: they
// count toward the key limit (mcast_hash_max), and adopting the entry
// again with other sources replaces them rather than adding to them.
func TestAdoptCountsTheEntrysSourceKeys(t *testing.T) {
	other := fdb.Key{Group: netip.MustParseAddr("239.9.9.9")}
	e := newEngine(t, func(c *Config) { c.Limits.MaxKeys = 3 })
	e.Adopt(t0, hostA, grpKey, fdb.Include, addrs(1, 2), time.Minute) // 1 group + 2 sources
	if err := e.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	e.HandleMessage(t0, hostB, report(2, other.Group), rawFrame)
	if isMember(e, hostB, other.Group) {
		t.Fatal("a fourth key was learned over a limit of 3")
	}
	e.Adopt(t0, hostA, grpKey, fdb.Include, addrs(3), time.Minute) // now 1 group + 1 source
	if err := e.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	e.HandleMessage(t0, hostB, report(2, other.Group), rawFrame)
	if !isMember(e, hostB, other.Group) {
		t.Fatal("re-adopting with fewer sources did not free their keys")
	}
}
