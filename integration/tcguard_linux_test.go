package integration

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/lab"
)

// tcGuardName is the name the daemon gives its tc filters (bridge's
// tcGuardName), as `tc filter show` prints it.
const tcGuardName = "igmpsnoop_guard"

var tcGuardArgs = append([]string{"--guard", "tc"}, resTimers...)

// switchPorts are the lab bridge's ports: each gets a guard.
func switchPorts(l *lab.Lab) []string {
	ports := []string{l.RouterPort, l.SenderPort}
	for _, h := range l.Hosts {
		ports = append(ports, h.Port)
	}
	return ports
}

// guardFilters counts the tc filters of ours on each port, and the TCX
// programs.
func guardFilters(t *testing.T, l *lab.Lab) (filters, tcx map[string]int) {
	t.Helper()
	filters, tcx = map[string]int{}, map[string]int{}
	for _, p := range switchPorts(l) {
		out, err := l.Exec(l.Switch, "tc", "filter", "show", "dev", p, "ingress")
		if err != nil {
			t.Fatalf("tc filter show dev %s ingress: %v", p, err)
		}
		filters[p] = strings.Count(out, tcGuardName)
		idx := portIndex(t, l, p)
		err = lab.InNetns(l.Switch, func() error {
			res, err := link.QueryPrograms(link.QueryOptions{Target: idx, Attach: ebpf.AttachTCXIngress})
			if err == nil {
				tcx[p] = len(res.Programs)
			}
			return err
		})
		if err != nil {
			t.Fatalf("tcx programs on %s: %v", p, err)
		}
	}
	return filters, tcx
}

func expectGuardFilters(t *testing.T, l *lab.Lab, want int, when string) {
	t.Helper()
	filters, tcx := guardFilters(t, l)
	for _, p := range switchPorts(l) {
		if filters[p] != want || tcx[p] != 0 {
			t.Errorf("%s: %s has %d tc guard filters and %d TCX programs, want %d and 0", when, p, filters[p], tcx[p], want)
		}
	}
}

// kernelLearned reports whether the kernel learned group on port itself.
func kernelLearned(t *testing.T, l *lab.Lab, group netip.Addr, port int) (bool, string) {
	all, byGroup := portEntries(l, mdb(t, l))
	for _, e := range byGroup[group] {
		if e.Port == port && e.Proto == bridge.ProtoKernel {
			return true, ""
		}
	}
	return false, strings.Join(all, " ")
}

// TestTCGuard: with --guard tc the daemon snoops as with TCX (members
// receive, others do not, the kernel learns nothing while it runs); killed
// (SIGKILL) and not restarted, its filters stay but stand down, and the
// kernel learns the next join within twice the heartbeat timeout; a new
// daemon replaces the filters left behind, and removes its own at SIGTERM.
func TestTCGuard(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, h3.Name, l.Router)
	d := startDaemon(t, l, tcGuardArgs...)
	started := time.Now()
	if out, err := d.ShowCLI("config"); err != nil || !strings.Contains(out, "guard: tc\n") || !strings.Contains(out, "# guard in force: tc\n") {
		t.Errorf("show config: %v\n%s", err, out)
	}
	expectGuardFilters(t, l, 1, "running")
	m1 := joinLearnedQuerier(t, l, d, h1, g1)
	defer m1.Leave()

	// Past the heartbeat timeout, hosts answering every query: the kernel
	// learns nothing.
	if wait := 2*bridge.GuardHeartbeatTimeout - time.Since(started); wait > 0 {
		time.Sleep(wait)
	}
	if ok, all := kernelLearned(t, l, g1, portIndex(t, l, h1.Port)); ok {
		t.Fatalf("the kernel learned g1 itself while the daemon ran: %s", all)
	}
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)

	d.Kill()
	killed := time.Now()
	expectGuardFilters(t, l, 1, "after SIGKILL")
	g5 := netip.MustParseAddr("239.5.5.5")
	m3, err := l.Join(h3, g5)
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Leave()
	h3i := portIndex(t, l, h3.Port)
	waitFor(t, 2*bridge.GuardHeartbeatTimeout-time.Since(killed), "h3's join learned by the kernel", func() (bool, string) {
		return kernelLearned(t, l, g5, h3i)
	})
	t.Logf("kernel learned h3's join %v after the kill (heartbeat timeout %v)", time.Since(killed).Round(time.Millisecond), bridge.GuardHeartbeatTimeout)
	expectDelivery(t, l, g5, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 20, l.Router: 20}, caps)

	d2 := startDaemon(t, l, tcGuardArgs...)
	expectGuardFilters(t, l, 1, "restarted")
	if err := d2.Stop(); err != nil {
		t.Fatal(err)
	}
	expectGuardFilters(t, l, 0, "after SIGTERM")
}

// TestTCGuardHandover: with --guard tc --handover a stop removes the
// filters first and leaves the entries, which the kernel's snooping then
// keeps: forwarding goes on, and the kernel learns new joins at once.
func TestTCGuardHandover(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	caps := captures(t, l, h1.Name, h2.Name)
	d := startDaemon(t, l, append([]string{"--handover"}, tcGuardArgs...)...)
	m1 := joinLearnedQuerier(t, l, d, h1, g1)
	defer m1.Leave()
	expectGuardFilters(t, l, 1, "running")
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	expectGuardFilters(t, l, 0, "after a handover stop")
	if all, _ := portEntries(l, mdb(t, l)); len(all) != 1 {
		t.Fatalf("after a handover stop the MDB has %v, want h1's entry", all)
	}
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0}, caps)
	h2i := portIndex(t, l, h2.Port)
	joined := time.Now()
	m2, err := l.Join(h2, g3)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Leave()
	// No heartbeat to outlive: the filters are gone, the join's own report
	// is learned.
	waitFor(t, time.Second, "h2's join learned by the kernel", func() (bool, string) {
		return kernelLearned(t, l, g3, h2i)
	})
	t.Logf("kernel learned h2's join %v after it, %v after the stop", time.Since(joined).Round(time.Millisecond),
		time.Since(stopped).Round(time.Millisecond))
}
