package integration

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/lab"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// Container hosts: a port shows what is behind it. A host namespace's
// port shows that namespace's name and the peer's eth0, in `show ports`
// and `show groups`; a port whose peer lives in an unnamed namespace shows
// a process in it. That port is plugged the way container runtimes do it:
// the host end joins the bridge while its peer is still beside it, then
// the peer moves into the process's namespace and comes up there.
func TestPortPeers(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	h1 := l.Hosts[0]
	d := startDaemon(t, l)

	// A process in a namespace of its own, with no name.
	sleeper := exec.Command("unshare", "--net", "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	})
	pid := strconv.Itoa(sleeper.Process.Pid)
	waitFor(t, 5*time.Second, "the sleeper in its namespace", func() (bool, string) {
		out, err := lab.Run("cat", "/proc/"+pid+"/comm")
		return err == nil && strings.TrimSpace(out) == "sleep", out
	})
	run := func(steps ...[]string) {
		t.Helper()
		for _, step := range steps {
			if _, err := lab.Run(step[0], step[1:]...); err != nil {
				t.Fatal(err)
			}
		}
	}
	run([]string{"ip", "netns", "exec", l.Switch, "ip", "link", "add", "c1", "type", "veth", "peer", "name", "c1p"},
		[]string{"ip", "netns", "exec", l.Switch, "ip", "link", "set", "c1", "master", l.Bridge, "up"})
	waitFor(t, 10*time.Second, "c1 with its peer beside it", func() (bool, string) {
		p := portPeer(t, d, "c1")
		return p != nil && p.Short() == "local/c1p", fmt.Sprintf("%+v", p)
	})
	run([]string{"ip", "netns", "exec", l.Switch, "ip", "link", "set", "c1p", "netns", pid},
		[]string{"nsenter", "-t", pid, "-n", "ip", "link", "set", "c1p", "up"})

	m, err := l.Join(h1, netip.MustParseAddr("239.7.7.7"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave()

	wantH1 := fmt.Sprintf("ns:%s/eth0", h1.Name)
	wantC1 := fmt.Sprintf("pid:%s(sleep)/c1p", pid)
	waitFor(t, 10*time.Second, "the peers in show ports", func() (bool, string) {
		h, c := portPeer(t, d, h1.Port), portPeer(t, d, "c1")
		ok := h != nil && h.Netns == h1.Name && h.Ifname == "eth0" && h.Pid == 0 && h.NetnsID >= 0 &&
			c != nil && strconv.Itoa(c.Pid) == pid && c.Comm == "sleep" && c.Ifname == "c1p" && c.Netns == ""
		return ok, fmt.Sprintf("%s: %+v, c1: %+v", h1.Port, h, c)
	})
	waitFor(t, 10*time.Second, "h1's peer in show groups", func() (bool, string) {
		var gs struct{ Groups []snoop.GroupView }
		if err := d.Show("groups", &gs); err != nil {
			return false, err.Error()
		}
		for _, g := range gs.Groups {
			if g.Group == "239.7.7.7" && g.Port == h1.Port {
				return g.Peer != nil && g.Peer.Netns == h1.Name, fmt.Sprintf("%+v", g.Peer)
			}
		}
		return false, fmt.Sprintf("%+v", gs.Groups)
	})

	out, err := d.ShowCLI("ports")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "PEER") || !strings.Contains(out, wantH1) || !strings.Contains(out, wantC1) {
		t.Errorf("show ports:\n%s\nwant a PEER column with %s and %s", out, wantH1, wantC1)
	}
	if out, err = d.ShowCLI("groups"); err != nil || !strings.Contains(out, wantH1) {
		t.Errorf("show groups (%v):\n%s\nwant %s", err, out, wantH1)
	}
}

// portPeer is the peer `show ports` shows for port (nil: none).
func portPeer(t *testing.T, d *lab.Daemon, port string) *snoop.PeerView {
	t.Helper()
	var ps struct{ Ports []snoop.PortView }
	if err := d.Show("ports", &ps); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.Ports {
		if p.Port == port {
			return p.Peer
		}
	}
	return nil
}
