package snoop

import (
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// An ActInstall says whether it only renews the kernel's timer (the same
// mode and sources again) or writes something new: replay prints the two
// differently.
func TestInstallMarksRenewals(t *testing.T) {
	e := newEngine(t)
	step := e.cfg.MDBRefreshInterval
	for i, tc := range []struct {
		name    string
		msg     *wire.Message
		failed  bool // the kernel refused the write before this one
		refresh bool
	}{
		{"first report", v3(rec(wire.ModeIsInclude, addr(1))), false, false},
		{"same sources again", v3(rec(wire.ModeIsInclude, addr(1))), false, true},
		{"a source added", v3(rec(wire.AllowNewSources, addr(2))), false, false},
		{"same again", v3(rec(wire.ModeIsInclude, addr(1), addr(2))), false, true},
		{"after a failed write", v3(rec(wire.ModeIsInclude, addr(1), addr(2))), true, false},
		{"to exclude", v3(rec(wire.ChangeToExclude)), false, false},
	} {
		if tc.failed {
			e.InstallFailed(hostA, grpKey)
		}
		in := kinds(e.HandleMessage(t0.Add(time.Duration(i)*step), hostA, tc.msg, rawFrame), ActInstall)
		if len(in) != 1 || in[0].Refresh != tc.refresh {
			t.Errorf("%s: installs %+v, want one with Refresh %v", tc.name, in, tc.refresh)
		}
	}
}

// Ignored counts what Stats counts.
func TestIgnoredMatchesStats(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, hostA, report(2, netip.MustParseAddr("224.0.0.251")), rawFrame)
	got, want := e.Ignored(), e.Stats().Ignored
	if !maps.Equal(got, want) || got["link_local_or_invalid_group"] != 1 {
		t.Errorf("Ignored() = %v, Stats().Ignored = %v", got, want)
	}
}
