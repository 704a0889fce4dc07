package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "igmpsnoop.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func rewriteConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// labTimers is the lab's timers in configuration-file terms.
const labTimers = `
defaults:
  query_interval: 2s
  query_response_interval: 1s
  last_member_interval: 500ms
  last_member_count: 2
`

func groupAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{239, 4, 0, byte(i)}) }

// joinHost makes h join g and leaves the group when the test ends.
func joinHost(t *testing.T, l *lab.Lab, d *lab.Daemon, h lab.Host, g netip.Addr) *lab.Membership {
	t.Helper()
	m, err := l.Join(h, g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Leave() })
	return m
}

// TestMaxGroupsDenyAndReplace: a port over its limit refuses new groups,
// or drops its least recently refreshed one for the new one.
func TestMaxGroupsDenyAndReplace(t *testing.T) {
	needRoot(t)
	// One query, then none for a minute: the bridge forwards by the MDB,
	// and joins are refreshed only by their own reports, so which group is
	// the least recently refreshed is known.
	l := newLab(t, lab.Config{Hosts: 2, NoQuerier: true})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	caps := captures(t, l, h1.Name, h2.Name)
	stop, err := l.StartQuerier(l.RouterAddr, time.Minute, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg := writeConfig(t, `
defaults:
  query_interval: 60s
  query_response_interval: 1s
bridges:
  - name: br0
    ports:
      h1: {max_groups: 2, max_groups_action: deny}
      h2: {max_groups: 2, max_groups_action: replace}
`)
	d := startDaemon(t, l, "--config", cfg, "--log-level", "debug")
	for i := 1; i <= 3; i++ {
		joinHost(t, l, d, h1, groupAddr(i))
		joinHost(t, l, d, h2, groupAddr(i))
		time.Sleep(2500 * time.Millisecond) // both unsolicited reports are in before the next join
	}
	waitFor(t, 5*time.Second, "h1 keeps its first two, h2 its last two", func() (bool, string) {
		var seen []string
		ok := true
		for i, want := range []bool{true, true, false} {
			_, got, s := member(t, d, groupAddr(i+1), h1.Port)
			ok = ok && got == want
			seen = append(seen, s)
		}
		for i, want := range []bool{false, true, true} {
			_, got, _ := member(t, d, groupAddr(i+1), h2.Port)
			ok = ok && got == want
		}
		return ok, seen[0]
	})
	var ps struct{ Ports []snoop.PortView }
	if err := d.Show("ports", &ps); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.Ports {
		if p.Port == h1.Port && (p.Groups != 2 || p.MaxGroups != 2 || p.LimitAction != "deny") {
			t.Errorf("show ports h1: %+v", p)
		}
		if p.Port == h2.Port && p.LimitAction != "replace" {
			t.Errorf("show ports h2: %+v", p)
		}
	}
	expectDelivery(t, l, groupAddr(3), 20, map[string]int{h1.Name: 0, h2.Name: 20}, caps)
	expectDelivery(t, l, groupAddr(1), 20, map[string]int{h1.Name: 20, h2.Name: 0}, caps)
	var st struct{ Stats []snoop.Stats }
	if err := d.Show("stats", &st); err != nil {
		t.Fatal(err)
	}
	if st.Stats[0].Ports[h1.Port].Ignored["port_limit"] == 0 || st.Stats[0].Ports[h2.Port].Ignored["port_limit"] == 0 {
		t.Fatalf("per-port limit counts: %+v", st.Stats[0].Ports)
	}
}

// TestFilterProfileDeniesGroup: the host that asks for a denied group gets
// no traffic while another port's member does.
func TestFilterProfileDeniesGroup(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	caps := captures(t, l, h1.Name, h2.Name)
	cfg := writeConfig(t, labTimers+`
bridges:
  - name: br0
    ports:
      h1: {profile: no-premium}
profiles:
  no-premium:
    default: permit
    rules:
      - deny: 239.4.0.9
`)
	d := startDaemon(t, l, "--config", cfg)
	denied := groupAddr(9)
	joinHost(t, l, d, h1, denied)
	joinHost(t, l, d, h2, denied)
	waitFor(t, 10*time.Second, "h2 learned, h1 refused", func() (bool, string) {
		_, ok2, seen := member(t, d, denied, h2.Port)
		_, ok1, _ := member(t, d, denied, h1.Port)
		var st struct{ Stats []snoop.Stats }
		if err := d.Show("stats", &st); err != nil {
			return false, err.Error()
		}
		return ok2 && !ok1 && st.Stats[0].Ports[h1.Port].Ignored["filter_deny"] > 0, seen
	})
	time.Sleep(1500 * time.Millisecond)
	expectDelivery(t, l, denied, 20, map[string]int{h1.Name: 0, h2.Name: 20}, caps)
}

// TestStaticGroupAndRouterPortInMDB: configured memberships and router
// ports reach the kernel.
func TestStaticGroupAndRouterPortInMDB(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2, NoQuerier: true})
	h1 := l.Hosts[0]
	cfg := writeConfig(t, labTimers+`
bridges:
  - name: br0
    querier: true
    ports:
      h1:
        static_groups:
          - group: 239.4.0.5
          - group: 232.4.0.5
            sources: [10.77.0.100]
      tx0: {router: true}
`)
	d := startDaemon(t, l, "--config", cfg)
	var r struct{ Routers []snoop.RouterView }
	if err := d.Show("routers", &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Routers) != 2 || r.Routers[0].Port != l.SenderPort || r.Routers[0].Via != "static" {
		t.Fatalf("routers %+v, want tx0 static for IGMP and MLD", r.Routers)
	}
	idx := portIndex(t, l, h1.Port)
	got := map[string]bridge.Entry{}
	for _, e := range mdb(t, l) {
		if e.Port == idx && !e.Source.IsValid() {
			got[e.Group.String()] = e
		}
	}
	if e, ok := got["239.4.0.5"]; !ok || !e.Permanent || e.Proto != ourProto {
		t.Errorf("static any-source entry %+v (present %v), want permanent with our proto", e, ok)
	}
	if e, ok := got["232.4.0.5"]; !ok || e.Mode != bridge.ModeInclude || len(e.Sources) != 1 || e.Sources[0] != lab.Sender1 {
		t.Errorf("static SSM entry %+v (present %v), want INCLUDE {%v}", e, ok, lab.Sender1)
	}
	if mode, err := l.PortRouterMode(l.SenderPort); err != nil || mode != 2 {
		t.Fatalf("tx0 kernel router mode %d (%v), want 2, permanent", mode, err)
	}
	// They survive well past a membership interval without any report.
	time.Sleep(gmi + 2*time.Second)
	if _, ok, seen := member(t, d, groupAddr(5), h1.Port); !ok {
		t.Fatalf("static group aged out: %s", seen)
	}
}

