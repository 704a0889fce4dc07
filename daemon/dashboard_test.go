package daemon

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/packaging/grafana"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// TestDashboardNamesExportedMetrics: every series the Grafana dashboard
// (packaging/grafana/igmpsnoop.json) queries is one this collector
// exports, with the labels the query matches on, and the dashboard shows
// each of the daemon's own metrics. integration's
// TestDashboardAgainstDaemon checks the same against a running daemon.
func TestDashboardNamesExportedMetrics(t *testing.T) {
	snap := bridgeSnapshot{
		Bridge: "br1",
		Stats: snoop.Stats{Groups: 1, Received: map[string]uint64{"mld_report_v2": 1},
			Refused: map[string]uint64{"truncated": 1}, Ignored: map[string]uint64{"ssm_exclude": 1}},
		Ports:    []snoop.PortView{{Port: "vm1", Groups: 1, Received: 1}},
		Queriers: []snoop.QuerierView{{Protocol: "mld", Present: true}},
	}
	m := newMetrics(func(context.Context) ([]bridgeSnapshot, error) { return []bridgeSnapshot{snap}, nil })
	m.loopObserver("br1")(time.Microsecond)
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if err := grafana.Check(grafana.Dashboard, grafana.Families(fams)); err != nil {
		t.Error(err)
	}
	sels, err := grafana.Selectors(grafana.Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	shown := grafana.Metrics(sels)
	for _, name := range []string{"igmpsnoop_groups", "igmpsnoop_memberships", "igmpsnoop_router_ports", "igmpsnoop_querier_present",
		"igmpsnoop_messages_received_total", "igmpsnoop_messages_refused_total", "igmpsnoop_messages_ignored_total",
		"igmpsnoop_port_messages_received_total", "igmpsnoop_guard_dropped_total", "igmpsnoop_socket_dropped_total",
		"igmpsnoop_reports_relayed_total", "igmpsnoop_queries_sent_total", "igmpsnoop_mdb_operations_total",
		"igmpsnoop_mdb_errors_total", "igmpsnoop_scrape_error", "igmpsnoop_engine_loop_seconds_bucket"} {
		if !slices.Contains(shown, name) {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}
