package snoop

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// RFC 3376 §6.4.1 (RFC 3810 §7.4.1): with no state for a group, the
// router is in INCLUDE {}; IS_IN {}, ALLOW {}, TO_IN {} and BLOCK leave it
// there. No membership is created, not even for a moment: no join, no
// MDB write, no removal. The record is counted (leave_without_membership).
func TestRecordsThatKeepIncludeNothingCreateNoMembership(t *testing.T) {
	for _, r := range []wire.GroupRecord{
		rec(wire.ModeIsInclude),
		rec(wire.AllowNewSources),
		rec(wire.ChangeToInclude),
		rec(wire.BlockOldSources, addr(1)),
	} {
		t.Run(r.Type.String(), func(t *testing.T) {
			e := newEngine(t)
			acts := e.HandleMessage(t0, hostA, v3(r), rawFrame)
			if len(acts) != 0 || e.table.Len() != 0 {
				t.Fatalf("actions %+v, want none", acts)
			}
			if n := e.Stats().Ignored["leave_without_membership"]; n != 1 {
				t.Fatalf("leave_without_membership = %d, want 1", n)
			}
		})
	}
}

// A report all of whose records were refused (here: any-source requests
// in the SSM range, RFC 4604 §2.2) is not relayed in any form: what was
// turned down here must not reach the routers.
func TestReportWithEveryRecordRefusedIsNotRelayed(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	m := v3(wire.GroupRecord{Type: wire.ModeIsExclude, Group: netip.MustParseAddr("232.1.1.1")},
		wire.GroupRecord{Type: wire.ChangeToExclude, Group: netip.MustParseAddr("232.1.1.2")})
	m.SrcMAC = net.HardwareAddr{2, 0, 0, 0, 0, 9}
	acts := e.HandleMessage(t0, hostA, m, rawFrame)
	if len(acts) != 0 {
		t.Fatalf("actions %+v, want none", acts)
	}
	if n := e.Stats().Relayed; n != 0 {
		t.Fatalf("relayed %d", n)
	}
}

// A partly refused report is relayed re-encoded without the refused
// records; if it cannot be re-encoded (here: no source MAC to send it
// from) it is not relayed at all, and the failure is an event.
func TestPartlyRefusedReportThatCannotBeReencoded(t *testing.T) {
	e := newEngine(t)
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	m := v3(rec(wire.ModeIsExclude), wire.GroupRecord{Type: wire.ModeIsExclude, Group: netip.MustParseAddr("232.1.1.1")})
	acts := e.HandleMessage(t0.Add(time.Second), hostA, m, rawFrame)
	if tx := kinds(acts, ActTransmit); len(tx) != 0 {
		t.Fatalf("relayed %+v", tx)
	}
	i := slices.IndexFunc(acts, func(a Action) bool { return a.Kind == ActEvent && a.Event.Kind == EventQueryFailed })
	if i < 0 || !strings.HasPrefix(acts[i].Event.Detail, "re-encode report: ") || acts[i].Event.Addr != hostIP {
		t.Fatalf("actions %+v, want a query_failed event naming the re-encoding and the reporter", acts)
	}
	if !isMember(e, hostA, grp) {
		t.Fatal("the accepted record was not learned")
	}
}
