package snoop

import (
	"net/netip"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// A tracked host whose timer runs out at now is gone at now: it is
// neither shown as a reporter nor counted in the per-group host metric,
// the instant the engine's own timers would expire it.
func TestHostGoneWhenItsTimerRunsOut(t *testing.T) {
	const now fdb.Time = 1000
	a := netip.MustParseAddr("10.77.0.5")
	for _, tt := range []struct {
		expires fdb.Time
		live    bool
	}{{now - 1, false}, {now, false}, {now + 1, true}} {
		pg := &fdb.PortGroup{Hosts: []fdb.Host{{Addr: a, Mode: fdb.Exclude, Expires: tt.expires}}}
		wantN, wantR := 0, []string{}
		if tt.live {
			wantN, wantR = 1, []string{a.String()}
		}
		if n := liveHosts(pg, now); n != wantN {
			t.Errorf("host expiring at %d, now %d: liveHosts = %d, want %d", tt.expires, now, n, wantN)
		}
		if r := reporters(pg, netip.Addr{}, now); len(r) != len(wantR) {
			t.Errorf("host expiring at %d, now %d: reporters = %v, want %v", tt.expires, now, r, wantR)
		}
	}
}
