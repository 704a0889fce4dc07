package integration

import (
	"encoding/json"
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// Daemon timers for the lab: GMI = 2 × 2 s + 1 s = 5 s, LMQT = 2 × 0.5 s = 1 s.
var fastTimers = []string{
	"--query-interval", "2s", "--query-response-interval", "1s", "--robustness", "2",
	"--last-member-interval", "500ms", "--last-member-count", "2", "--log-level", "debug",
}

const (
	gmi      = 5 * time.Second
	lmqt     = time.Second
	ourProto = 77
)

var (
	g1 = netip.MustParseAddr("239.1.1.1")
	g3 = netip.MustParseAddr("239.3.3.3")
	g9 = netip.MustParseAddr("239.9.9.9") // never joined: unregistered
)

// querierOf returns the daemon's view of the untagged querier of proto.
func querierOf(t *testing.T, d *lab.Daemon, proto string) snoop.QuerierView {
	t.Helper()
	var qs struct{ Queriers []snoop.QuerierView }
	if err := d.Show("querier", &qs); err != nil {
		t.Fatalf("show querier: %v", err)
	}
	for _, q := range qs.Queriers {
		if q.Protocol == proto && q.VLAN == 0 {
			return q
		}
	}
	t.Fatalf("show querier has no %s entry: %+v", proto, qs)
	return snoop.QuerierView{}
}

type groupsJSON struct {
	Groups []snoop.GroupView `json:"groups"`
}

// joinLearned makes h join g, waits until the daemon has learned it, and
// leaves the group when the test ends.
func joinLearned(t *testing.T, l *lab.Lab, d *lab.Daemon, h lab.Host, g netip.Addr) *lab.Membership {
	t.Helper()
	m := joinHost(t, l, d, h, g)
	waitFor(t, 10*time.Second, fmt.Sprintf("%v learned on %s", g, h.Port), func() (bool, string) {
		_, ok, seen := member(t, d, g, h.Port)
		return ok, seen
	})
	return m
}

// member returns the membership of group on port, if the daemon shows one.
func member(t *testing.T, d *lab.Daemon, group netip.Addr, port string) (snoop.GroupView, bool, string) {
	t.Helper()
	var gs groupsJSON
	if err := d.Show("groups", &gs); err != nil {
		t.Fatalf("show groups: %v", err)
	}
	var seen []string
	for _, g := range gs.Groups {
		seen = append(seen, g.Group+"@"+g.Port)
		if g.Group == group.String() && g.Port == port {
			return g, true, fmt.Sprint(seen)
		}
	}
	return snoop.GroupView{}, false, fmt.Sprint(seen)
}

// mdb dumps the switch bridge's MDB from inside its namespace.
func mdb(t *testing.T, l *lab.Lab) []bridge.Entry {
	t.Helper()
	var entries []bridge.Entry
	withMDB(t, l, l.Bridge, func(m *bridge.MDB, br int) (err error) {
		entries, err = m.Dump(br)
		return err
	})
	return entries
}

// withMDB runs f with an MDB handle and the ifindex of bridge name, inside
// the switch namespace.
func withMDB(t *testing.T, l *lab.Lab, name string, f func(m *bridge.MDB, br int) error) {
	t.Helper()
	err := lab.InNetns(l.Switch, func() error {
		br, _, err := bridge.Lookup(name)
		if err != nil {
			return err
		}
		m, err := bridge.OpenMDB()
		if err != nil {
			return err
		}
		defer m.Close()
		return f(m, br.Index)
	})
	if err != nil {
		t.Fatalf("MDB of %s: %v", name, err)
	}
}

// portEntries returns the MDB entries on bridge ports (not host joins) as
// "group@ifindex/proto" strings, and the entries for group.
func portEntries(l *lab.Lab, entries []bridge.Entry) (all []string, byGroup map[netip.Addr][]bridge.Entry) {
	byGroup = make(map[netip.Addr][]bridge.Entry)
	for _, e := range entries {
		if e.Port == e.Bridge {
			continue
		}
		all = append(all, fmt.Sprintf("%v@%d/proto%d", e.Group, e.Port, e.Proto))
		byGroup[e.Group] = append(byGroup[e.Group], e)
	}
	return all, byGroup
}

// expectDelivery sends n frames to group and checks how many each capture got.
func expectDelivery(t *testing.T, l *lab.Lab, group netip.Addr, n int, want map[string]int, caps map[string]*lab.Capture) {
	t.Helper()
	for _, c := range caps {
		c.Reset()
	}
	if err := l.Send(group, n, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the last frames cross the veths
	for name, c := range caps {
		if got := c.Count(group); got != want[name] {
			t.Errorf("%v: %s received %d of %d frames, want %d", group, name, got, n, want[name])
		}
	}
}

// TestSnoopingEndToEnd proves the daemon against real kernel hosts: it
// alone learns, the MDB follows, and multicast reaches only members and the
// router port, through joins, leaves (v3 and v2), and a host going silent.
func TestSnoopingEndToEnd(t *testing.T) { snoopingEndToEnd(t, nowMode) }

func snoopingEndToEnd(t *testing.T, mode snoopMode) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := map[string]*lab.Capture{}
	for _, ns := range []string{h1.Name, h2.Name, h3.Name, l.Router} {
		c, err := l.Capture(ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		caps[ns] = c
	}
	d := startDaemon(t, l, mode.args(fastTimers...)...)
	mode.expectGuards(t, l, 1, "running")

	waitFor(t, 10*time.Second, "querier heard on the router port", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		var r struct{ Routers []snoop.RouterView }
		if err := d.Show("routers", &r); err != nil {
			return false, err.Error()
		}
		ok := q.Present && q.Address == l.RouterAddr.String() && len(r.Routers) == 1 && r.Routers[0].Port == l.RouterPort
		return ok, fmt.Sprintf("querier %+v routers %+v", q, r.Routers)
	})

	if err := l.ForceIGMPVersion(h3, 2); err != nil {
		t.Fatal(err)
	}
	m1, err := l.Join(h1, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Leave()
	m2, err := l.Join(h2, g1)
	if err != nil {
		t.Fatal(err)
	}
	m3, err := l.Join(h3, g3)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		host    lab.Host
		group   netip.Addr
		version int
	}{{h1, g1, 3}, {h2, g1, 3}, {h3, g3, 2}} {
		waitFor(t, 10*time.Second, fmt.Sprintf("%v learned on %s", w.group, w.host.Port), func() (bool, string) {
			g, ok, seen := member(t, d, w.group, w.host.Port)
			return ok && g.Version == w.version && len(g.Reporters) > 0 && g.Reporters[0] == w.host.Addr.String() && g.ExpiresMs > 0, seen
		})
	}

	t.Run("MDB holds only our entries", func(t *testing.T) {
		all, byGroup := portEntries(l, mdb(t, l))
		for _, e := range all {
			if !strings.HasSuffix(e, fmt.Sprintf("/proto%d", mode.proto)) {
				t.Errorf("MDB entry not ours: %s (all: %v)", e, all)
			}
		}
		if len(byGroup[g1]) != 2 || len(byGroup[g3]) != 1 {
			t.Errorf("MDB entries %v, want two for %v and one for %v", all, g1, g3)
		}
		for _, e := range byGroup[g1] {
			if e.Permanent {
				t.Errorf("entry %v is permanent; ours are temporary so they die with the daemon", e)
			}
		}
	})

	t.Run("reports go to the router port only", func(t *testing.T) {
		// RFC 4541 C1: the guard keeps reports from the bridge, so the
		// daemon relays them upstream itself, and never to other hosts,
		// which would suppress their own reports.
		if n := caps[l.Router].IGMPFrom(h1.Addr); n == 0 {
			t.Error("the router got no report from h1")
		}
		for _, h := range []lab.Host{h1, h2, h3} {
			for _, from := range []lab.Host{h1, h2, h3} {
				if n := caps[h.Name].IGMPFrom(from.Addr); n != 0 && h != from {
					t.Errorf("%s received %d IGMP frames from %s", h.Name, n, from.Name)
				}
			}
		}
	})

	t.Run("control socket is private", func(t *testing.T) {
		fi, err := os.Stat(d.Socket)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Fatalf("control socket mode %v, want a socket with 0600", fi.Mode())
		}
	})

	t.Run("show groups --json is the documented object", func(t *testing.T) {
		out, err := d.ShowCLI("groups", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var top map[string][]map[string]any
		if err := json.Unmarshal([]byte(out), &top); err != nil || len(top) != 1 || len(top["groups"]) != 3 {
			t.Fatalf("show groups --json: %v\n%s", err, out)
		}
		for _, field := range []string{"bridge", "group", "port", "source", "mode", "version", "expires_ms", "reporters"} {
			if _, ok := top["groups"][0][field]; !ok {
				t.Errorf("item lacks %q: %v", field, top["groups"][0])
			}
		}
	})

	t.Run("show groups prints a table", func(t *testing.T) {
		out, err := d.ShowCLI("groups")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 5 || lines[0] != "bridge br0" || !strings.HasPrefix(lines[1], "GROUP") || !strings.Contains(out, "239.1.1.1") {
			t.Fatalf("table:\n%s", out)
		}
		col := strings.Index(lines[1], "PORT")
		for _, ln := range lines[2:] {
			if !strings.HasPrefix(ln, "239.") || !strings.HasPrefix(ln[col:], "h") {
				t.Fatalf("columns not aligned:\n%s", out)
			}
		}
	})

	t.Run("members receive, others do not", func(t *testing.T) {
		expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 20, h3.Name: 0, l.Router: 20}, caps)
		expectDelivery(t, l, g3, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 20, l.Router: 20}, caps)
		expectDelivery(t, l, g9, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
	})

	t.Run("IGMPv3 leave prunes within the last member query time", func(t *testing.T) {
		if err := m2.Leave(); err != nil {
			t.Fatal(err)
		}
		took := waitFor(t, lmqt+2*time.Second, "h2 pruned from "+g1.String(), func() (bool, string) {
			_, ok, seen := member(t, d, g1, h2.Port)
			return !ok, seen
		})
		t.Logf("pruned %v after the leave", took)
		if _, ok, seen := member(t, d, g1, h1.Port); !ok {
			t.Fatalf("h1 lost %v when h2 left: %s", g1, seen)
		}
		expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
	})

	t.Run("IGMPv2 leave prunes within the last member query time", func(t *testing.T) {
		if err := m3.Leave(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, lmqt+2*time.Second, "h3 pruned from "+g3.String(), func() (bool, string) {
			_, ok, seen := member(t, d, g3, h3.Port)
			return !ok, seen
		})
		expectDelivery(t, l, g3, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
	})

	t.Run("a silent host ages out", func(t *testing.T) {
		if err := l.Silence(h1); err != nil {
			t.Fatal(err)
		}
		g, ok, seen := member(t, d, g1, h1.Port)
		if !ok {
			t.Fatalf("h1 gone before it fell silent: %s", seen)
		}
		left := time.Duration(g.ExpiresMs) * time.Millisecond
		if left > gmi {
			t.Fatalf("expires in %v, more than the group membership interval %v", left, gmi)
		}
		took := waitFor(t, gmi+3*time.Second, "h1 aged out of "+g1.String(), func() (bool, string) {
			_, ok, seen := member(t, d, g1, h1.Port)
			return !ok, seen
		})
		// Silent means no refresh: it goes when its last report's GMI ends,
		// not before (the poll adds up to a few hundred ms).
		if took < left-200*time.Millisecond || took > left+1500*time.Millisecond {
			t.Fatalf("aged out %v after going silent, want about %v (its last report's deadline)", took, left)
		}
		t.Logf("aged out %v after going silent, %v expected", took, left)
		expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
		if all, _ := portEntries(l, mdb(t, l)); len(all) != 0 {
			t.Fatalf("MDB still has port entries after every member left: %v", all)
		}
	})
}

