package snoop

import (
	"net/netip"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

func vlanFiltering(c *Config) { c.VLANFiltering = true }

// A tagged report joins in VLAN 0 on a bridge without VLAN filtering (its
// VLAN 0 entry forwards every VLAN), in its own VLAN on one with it.
func TestTaggedReportJoinsByVLANFiltering(t *testing.T) {
	for _, tc := range []struct {
		filtering bool
		want      uint16
	}{{false, 0}, {true, 10}} {
		e := newEngine(t, func(c *Config) { c.VLANFiltering = tc.filtering })
		r := report(2, grp)
		r.VLAN = 10
		in := kinds(e.HandleMessage(t0, hostA, r, rawFrame), ActInstall)
		if len(in) != 1 || in[0].Key != (fdb.Key{VLAN: tc.want, Group: grp}) {
			t.Errorf("VLAN filtering %v: install %+v, want %v in VLAN %d", tc.filtering, in, grp, tc.want)
		}
		if gs := e.Groups(t0); len(gs) != 1 || gs[0].VLAN != tc.want {
			t.Errorf("VLAN filtering %v: groups %+v, want one in VLAN %d", tc.filtering, gs, tc.want)
		}
	}
}

// Without VLAN filtering a tagged query is VLAN 0's, as the kernel takes
// it: its sender is VLAN 0's querier and router port, and untagged
// reports are relayed to it.
func TestTaggedQueryWithoutVLANFilteringIsVLAN0s(t *testing.T) {
	e := newEngine(t)
	q := query(routeIP, netip.IPv4Unspecified(), 2)
	q.VLAN = 10
	e.HandleMessage(t0, uplink, q, rawFrame)
	for _, qv := range e.Queriers(t0) {
		if qv.VLAN != 0 || qv.Protocol == "igmp" && qv.Address != routeIP.String() {
			t.Fatalf("querier %+v, want %v as VLAN 0's and no other VLAN", qv, routeIP)
		}
	}
	if rs := e.Routers(t0); len(rs) != 1 || rs[0].VLAN != 0 {
		t.Fatalf("router ports %+v, want the uplink in VLAN 0", rs)
	}
	if tx := kinds(e.HandleMessage(t0, hostA, report(2, grp), rawFrame), ActTransmit); len(tx) != 1 || tx[0].Port != uplink {
		t.Fatalf("untagged report relayed to %+v, want the uplink", tx)
	}
}

// What was learned is keyed by the VLAN rule, so Reconfigure keeps it.
func TestReconfigureKeepsVLANFiltering(t *testing.T) {
	e := newEngine(t)
	c := e.Config()
	c.VLANFiltering = true
	if _, err := e.Reconfigure(t0.Add(time.Second), c); err == nil {
		t.Fatal("Reconfigure turned VLAN filtering on")
	}
	if e.Config().VLANFiltering {
		t.Fatal("the refused configuration was applied")
	}
}
