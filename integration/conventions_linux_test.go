package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/igmpsnoop/igmpsnoop/lab"
	"github.com/igmpsnoop/igmpsnoop/packaging/grafana"
)

// TestDashboardAgainstDaemon: every series the Grafana dashboard queries
// (packaging/grafana/igmpsnoop.json, each PromQL expression parsed) is one
// a running daemon exports, with the labels the query matches on; and the
// shipped iproute2 protocol name makes `bridge -j -d mdb show` name the
// daemon's entries "igmpsnoop".
func TestDashboardAgainstDaemon(t *testing.T) {
	l, _ := metricsLab(t)
	if err := grafana.Check(grafana.Dashboard, scrapeFamilies(t, l)); err != nil {
		t.Error(err)
	}
	sels, err := grafana.Selectors(grafana.Dashboard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the dashboard's %d selectors name %d metrics: %v", len(sels), len(grafana.Metrics(sels)), grafana.Metrics(sels))

	// The protocol name, in a mount namespace of its own so the host's
	// /etc stays as it is.
	dir, err := filepath.Abs("../packaging/iproute2/rt_protos.d")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/etc/iproute2/rt_protos.d"); err != nil {
		t.Skipf("no /etc/iproute2/rt_protos.d to mount the protocol name on: %v", err)
	}
	proto := func(named bool) string {
		t.Helper()
		show := fmt.Sprintf("ip netns exec %s bridge -j -d mdb show dev %s", l.Switch, l.Bridge)
		if named {
			show = fmt.Sprintf("mount --bind %s /etc/iproute2/rt_protos.d && %s", dir, show)
		}
		out, err := lab.Run("unshare", "--mount", "--propagation", "private", "sh", "-c", show)
		if err != nil {
			t.Fatal(err)
		}
		var mdb []struct {
			MDB []struct{ Port, Grp, Protocol string } `json:"mdb"`
		}
		if err := json.Unmarshal([]byte(out), &mdb); err != nil {
			t.Fatalf("bridge -j mdb show: %v: %s", err, out)
		}
		for _, o := range mdb {
			for _, e := range o.MDB {
				if e.Port == l.Hosts[0].Port && e.Grp == g1.String() {
					return e.Protocol
				}
			}
		}
		t.Fatalf("no entry for %v on %s in %s", g1, l.Hosts[0].Port, out)
		return ""
	}
	if p := proto(false); p != "77" {
		t.Errorf("protocol without the name installed = %q, want 77", p)
	}
	if p := proto(true); p != "igmpsnoop" {
		t.Errorf("protocol with packaging/iproute2/rt_protos.d installed = %q, want igmpsnoop", p)
	}
}

// metricsLab is a lab with one host, h1, a member of g1, and a daemon
// serving metrics at 127.0.0.1:9477 in the switch namespace that heard
// the join and the querier.
func metricsLab(t *testing.T) (*lab.Lab, *lab.Daemon) {
	t.Helper()
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	d := startDaemon(t, l, append([]string{"--metrics-address", "127.0.0.1:9477"}, fastTimers...)...)
	joinHost(t, l, d, l.Hosts[0], g1)
	waitFor(t, 10*time.Second, "learned, querier heard", func() (bool, string) {
		_, ok, seen := member(t, d, g1, l.Hosts[0].Port)
		return ok && querierOf(t, d, "igmp").Present, seen
	})
	return l, d
}

// scrapeFamilies scrapes the daemon's metrics, served at 127.0.0.1:9477
// in the switch namespace, and parses them, by metric name.
func scrapeFamilies(t *testing.T, l *lab.Lab) map[string]*dto.MetricFamily {
	t.Helper()
	var body string
	err := lab.InNetns(l.Switch, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:9477", 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
		b, err := io.ReadAll(c)
		body = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	_, text, ok := strings.Cut(body, "\r\n\r\n")
	if !ok || !strings.HasPrefix(body, "HTTP/1.0 200") {
		t.Fatalf("scrape: %.200s", body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return families
}