// TestReloadKeepsMembersAndRefusesBadFiles: a reload lowering a limit
// keeps existing members; a bad file is refused with its line and the old
// configuration stays live.
func TestReloadKeepsMembersAndRefusesBadFiles(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	h1 := l.Hosts[0]
	caps := captures(t, l, h1.Name)
	body := labTimers + "bridges:\n  - name: br0\n    ports:\n      h1: {max_groups: %d}\n"
	cfg := writeConfig(t, fmt.Sprintf(body, 5))
	d := startDaemon(t, l, "--config", cfg)
	for i := 1; i <= 3; i++ {
		joinHost(t, l, d, h1, groupAddr(i))
	}
	waitFor(t, 10*time.Second, "three groups learned", func() (bool, string) {
		var gs groupsJSON
		_ = d.Show("groups", &gs)
		return len(gs.Groups) == 3, fmt.Sprint(gs.Groups)
	})
	rewriteConfig(t, cfg, fmt.Sprintf(body, 1))
	if out, err := d.ShowCLI("config"); err != nil || !strings.Contains(out, "max_groups: 5") {
		t.Fatalf("show config before reload: %v\n%s", err, out)
	}
	if _, err := lab.Run(d.Bin, "reload", "--socket", d.Socket); err != nil {
		t.Fatal(err)
	}
	if out, _ := d.ShowCLI("config"); !strings.Contains(out, "max_groups: 1") {
		t.Fatalf("show config after reload:\n%s", out)
	}
	joinHost(t, l, d, h1, groupAddr(4))
	time.Sleep(3 * time.Second)
	var gs groupsJSON
	if err := d.Show("groups", &gs); err != nil || len(gs.Groups) != 3 {
		t.Fatalf("after lowering the limit to 1: %v %+v, want the 3 members kept and the 4th refused", err, gs.Groups)
	}
	expectDelivery(t, l, groupAddr(2), 20, map[string]int{h1.Name: 20}, caps)

	// A bad file: refused with the line, by `reload` and by SIGHUP alike.
	rewriteConfig(t, cfg, labTimers+"bridges:\n  - name: br0\n    robustnes: 3\n")
	out, err := lab.Run(d.Bin, "reload", "--socket", d.Socket)
	if err == nil || !strings.Contains(out, "line 9") || !strings.Contains(out, "robustnes") {
		t.Fatalf("reload of a bad file: %v\n%s", err, out)
	}
	if err := d.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "SIGHUP refusal logged", func() (bool, string) {
		return strings.Contains(d.Log(), "reload refused"), "no refusal in the log"
	})
	if out, _ := d.ShowCLI("config"); !strings.Contains(out, "max_groups: 1") {
		t.Fatalf("the old configuration did not stay:\n%s", out)
	}
}

