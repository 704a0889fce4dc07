package integration

import (
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// TestRecoversWhenTheBridgeIsRecreated: a daemon whose bridge is deleted
// keeps running, says so, and snoops the bridge again once it is back.
func TestRecoversWhenTheBridgeIsRecreated(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	d := startDaemon(t, l, fastTimers...)
	if err := l.Run(l.Switch, "ip", "link", "del", l.Bridge); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "deletion noticed", func() (bool, string) {
		return strings.Contains(d.Log(), "waiting for the bridge to come back"), "not yet"
	})
	if d.Exited() {
		t.Fatalf("daemon exited: %s", d.Log())
	}
	for _, s := range [][]string{
		{"ip", "link", "add", l.Bridge, "type", "bridge", "mcast_snooping", "1"},
		{"ip", "link", "set", l.RouterPort, "master", l.Bridge},
		{"ip", "link", "set", l.SenderPort, "master", l.Bridge},
		{"ip", "link", "set", l.Hosts[0].Port, "master", l.Bridge},
		{"ip", "link", "set", l.Bridge, "up"},
	} {
		if err := l.Run(l.Switch, s[0], s[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "snooping again", func() (bool, string) {
		return strings.Contains(d.Log(), "bridge back"), "not yet"
	})
	m, err := l.Join(l.Hosts[0], g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave()
	waitFor(t, 10*time.Second, "a join learned on the new bridge", func() (bool, string) {
		_, ok, seen := member(t, d, g1, l.Hosts[0].Port)
		return ok, seen
	})
	if all, _ := portEntries(l, mdb(t, l)); len(all) != 1 || !strings.HasSuffix(all[0], fmt.Sprintf("/proto%d", ourProto)) {
		t.Fatalf("new bridge's MDB: %v", all)
	}
}

// TestSecondDaemonStopsBeforeTouchingTheBridge: a second daemon on the
// same socket refuses to start, and leaves the first one's state alone.
func TestSecondDaemonRefusedOnTheSameSocket(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	d := startDaemon(t, l, fastTimers...)
	m, err := l.Join(l.Hosts[0], g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave()
	waitFor(t, 10*time.Second, "h1 learned", func() (bool, string) {
		_, ok, seen := member(t, d, g1, l.Hosts[0].Port)
		return ok, seen
	})
	out, err := lab.Run("ip", "netns", "exec", l.Switch, d.Bin, "run", "--bridge", l.Bridge, "--socket", d.Socket)
	if err == nil || !strings.Contains(out, "another daemon is listening") {
		t.Fatalf("second daemon: %v\n%s", err, out)
	}
	if _, ok, seen := member(t, d, g1, l.Hosts[0].Port); !ok {
		t.Fatalf("the first daemon lost its state: %s", seen)
	}
	if all, _ := portEntries(l, mdb(t, l)); len(all) != 1 {
		t.Fatalf("MDB after the refused start: %v", all)
	}
}

// TestHandoverKeepsForwardingAcrossARestart: with --handover a stop leaves
// the entries (forwarding goes on) and the next start adopts them.
func TestHandoverKeepsForwardingAcrossARestart(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	caps := captures(t, l, h1.Name, h2.Name)
	args := append([]string{"--handover"}, fastTimers...)
	d := startDaemon(t, l, args...)
	joinLearnedQuerier(t, l, d, h1, g1)
	time.Sleep(1500 * time.Millisecond)
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if all, _ := portEntries(l, mdb(t, l)); len(all) != 1 {
		t.Fatalf("after a handover stop the MDB has %v, want h1's entry", all)
	}
	// Without the daemon, still pruned: the kernel holds the entry.
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0}, caps)
	d2 := startDaemon(t, l, args...)
	if _, ok, seen := member(t, d2, g1, h1.Port); !ok {
		t.Fatalf("restarted daemon did not adopt the handed-over entry: %s", seen)
	}
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0}, caps)
}