// TestStopRemovesEntriesAndRestartAdopts checks the daemon's start and stop:
// SIGTERM removes what it installed; a restart after a crash adopts the
// entries left behind so members keep receiving, and a leave afterwards
// still prunes.
func TestStopRemovesEntriesAndRestartAdopts(t *testing.T) {
	stopRemovesEntriesAndRestartAdopts(t, nowMode)
}

func stopRemovesEntriesAndRestartAdopts(t *testing.T, mode snoopMode) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1 := l.Hosts[0]
	d := startDaemon(t, l, mode.args(fastTimers...)...)
	m := joinLearned(t, l, d, h1, g1)

	// A crash leaves our entry behind; the restarted daemon adopts it.
	d.Kill()
	if all, _ := portEntries(l, mdb(t, l)); len(all) != 1 {
		t.Fatalf("after SIGKILL the MDB has %v, want the one entry left behind", all)
	}
	mode.expectProto(t, l, "after SIGKILL")
	d2 := startDaemon(t, l, mode.args(fastTimers...)...)
	mode.expectGuards(t, l, 1, "restarted")
	if _, ok, seen := member(t, d2, g1, h1.Port); !ok {
		t.Fatalf("restarted daemon did not adopt %v on %s: %s", g1, h1.Port, seen)
	}
	if err := m.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, lmqt+2*time.Second, "adopted membership pruned by a leave", func() (bool, string) {
		_, ok, seen := member(t, d2, g1, h1.Port)
		return !ok, seen
	})

	m2, err := l.Join(l.Hosts[1], g3)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Leave()
	waitFor(t, 10*time.Second, "h2 learned", func() (bool, string) {
		_, ok, seen := member(t, d2, g3, l.Hosts[1].Port)
		return ok, seen
	})
	if err := d2.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, d2.Log())
	}
	for _, e := range mdb(t, l) {
		if e.Port != e.Bridge && e.Proto == mode.proto {
			t.Fatalf("entry %v@%d left behind after SIGTERM", e.Group, e.Port)
		}
	}
	mode.expectGuards(t, l, 0, "after SIGTERM")
}

// TestWarnsWithoutQuerier checks the daemon tells the operator that the
// bridge floods because nobody queries.
func TestWarnsWithoutQuerier(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1, NoQuerier: true})
	d := startDaemon(t, l, fastTimers...)
	waitFor(t, 8*time.Second, "no-querier warning in the log", func() (bool, string) {
		return strings.Contains(d.Log(), "no querier heard"), "log without the warning"
	})
	if q := querierOf(t, d, "igmp"); q.Present {
		t.Fatalf("show querier = %+v; want none present", q)
	}
}

// joinLearnedQuerier is joinLearned that also waits until the daemon has
// heard the querier, for tests that go on to rely on forwarding by the MDB.
func joinLearnedQuerier(t *testing.T, l *lab.Lab, d *lab.Daemon, h lab.Host, g netip.Addr) *lab.Membership {
	t.Helper()
	m := joinLearned(t, l, d, h, g)
	waitFor(t, 10*time.Second, "the querier heard", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return q.Present, fmt.Sprintf("%+v", q)
	})
	return m
}
