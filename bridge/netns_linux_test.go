package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// testNS is a network namespace made for one test and deleted after it.
type testNS struct {
	t    testing.TB
	Name string
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces")
	}
}

// newNS creates namespace "igs<tag><random>" with lo up and IPv6 off (so
// hosts send no MLD and neighbour discovery that would show up in the MDB
// and in captures).
func newNS(t testing.TB, tag string) *testNS {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random: %v", err)
	}
	n := &testNS{t: t, Name: "igs" + tag + hex.EncodeToString(b[:])}
	run(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	n.Exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	n.IP("link", "set", "lo", "up")
	return n
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Exec runs a command inside the namespace.
func (n *testNS) Exec(args ...string) string {
	n.t.Helper()
	return run(n.t, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// IP runs "ip ARGS" inside the namespace.
func (n *testNS) IP(args ...string) string {
	n.t.Helper()
	return n.Exec(append([]string{"ip"}, args...)...)
}

// Do runs fn on the calling goroutine's OS thread switched into the
// namespace, and switches back after. Sockets and BPF links created inside
// stay in the namespace. If switching back fails the thread stays locked,
// so the runtime discards it when the goroutine ends.
func (n *testNS) Do(fn func()) {
	n.t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		n.t.Fatalf("get current netns: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(n.Name)
	if err != nil {
		runtime.UnlockOSThread()
		n.t.Fatalf("open netns %s: %v", n.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		n.t.Fatalf("enter netns %s: %v", n.Name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			n.t.Errorf("leave netns %s: %v (thread left locked)", n.Name, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// Index returns a link's ifindex inside the namespace.
func (n *testNS) Index(name string) int {
	n.t.Helper()
	var idx int
	n.Do(func() {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			n.t.Fatalf("netns %s: %v", n.Name, err)
		}
		idx = ifi.Index
	})
	return idx
}

// MAC returns a link's hardware address inside the namespace.
func (n *testNS) MAC(name string) net.HardwareAddr {
	n.t.Helper()
	var mac net.HardwareAddr
	n.Do(func() {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			n.t.Fatalf("netns %s: %v", n.Name, err)
		}
		mac = ifi.HardwareAddr
	})
	return mac
}

// lab is a bridge namespace with br0 (10.77.0.1/24) and hosts h1..hN, each
// with eth0 (10.77.0.1N/24) cabled by veth to port pN of br0.
type lab struct {
	t     testing.TB
	br    *testNS
	hosts []*testNS
	brIdx int
	ports []int // ifindex of pN at ports[N-1]
}

func newLab(t testing.TB, hosts int) *lab {
	t.Helper()
	needRoot(t)
	l := &lab{t: t, br: newNS(t, "b")}
	l.br.IP("link", "add", "br0", "type", "bridge")
	l.br.IP("addr", "add", "10.77.0.1/24", "dev", "br0")
	l.br.IP("link", "set", "br0", "up")
	for i := 1; i <= hosts; i++ {
		l.addHost(i)
	}
	l.brIdx = l.br.Index("br0")
	l.waitForwarding()
	return l
}

// waitForwarding waits until every port's STP state is forwarding: the
// bridge enables a port only after the link-watch work has seen its carrier
// (up to a second), and refuses temporary MDB entries on disabled ports.
// listen opens a PortConn on port i of the lab's bridge, closed when the
// test ends.
func (l *lab) listen(i int) *PortConn {
	l.t.Helper()
	var pc *PortConn
	l.br.Do(func() {
		var err error
		if pc, err = ListenPort(l.ports[i]); err != nil {
			l.t.Fatalf("ListenPort: %v", err)
		}
	})
	l.t.Cleanup(func() { pc.Close() })
	return pc
}

func (l *lab) waitForwarding() {
	l.t.Helper()
	for i := range l.ports {
		l.br.waitForwarding("p" + strconv.Itoa(i+1))
	}
}

func (n *testNS) waitForwarding(port string) {
	n.t.Helper()
	eventually(n.t, 5*time.Second, port+" forwarding", func() bool {
		return strings.Contains(n.Exec("bridge", "link", "show", "dev", port), "state forwarding")
	})
}

func (l *lab) addHost(i int) {
	l.t.Helper()
	h := newNS(l.t, "h")
	p := "p" + strconv.Itoa(i)
	l.br.IP("link", "add", p, "type", "veth", "peer", "name", "eth0", "netns", h.Name)
	l.br.IP("link", "set", p, "master", "br0", "up")
	h.IP("addr", "add", "10.77.0.1"+strconv.Itoa(i)+"/24", "dev", "eth0")
	h.IP("link", "set", "eth0", "up")
	l.hosts = append(l.hosts, h)
	l.ports = append(l.ports, l.br.Index(p))
}

// eventually polls cond every 20ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for tries := 0; ; tries++ {
		if cond() {
			return
		}
		if time.Now().After(deadline) || tries > 10000 {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// enableIPv6 turns IPv6 back on in the namespace, for all its links (newNS
// turns it off). Links get their link-local address once they have carrier.
func (n *testNS) enableIPv6() {
	n.t.Helper()
	n.Exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0")
}

// linkLocal waits for the link's IPv6 link-local address to be usable (DAD
// done) and returns it.
func (n *testNS) linkLocal(dev string) netip.Addr {
	n.t.Helper()
	var ll netip.Addr
	eventually(n.t, 5*time.Second, dev+" link-local address", func() bool {
		out := n.IP("-6", "-o", "addr", "show", "dev", dev, "scope", "link")
		if strings.Contains(out, "tentative") {
			return false
		}
		for _, f := range strings.Fields(out) {
			if p, err := netip.ParsePrefix(f); err == nil && p.Addr().IsLinkLocalUnicast() {
				ll = p.Addr()
				return true
			}
		}
		return false
	})
	return ll
}