// TestControlSocketRefusesOtherUsers: only root may talk to the daemon;
// the socket's mode says so, and a peer-credentials check holds even if
// the mode is loosened.
func TestControlSocketRefusesOtherUsers(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	d := startDaemon(t, l, fastTimers...)
	asNobody := func() (string, error) {
		cmd := exec.Command(d.Bin, "show", "groups", "--socket", d.Socket)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := asNobody(); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("nobody through the 0600 socket: %v\n%s", err, out)
	}
	// Loosen the mode (and the directory): the daemon still refuses.
	for _, p := range []string{filepath.Dir(d.Socket), filepath.Dir(filepath.Dir(d.Socket))} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(d.Socket, 0o666); err != nil {
		t.Fatal(err)
	}
	out, err := asNobody()
	if err == nil || !strings.Contains(out, "control socket is for uid 0") {
		t.Fatalf("nobody through a 0666 socket: %v\n%q", err, out)
	}
	var gs groupsJSON
	if err := d.Show("groups", &gs); err != nil {
		t.Fatalf("root refused: %v", err)
	}
}

// TestMDBKeptEqualToTheTable: entries lost behind the daemon's back (an
// operator's delete, snooping switched off and on) come back, and the
// check says what it found.
func TestMDBKeptEqualToTheTable(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	d := startDaemon(t, l, fastTimers...)
	for _, h := range l.Hosts {
		m, err := l.Join(h, g1)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Leave()
	}
	waitFor(t, 10*time.Second, "both learned and installed", func() (bool, string) {
		all, _ := portEntries(l, mdb(t, l))
		return len(all) == 2, strings.Join(all, " ")
	})
	if out, err := d.ShowCLI("groups"); err != nil {
		t.Fatal(err, out)
	}
	// Someone deletes an entry: the check finds and repairs it.
	if err := l.Run(l.Switch, "bridge", "mdb", "del", "dev", l.Bridge, "port", l.Hosts[0].Port, "grp", g1.String()); err != nil {
		t.Fatal(err)
	}
	out, err := lab.Run(d.Bin, "check", "--socket", d.Socket)
	if err == nil || !strings.Contains(out, "1 missing") || !strings.Contains(out, "1 repaired") {
		t.Fatalf("check after a delete: %v\n%s", err, out)
	}
	if all, _ := portEntries(l, mdb(t, l)); len(all) != 2 {
		t.Fatalf("after repair: %v", all)
	}
	if out, err := lab.Run(d.Bin, "check", "--socket", d.Socket); err != nil || !strings.Contains(out, "consistent") {
		t.Fatalf("second check: %v\n%s", err, out)
	}
	// Snooping switched off and on: the kernel drops our temporary entries,
	// the daemon puts them back.
	for _, v := range []string{"0", "1"} {
		if err := l.Run(l.Switch, "ip", "link", "set", l.Bridge, "type", "bridge", "mcast_snooping", v); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "entries back after snooping came back", func() (bool, string) {
		all, _ := portEntries(l, mdb(t, l))
		return len(all) == 2, strings.Join(all, " ")
	})
	if !strings.Contains(d.Log(), "switched off") {
		t.Fatal("switching snooping off was not logged")
	}
}

// TestHostPortCannotHijackTheQuerier: a host on a port set to refuse
// queries sends queries from a lower address than ours: it wins nothing,
// and the kernel never takes its port for a router port (RFC 4541 §6).
func TestHostPortCannotHijackTheQuerier(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2, NoQuerier: true})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	cfg := writeConfig(t, labTimers+`
bridges:
  - name: br0
    querier: true
    querier_address: 10.77.0.50
    ports:
      h1: {refuse_queries: true}
`)
	d := startDaemon(t, l, "--config", cfg)
	stop, err := l.StartQuerierIn(h1.Name, netip.MustParseAddr("10.77.0.3"), time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	time.Sleep(3 * time.Second)
	if q := querierOf(t, d, "igmp"); !q.Self {
		t.Fatalf("a host port took the querier role: %+v", q)
	}
	var r struct{ Routers []snoop.RouterView }
	if err := d.Show("routers", &r); err != nil || len(r.Routers) != 0 {
		t.Fatalf("routers %+v (%v), want none", r.Routers, err)
	}
	kernelRouters, err := l.RouterPorts(l.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	if len(kernelRouters) != 0 {
		t.Fatalf("the kernel took %v for router ports", kernelRouters)
	}
	// The same host on an ordinary port would have won.
	stop2, err := l.StartQuerierIn(h2.Name, netip.MustParseAddr("10.77.0.3"), time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	waitFor(t, 5*time.Second, "the querier on an ordinary port wins", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return !q.Self && q.Address == "10.77.0.3", fmt.Sprintf("%+v", q)
	})
}
