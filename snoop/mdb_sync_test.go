package snoop

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// What the engine writes to the kernel's MDB for a membership with a
// source list (RFC 4541 D7: forward S to a port only if a member there
// wants S).

// The kernel takes up to 31 sources in one entry (maxKernelSources):
// 31 are installed as a list, 32 as any-source, a superset.
func TestKernelEntryTakesUpTo31Sources(t *testing.T) {
	for _, tc := range []struct {
		n    int
		list bool
	}{{31, true}, {32, false}} {
		e := newEngine(t)
		var srcs []netip.Addr
		for i := 1; i <= tc.n; i++ {
			srcs = append(srcs, addr(i))
		}
		in := kinds(e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, srcs...)), rawFrame), ActInstall)
		if len(in) != 1 {
			t.Fatalf("%d sources: installs %+v", tc.n, in)
		}
		if got := in[0].Mode == fdb.Include && slices.Equal(in[0].Sources, srcs); got != tc.list {
			t.Fatalf("%d sources: installed %v %d sources, want the list %v", tc.n, in[0].Mode, len(in[0].Sources), tc.list)
		}
	}
}

// Past the key limit a source list falls back to any-source; the
// fallback is counted (table_limit) when it happens, not again for each
// later record that keeps it any-source.
func TestKeyLimitFallbackCountedOnce(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Limits.MaxKeys = 3 })
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame) // 3 keys
	for i, s := range []int{3, 4, 5} {
		in := kinds(e.HandleMessage(t0, hostA, v3(rec(wire.AllowNewSources, addr(s))), rawFrame), ActInstall)
		if i == 0 && (len(in) != 1 || in[0].Mode != fdb.Exclude || len(in[0].Sources) != 0) {
			t.Fatalf("installs %+v, want any-source", in)
		}
	}
	if n := e.Stats().Ignored["table_limit"]; n != 1 {
		t.Fatalf("table_limit = %d, want 1", n)
	}
	if err := e.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// Each write of a source list replaces the (S,G) keys of the one before:
// sources no longer installed free their keys for other groups.
func TestRewrittenSourceListFreesItsKeys(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.Limits.MaxKeys = 4 })
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame)
	e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude, addr(3))), rawFrame) // EXCLUDE {3}: 1 and 2 go
	if err := e.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	g := netip.MustParseAddr("239.9.9.9")
	in := kinds(e.HandleMessage(t0, hostB, v3(wire.GroupRecord{Type: wire.ModeIsInclude, Group: g, Sources: addrs(1)}), rawFrame), ActInstall)
	if len(in) != 1 || in[0].Mode != fdb.Include || !slices.Equal(in[0].Sources, addrs(1)) {
		t.Fatalf("install %+v, want INCLUDE {1}: 2 groups + 2 sources fit 4 keys", in)
	}
}

// An install's source list is the caller's to keep (Action): the daemon
// hands it to its MDB writer without a copy, so writing to it must not
// change what the engine holds, nor what it installs next.
func TestInstallSourcesAreTheCallers(t *testing.T) {
	e := newEngine(t)
	in := kinds(e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame), ActInstall)
	if len(in) != 1 || !slices.Equal(in[0].Sources, addrs(1, 2)) {
		t.Fatalf("installs %+v, want one of sources 1, 2", in)
	}
	in[0].Sources[0], in[0].Sources[1] = addr(7), addr(8)
	if got := e.table.Get(grpKey, hostA).InstalledSources; !slices.Equal(got, addrs(1, 2)) {
		t.Fatalf("the engine holds %v as installed after the caller wrote to its action, want 1, 2", got)
	}
	in = kinds(e.HandleMessage(t0, hostA, v3(rec(wire.AllowNewSources, addr(3))), rawFrame), ActInstall)
	if len(in) != 1 || !slices.Equal(in[0].Sources, addrs(1, 2, 3)) {
		t.Fatalf("next installs %+v, want one of sources 1, 2, 3", in)
	}
}
