package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// Collect turns bridge snapshots into the igmpsnoop_* metrics.
func TestMetricsCollect(t *testing.T) {
	snap := bridgeSnapshot{
		Bridge: "br0",
		Stats: snoop.Stats{Groups: 2, Relayed: 7, SentQueries: 4, Received: map[string]uint64{"igmp_report_v2": 9},
			Refused: map[string]uint64{"bad_checksum": 1}, Ignored: map[string]uint64{"port_limit": 3}},
		Ports: []snoop.PortView{{Port: "p1", Groups: 2, Received: 9, GuardDropped: 5, SocketDropped: 1},
			{Port: "p2", Groups: 1}},
		Routers:  1,
		Queriers: []snoop.QuerierView{{Protocol: "igmp", Present: true, Self: true}, {Protocol: "mld"}, {Protocol: "igmp", VLAN: 5, Present: true}},
	}
	snap.MDB.Installs, snap.MDB.InstallErrors, snap.MDB.Removes, snap.MDB.RemoveErrors = 10, 1, 6, 2
	snap.Groups = []snoop.GroupCount{{Group: netip.MustParseAddr("239.1.1.1"), Ports: 2, Hosts: 5}, {VLAN: 7, Group: netip.MustParseAddr("ff0e::1"), Ports: 1}}
	var fail bool
	m := newMetrics(func(context.Context) ([]bridgeSnapshot, error) {
		if fail {
			return nil, errors.New("bridge br0: context deadline exceeded")
		}
		return []bridgeSnapshot{snap}, nil
	})
	m.loopObserver("br0")(3 * time.Millisecond)
	got := gather(t, m)
	for series, want := range map[string]float64{
		`igmpsnoop_groups{bridge="br0"}`:                                        2,
		`igmpsnoop_memberships{bridge="br0",port="p1"}`:                         2,
		`igmpsnoop_memberships{bridge="br0",port="p2"}`:                         1,
		`igmpsnoop_router_ports{bridge="br0"}`:                                  1,
		`igmpsnoop_mdb_operations_total{bridge="br0",op="install"}`:             10,
		`igmpsnoop_mdb_operations_total{bridge="br0",op="remove"}`:              6,
		`igmpsnoop_mdb_errors_total{bridge="br0",op="install"}`:                 1,
		`igmpsnoop_mdb_errors_total{bridge="br0",op="remove"}`:                  2,
		`igmpsnoop_querier_present{bridge="br0",protocol="igmp",self="true"}`:   1,
		`igmpsnoop_querier_present{bridge="br0",protocol="mld",self="false"}`:   0,
		`igmpsnoop_guard_dropped_total{bridge="br0",port="p1"}`:                 5,
		`igmpsnoop_socket_dropped_total{bridge="br0",port="p1"}`:                1,
		`igmpsnoop_port_messages_received_total{bridge="br0",port="p1"}`:        9,
		`igmpsnoop_messages_received_total{bridge="br0",type="igmp_report_v2"}`: 9,
		`igmpsnoop_messages_refused_total{bridge="br0",reason="bad_checksum"}`:  1,
		`igmpsnoop_messages_ignored_total{bridge="br0",reason="port_limit"}`:    3,
		`igmpsnoop_reports_relayed_total{bridge="br0"}`:                         7,
		`igmpsnoop_queries_sent_total{bridge="br0"}`:                            4,
		`igmpsnoop_engine_loop_seconds{bridge="br0"}`:                           1, // the count
		`igmpsnoop_scrape_error`:                                                0,
		`igmpsnoop_group_members{bridge="br0",group="239.1.1.1",vlan="0"}`:      2,
		`igmpsnoop_group_hosts{bridge="br0",group="239.1.1.1",vlan="0"}`:        5,
		`igmpsnoop_group_members{bridge="br0",group="ff0e::1",vlan="7"}`:        1,
		`igmpsnoop_group_hosts{bridge="br0",group="ff0e::1",vlan="7"}`:          0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (found %t), want %v", series, v, ok, want)
		}
	}
	// A querier per VLAN is not a metric: only VLAN 0's.
	n := 0
	for series := range got {
		if strings.HasPrefix(series, "igmpsnoop_querier_present{") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d querier_present series, want 2 (VLAN 0's igmp and mld)", n)
	}

	fail = true
	got = gather(t, m)
	if got["igmpsnoop_scrape_error"] != 1 {
		t.Error("scrape_error is not 1 when a bridge could not be read")
	}
	if _, ok := got[`igmpsnoop_groups{bridge="br0"}`]; ok {
		t.Error("groups reported from a failed scrape")
	}
}

// gather collects m's metrics as series (name{labels}, labels sorted) and
// values; a histogram's value is its count.
func gather(t *testing.T, m *metrics) map[string]float64 {
	t.Helper()
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			series := f.GetName()
			if len(labels) > 0 {
				series += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case s.Gauge != nil:
				out[series] = s.GetGauge().GetValue()
			case s.Counter != nil:
				out[series] = s.GetCounter().GetValue()
			case s.Histogram != nil:
				out[series] = float64(s.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// The daemon serves its metrics from the running bridges.
func TestMetricsServed(t *testing.T) {
	set := testSettings(t, nil)
	set.MetricsAddress = freeTCPAddr(t)
	h := startDaemon(t, newFakeKernel("p1", "p2"), set, nil)
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry", func() bool { return h.hasEntry(10, grpA.String()) })
	m := scrape(t, set.MetricsAddress)
	for series, want := range map[string]float64{
		`igmpsnoop_groups{bridge="br0"}`:                                        1,
		`igmpsnoop_memberships{bridge="br0",port="p1"}`:                         1,
		`igmpsnoop_memberships{bridge="br0",port="p2"}`:                         0,
		`igmpsnoop_mdb_operations_total{bridge="br0",op="install"}`:             1,
		`igmpsnoop_socket_dropped_total{bridge="br0",port="p1"}`:                3,
		`igmpsnoop_messages_received_total{bridge="br0",type="igmp_report_v2"}`: 1,
		`igmpsnoop_engine_loop_seconds_count{bridge="br0"}`:                     1,
	} {
		if v, ok := metricValue(m, series); !ok || v != want {
			t.Errorf("%s = %v (found %t), want %v", series, v, ok, want)
		}
	}
}