// TestTwoBridges: one daemon, two bridges, independent state.
func TestTwoBridges(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	b1hosts, err := l.AddBridge("br1", 1)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, l, append([]string{"--bridge", "br1"}, fastTimers...)...)
	joinHost(t, l, d, l.Hosts[0], g1)
	joinHost(t, l, d, b1hosts[0], g3)
	waitFor(t, 10*time.Second, "both bridges learned", func() (bool, string) {
		var gs groupsJSON
		if err := d.Show("groups", &gs); err != nil {
			return false, err.Error()
		}
		var rows []string
		for _, g := range gs.Groups {
			rows = append(rows, g.Bridge+"/"+g.Group+"@"+g.Port)
		}
		want := []string{"br0/239.1.1.1@h1", "br1/239.3.3.3@br1h1"}
		return strings.Join(rows, " ") == strings.Join(want, " "), strings.Join(rows, " ")
	})
	out, err := d.ShowCLI("groups", "--bridge", "br1", "--json")
	if err != nil || strings.Contains(out, "239.1.1.1") || !strings.Contains(out, "239.3.3.3") {
		t.Fatalf("show groups --bridge br1: %v\n%s", err, out)
	}
	var st struct{ Stats []snoop.Stats }
	if err := d.Show("stats", &st); err != nil || len(st.Stats) != 2 {
		t.Fatalf("stats for two bridges: %v %+v", err, st)
	}
	var entries []bridge.Entry
	withMDB(t, l, "br1", func(m *bridge.MDB, br int) (err error) {
		entries, err = m.Dump(br)
		return err
	})
	var found bool
	for _, e := range entries {
		found = found || e.Group == g3 && e.Proto == ourProto
	}
	if !found {
		t.Fatalf("br1's MDB %v lacks our entry for %v", entries, g3)
	}
}

// TestReloadAddsAndRemovesBridges: `igmpsnoop reload` starts snooping on
// a bridge the file now names, for as long as the daemon runs (not just
// the request), and stops on one it no longer names, leaving the others.
func TestReloadAddsAndRemovesBridges(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	b1hosts, err := l.AddBridge("br1", 1)
	if err != nil {
		t.Fatal(err)
	}
	one := labTimers + "bridges:\n  - name: br0\n"
	cfg := writeConfig(t, one)
	d := startDaemon(t, l, "--config", cfg)
	if _, err := d.ShowCLI("groups", "--bridge", "br1"); err == nil {
		t.Fatal("br1 snooped before it was configured")
	}
	rewriteConfig(t, cfg, one+"  - name: br1\n")
	if out, err := lab.Run(d.Bin, "reload", "--socket", d.Socket); err != nil {
		t.Fatalf("reload adding br1: %v\n%s", err, out)
	}
	// Longer than a control request may take: the new loop must outlive it.
	time.Sleep(6 * time.Second)
	joinHost(t, l, d, b1hosts[0], g3)
	waitFor(t, 10*time.Second, "br1 learned after the reload", func() (bool, string) {
		_, ok, seen := member(t, d, g3, b1hosts[0].Port)
		return ok, seen
	})
	rewriteConfig(t, cfg, one)
	if out, err := lab.Run(d.Bin, "reload", "--socket", d.Socket); err != nil {
		t.Fatalf("reload removing br1: %v\n%s", err, out)
	}
	if out, err := d.ShowCLI("groups", "--bridge", "br1"); err == nil {
		t.Fatalf("br1 still snooped after it left the file:\n%s", out)
	}
	if _, err := d.ShowCLI("groups", "--bridge", "br0"); err != nil {
		t.Fatalf("br0 no longer snooped: %v", err)
	}
	if d.Exited() {
		t.Fatalf("daemon exited: %v", d.Err())
	}
}

