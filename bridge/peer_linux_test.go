package bridge

import (
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// startSleeper runs `sleep 60` in a new, unnamed network namespace (or, with
// a name, in that named one) and returns its pid; it is killed when the
// test ends.
func startSleeper(t *testing.T, netns string) int {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "60")
	if netns != "" {
		cmd = exec.Command("ip", "netns", "exec", netns, "sleep", "60")
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// Until it has unshared (or entered) the namespace, it is still in ours.
	eventually(t, 5*time.Second, "the sleeper in its namespace", func() bool {
		return readComm(cmd.Process.Pid) == "sleep"
	})
	return cmd.Process.Pid
}

// Find names what is behind a veth port: a named namespace by its name,
// an unnamed one by a process in it, a peer in the port's own namespace
// by its name alone; a link that is no veth has no peer. A named
// namespace a process enters later shows that process at the next Find.
func TestPeerFinder(t *testing.T) {
	needRoot(t)
	br := newNS(t, "b")
	named := newNS(t, "n")
	br.IP("link", "add", "br0", "type", "bridge")
	br.IP("link", "add", "pn", "type", "veth", "peer", "name", "inside", "netns", named.Name)
	pid := startSleeper(t, "")
	br.IP("link", "add", "pp", "type", "veth", "peer", "name", "c0")
	br.IP("link", "set", "c0", "netns", strconv.Itoa(pid))
	br.IP("link", "add", "pl", "type", "veth", "peer", "name", "pl-peer")

	f := NewPeerFinder()
	find := func(port string) Peer {
		t.Helper()
		idx := br.Index(port)
		var p Peer
		br.Do(func() {
			var err error
			if p, err = f.Find(idx); err != nil {
				t.Fatalf("Find(%s): %v", port, err)
			}
		})
		return p
	}

	if p := find("pn"); p.Netns != named.Name || p.Ifname != "inside" || p.NetnsID < 0 || p.Pid != 0 {
		t.Errorf("peer of pn = %+v; want netns %s, ifname inside, an nsid, no process", p, named.Name)
	}
	if p := find("pp"); p.Pid != pid || p.Comm != "sleep" || p.Ifname != "c0" || p.Netns != "" || p.NetnsID < 0 {
		t.Errorf("peer of pp = %+v; want pid %d comm sleep ifname c0, no name", p, pid)
	}
	if p := find("pl"); p.Ifname != "pl-peer" || p.NetnsID != -1 || p.Netns != "" || p.Pid != 0 {
		t.Errorf("peer of pl = %+v; want ifname pl-peer in the same namespace", p)
	}
	if p := find("br0"); p.Known() {
		t.Errorf("peer of br0 = %+v; want none (no veth)", p)
	}

	inNamed := startSleeper(t, named.Name)
	if p := find("pn"); p.Netns != named.Name || p.Pid != inNamed || p.Comm != "sleep" {
		t.Errorf("peer of pn with a process in it = %+v; want netns %s, pid %d", p, named.Name, inNamed)
	}
}
