package snoop

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Stats.Received counts every message by its stable name: protocol, kind
// and version (RFC 4541 C6 asks that what a snooper sees be countable).
func TestReceivedCountersNameEveryKind(t *testing.T) {
	e := newEngine(t)
	for _, m := range []*wire.Message{
		query(routeIP, netip.IPv4Unspecified(), 2),
		report(1, grp),
		v3(rec(wire.ModeIsExclude)),
		leave(grp),
		{Kind: wire.KindPIMHello, Proto: wire.IGMP, Src: routeIP},
		{Kind: wire.KindMRDAdvert, Proto: wire.IGMP, Src: routeIP, AdvertInterval: 20 * time.Second},
		{Kind: wire.KindMRDTermination, Proto: wire.IGMP, Src: routeIP},
		{Kind: wire.KindMRDTermination, Proto: wire.MLD, Src: router6},
		{Kind: wire.KindOther, Proto: wire.MLD, Src: host6},
		mldMsg(wire.KindLeave, 1, host6, grp6),
	} {
		e.HandleMessage(t0, uplink, m, rawFrame)
	}
	want := map[string]uint64{
		"igmp_query_v2": 1, "igmp_report_v1": 1, "igmp_report_v3": 1, "igmp_leave_v2": 1,
		"pim_hello": 1, "igmp_mrd_advert": 1, "igmp_mrd_termination": 1, "mld_mrd_termination": 1,
		"mld_other": 1, "mld_leave_v1": 1,
	}
	got := e.Stats().Received
	if len(got) != len(want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("received %v, want %v", got, want)
		}
	}
}

// MDBCheck.Consistent: the kernel's MDB equals the table only when the
// check ran without error and found nothing missing, extra, different or
// learned by the kernel itself.
func TestMDBCheckConsistent(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    MDBCheck
		want bool
	}{
		{"clean", MDBCheck{Entries: 5, Repaired: 0}, true},
		{"error", MDBCheck{Entries: 5, Error: "netlink: EPERM"}, false},
		{"missing", MDBCheck{Missing: 1}, false},
		{"extra", MDBCheck{Extra: 1}, false},
		{"different", MDBCheck{Different: 1}, false},
		{"kernel learned", MDBCheck{Kernel: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.Consistent(); got != tc.want {
				t.Fatalf("Consistent() = %v, want %v", got, tc.want)
			}
		})
	}
}

// GroupView.Version is the protocol's own version of the latest report,
// 0 when unknown: an adopted entry has had none yet, IGMP or MLD.
func TestGroupViewVersionOfAdoptedEntriesIsUnknown(t *testing.T) {
	e := newEngine(t)
	e.Adopt(t0, hostA, grpKey, fdb.Exclude, nil, time.Minute)
	e.Adopt(t0, hostA, fdb.Key{Group: grp6}, fdb.Exclude, nil, time.Minute)
	rows := e.Groups(t0)
	if len(rows) != 2 || rows[0].Version != 0 || rows[1].Version != 0 {
		t.Fatalf("rows %+v, want version 0 for both", rows)
	}
	e.HandleMessage(t0, hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
	if rows := e.Groups(t0); rows[1].Version != 1 || rows[1].Compat != "v1" {
		t.Fatalf("after an MLDv1 report: %+v, want version 1, compat v1", rows[1])
	}
}

// Stats.SentQueries counts every query we send: general queries as the
// querier and the group-specific ones a leave starts.
func TestSentQueriesCountsEveryQuery(t *testing.T) {
	e := querierEngine(t, "10.77.0.5")
	e.Start(t0) // an IGMP and an MLD general query
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	e.HandleMessage(t0.Add(time.Second), hostA, leave(grp), rawFrame)
	if n := e.Stats().SentQueries; n != 3 {
		t.Fatalf("sent_queries = %d, want 3", n)
	}
}

// Queriers lists the families by VLAN, IGMP before MLD in each, whatever
// order they were heard in.
func TestQueriersListedByVLANThenProtocol(t *testing.T) {
	e := newEngine(t, vlanFiltering)
	for _, vlan := range []uint16{20, 10} {
		m6 := mldMsg(wire.KindQuery, 2, router6, netip.IPv6Unspecified())
		m6.VLAN = vlan
		e.HandleMessage(t0, uplink, m6, rawFrame)
		m4 := query(routeIP, netip.IPv4Unspecified(), 3)
		m4.VLAN = vlan
		e.HandleMessage(t0, uplink, m4, rawFrame)
	}
	var got []string
	for _, q := range e.Queriers(t0) {
		got = append(got, strconv.Itoa(int(q.VLAN))+"/"+q.Protocol)
	}
	if want := []string{"0/igmp", "0/mld", "10/igmp", "10/mld", "20/igmp", "20/mld"}; !slices.Equal(got, want) {
		t.Fatalf("queriers listed %v, want %v", got, want)
	}
}