// TestEventsStream: `igmpsnoop events` shows a join and an expiry as they
// happen.
func TestEventsStream(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	h1 := l.Hosts[0]
	d := startDaemon(t, l, fastTimers...)
	cmd := exec.Command(d.Bin, "events", "--json", "--socket", d.Socket)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	})
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	time.Sleep(300 * time.Millisecond) // subscribed
	joinHost(t, l, d, h1, g1)
	waitFor(t, 5*time.Second, "h1 learned", func() (bool, string) {
		_, ok, seen := member(t, d, g1, h1.Port)
		return ok, seen
	})
	if err := l.Silence(h1); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.After(gmi + 5*time.Second)
	for !seen["join"] || !seen["expire"] {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("event stream ended")
			}
			if m["group"] == g1.String() && m["port"] == h1.Port && m["bridge"] == "br0" && m["time"] != nil {
				seen[m["event"].(string)] = true
			}
		case <-deadline:
			t.Fatalf("events seen %v, want join and expire for %v on %s", seen, g1, h1.Port)
		}
	}
}

// TestMetricsScrape: /metrics is served in Prometheus' text format with
// the documented names and values that match `show`.
func TestMetricsScrape(t *testing.T) {
	l, d := metricsLab(t)
	value := scrapeMetrics(t, l)
	// show stats, read right after: the gauges must agree with it (no
	// member comes or goes meanwhile).
	var st struct{ Stats []snoop.Stats }
	if err := d.Show("stats", &st); err != nil || len(st.Stats) != 1 {
		t.Fatalf("show stats: %v %+v", err, st)
	}
	groups := float64(st.Stats[0].Groups)
	checks := []struct {
		name     string
		labels   map[string]string
		min, max float64
	}{
		{"igmpsnoop_groups", map[string]string{"bridge": "br0"}, groups, groups},
		{"igmpsnoop_memberships", map[string]string{"bridge": "br0", "port": "h1"}, 1, 1},
		{"igmpsnoop_router_ports", map[string]string{"bridge": "br0"}, 1, math.Inf(1)},
		{"igmpsnoop_messages_received_total", map[string]string{"bridge": "br0", "type": "igmp_report_v3"}, 1, math.Inf(1)},
		{"igmpsnoop_messages_refused_total", map[string]string{"bridge": "br0", "reason": "bad_igmp_checksum"}, 0, 0},
		{"igmpsnoop_mdb_operations_total", map[string]string{"bridge": "br0", "op": "install"}, 1, math.Inf(1)},
		{"igmpsnoop_mdb_errors_total", map[string]string{"bridge": "br0", "op": "install"}, 0, 0},
		{"igmpsnoop_engine_loop_seconds", map[string]string{"bridge": "br0"}, 1, math.Inf(1)},
		{"igmpsnoop_querier_present", map[string]string{"bridge": "br0", "protocol": "igmp"}, 1, 1},
	}
	for _, c := range checks {
		v, ok := value(c.name, c.labels)
		if !ok || v < c.min || v > c.max {
			t.Errorf("%s%v = %v (present %v), want %v..%v", c.name, c.labels, v, ok, c.min, c.max)
		}
	}
	// A series lacking a label asked for is not a match.
	if _, ok := value("igmpsnoop_memberships", map[string]string{"bridge": "br0", "port": "h1", "vlan": "1"}); ok {
		t.Error("a series without a label asked for matched")
	}
}

// scrapeMetrics scrapes the daemon's metrics, served at 127.0.0.1:9477 in
// the switch namespace, and returns a lookup in what it scraped: the value
// of the first series of name that has labels (of a histogram, its sample
// count), and whether there is one.
func scrapeMetrics(t *testing.T, l *lab.Lab) func(name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families := scrapeFamilies(t, l)
	return func(name string, labels map[string]string) (float64, bool) {
		mf, ok := families[name]
		if !ok {
			return 0, false
		}
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			if !hasLabels(have, labels) {
				continue
			}
			if m.Gauge != nil {
				return m.Gauge.GetValue(), true
			}
			if m.Counter != nil {
				return m.Counter.GetValue(), true
			}
			if m.Histogram != nil {
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
		return 0, false
	}
}

// hasLabels reports whether have holds every label of want, with its value.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
