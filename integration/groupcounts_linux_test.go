package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/lab"
)

// TestGroupCountsAndUptime: two hosts behind one port (a hub) and one on
// a port of its own join a group, and the latter another group. With
// group_metrics off there is no per-group metric; a reload turns it on,
// and then igmpsnoop_group_members and igmpsnoop_group_hosts equal the
// member ports and the hosts (reporters per port) derived from `show
// groups --json`. Each row's since_ms grows between two reads a few
// seconds apart, across the hosts' refreshes, and is never more than the
// time since the join.
func TestGroupCountsAndUptime(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	h1 := l.Hosts[0]
	hub := paHub(t, l, "hb0", 2)
	body := labTimers + "bridges:\n  - name: br0\n    group_metrics: %t\n"
	cfg := writeConfig(t, fmt.Sprintf(body, false))
	d := startDaemon(t, l, "--config", cfg, "--metrics-address", "127.0.0.1:9477")
	rrPortsUp(t, d, "hb0", h1.Port)
	g2 := groupAddr(2)
	joined := time.Now()
	joinHost(t, l, d, hub[0], g1)
	joinHost(t, l, d, hub[1], g1)
	joinHost(t, l, d, h1, g1)
	joinHost(t, l, d, h1, g2)
	waitFor(t, 10*time.Second, "both hub hosts tracked on hb0, h1 in both groups", func() (bool, string) {
		r, ok, seen := member(t, d, g1, "hb0")
		_, ok1, _ := member(t, d, g1, h1.Port)
		_, ok2, _ := member(t, d, g2, h1.Port)
		return ok && ok1 && ok2 && paSameSet(r.Reporters, hub[0].Addr, hub[1].Addr), fmt.Sprintf("%s %+v", seen, r)
	})
	if _, ok := scrapeMetrics(t, l)("igmpsnoop_group_members", nil); ok {
		t.Fatal("igmpsnoop_group_members exported with group_metrics off")
	}

	rewriteConfig(t, cfg, fmt.Sprintf(body, true))
	if out, err := lab.Run(d.Bin, "reload", "--socket", d.Socket); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	first, read1 := gcShowGroups(t, d)
	value := scrapeMetrics(t, l)
	want := map[netip.Addr][2]float64{g1: {2, 3}, g2: {1, 1}} // member ports, hosts
	for g, w := range want {
		labels := map[string]string{"bridge": "br0", "group": g.String(), "vlan": "0"}
		members, ok1 := value("igmpsnoop_group_members", labels)
		hosts, ok2 := value("igmpsnoop_group_hosts", labels)
		shown := first.counts[g.String()]
		if !ok1 || !ok2 || members != shown[0] || hosts != shown[1] || shown != w {
			t.Errorf("%v: scraped %v member ports and %v hosts (present %v %v); show groups --json: %v; want %v", g, members, hosts, ok1, ok2, shown, w)
		}
	}

	time.Sleep(3 * time.Second) // more than a query interval: every host has refreshed
	second, read2 := gcShowGroups(t, d)
	sinceJoin := time.Since(joined).Milliseconds()
	for row, s1 := range first.since {
		s2, ok := second.since[row]
		if !ok {
			t.Errorf("%s: gone from show groups", row)
			continue
		}
		// The reads are read2-read1 apart; allow for the time a read takes.
		if grew := s2 - s1; grew < read2.Sub(read1).Milliseconds()-500 || s2 > sinceJoin {
			t.Errorf("%s: since_ms %d then %d, %v apart, %d ms after the join: want it grown by the time between and at most the time since the join",
				row, s1, s2, read2.Sub(read1), sinceJoin)
		}
	}
	if len(first.since) != 3 {
		t.Errorf("rows %v, want g1 on hb0 and h1, g2 on h1", first.since)
	}
}

// gcGroups is what `show groups --json` says, reduced: per group, its
// member ports and the hosts behind them (each port's distinct
// reporters, summed), and each row's since_ms by group@port.
type gcGroups struct {
	counts map[string][2]float64
	since  map[string]int64
}

// gcShowGroups runs `igmpsnoop show groups --json` and reduces it; it
// returns when the command was started, too.
func gcShowGroups(t *testing.T, d *lab.Daemon) (gcGroups, time.Time) {
	t.Helper()
	at := time.Now()
	out, err := d.ShowCLI("groups", "--json")
	if err != nil {
		t.Fatalf("show groups --json: %v\n%s", err, out)
	}
	var gs groupsJSON
	if err := json.Unmarshal([]byte(out), &gs); err != nil {
		t.Fatalf("show groups --json: %v\n%s", err, out)
	}
	reporters := map[string]map[string]map[string]bool{} // group, port, host
	r := gcGroups{counts: map[string][2]float64{}, since: map[string]int64{}}
	for _, g := range gs.Groups {
		if g.VLAN != 0 || g.Bridge != "br0" {
			t.Fatalf("a row of another bridge or VLAN: %+v", g)
		}
		if reporters[g.Group] == nil {
			reporters[g.Group] = map[string]map[string]bool{}
		}
		if reporters[g.Group][g.Port] == nil {
			reporters[g.Group][g.Port] = map[string]bool{}
		}
		for _, h := range g.Reporters {
			reporters[g.Group][g.Port][h] = true
		}
		r.since[g.Group+"@"+g.Port] = g.SinceMs
	}
	for g, ports := range reporters {
		hosts := 0
		for _, hs := range ports {
			hosts += len(hs)
		}
		r.counts[g] = [2]float64{float64(len(ports)), float64(hosts)}
	}
	if len(r.since) == 0 {
		t.Fatalf("show groups --json: no groups: %s", out)
	}
	return r, at
}
