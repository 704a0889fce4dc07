package bridge

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcIngressFilters is what `tc filter show dev DEV ingress` prints in ns.
func tcIngressFilters(ns *testNS, dev string) string {
	ns.t.Helper()
	return ns.Exec("tc", "filter", "show", "dev", dev, "ingress")
}

// guardFilterProg returns the id of the program in the filter in the
// guard's place on ifindex (0: no filter there), and whether it is ours.
func guardFilterProg(t *testing.T, ns *testNS, ifindex int) (id int, ours bool) {
	t.Helper()
	ns.Do(func() {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		f, err := findTCGuard(h, ifindex)
		if err != nil {
			t.Fatal(err)
		}
		if bf, ok := f.(*netlink.BpfFilter); ok {
			id, ours = bf.Id, isOurFilter(f)
		}
	})
	return id, ours
}

func progID(t *testing.T, g *Guard) int {
	t.Helper()
	info, err := g.prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return int(id)
}

// TestHaveTCX: the probe finds TCX on this kernel (6.6 or later), and
// auto chooses it.
func TestHaveTCX(t *testing.T) {
	needRoot(t)
	ok, err := HaveTCX()
	if err != nil || !ok {
		t.Fatalf("HaveTCX = %v, %v; want true on this kernel", ok, err)
	}
	s, err := NewGuards(GuardAuto)
	if err != nil || s.Mode() != GuardTCX {
		t.Fatalf("NewGuards(auto) mode %v, %v; want tcx", s, err)
	}
	if _, err := NewGuards("tcp"); err == nil {
		t.Error("NewGuards(tcp) worked")
	}
}

// TestGuardTCHeartbeat: once the heartbeat stops, as when the daemon dies,
// the filter stays but its program keeps dropping only until the heartbeat
// is GuardHeartbeatTimeout old; then the kernel learns from the port.
func TestGuardTCHeartbeat(t *testing.T) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	h1 := openRaw(t, l.hosts[0], "eth0")
	p1 := l.ports[0]
	var s *Guards
	l.br.Do(func() {
		var err error
		if s, err = NewGuards(GuardTC); err != nil {
			t.Fatal(err)
		}
	})
	g := attachWith(t, l.br, s, p1)
	grp := netip.MustParseAddr("239.77.5.1")
	report := igmpV2(h1.mac, h1IP, 0x16, grp)

	// Refreshed, it guards for longer than the timeout.
	time.Sleep(GuardHeartbeatTimeout + GuardHeartbeatPeriod)
	h1.send(report)
	eventually(t, 3*time.Second, "the report dropped", func() bool { return dropped(t, g) == 1 })

	s.stopHeartbeat()
	stopped := time.Now()
	h1.send(report)
	eventually(t, 3*time.Second, "a report dropped just after the heartbeat stopped", func() bool { return dropped(t, g) == 2 })
	if e, ok := learned(t, m, l.brIdx, p1, grp); ok {
		t.Fatalf("kernel learned %s while the heartbeat was fresh", e)
	}
	for time.Since(stopped) < 2*GuardHeartbeatTimeout {
		h1.send(report)
		time.Sleep(100 * time.Millisecond)
		if e, ok := learned(t, m, l.brIdx, p1, grp); ok && e.Proto == ProtoKernel {
			break
		}
	}
	took := time.Since(stopped)
	if _, ok := learned(t, m, l.brIdx, p1, grp); !ok {
		t.Fatalf("kernel did not learn within %v of the heartbeat stopping", took)
	}
	t.Logf("kernel learned %v after the heartbeat stopped", took.Round(time.Millisecond))
	// The last beat was at most a period before the stop.
	if low := GuardHeartbeatTimeout - GuardHeartbeatPeriod - 200*time.Millisecond; took < low {
		t.Errorf("the guard stood down %v after the heartbeat stopped, before %v", took, low)
	}
	if id, ours := guardFilterProg(t, l.br, p1); id != progID(t, g) || !ours {
		t.Errorf("guard filter program %d (ours %v), want %d: the filter must stay", id, ours, progID(t, g))
	}
}

// attachWith attaches a guard from s to port, in ns; it goes when the test
// ends.
func attachWith(t *testing.T, ns *testNS, s *Guards, port int) *Guard {
	t.Helper()
	var g *Guard
	ns.Do(func() {
		var err error
		if g, err = s.Attach(port, GuardOptions{}); err != nil {
			t.Fatalf("attach a guard to %d: %v", port, err)
		}
	})
	t.Cleanup(func() { g.Close() })
	return g
}

// TestGuardTCLeftover: a daemon starting finds the filter of one that died
// (same place, same names), replaces it with its own, keeps someone else's
// filter and adopts the clsact qdisc; closing, it removes its filter only.
func TestGuardTCLeftover(t *testing.T) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	h1 := openRaw(t, l.hosts[0], "eth0")
	p1 := l.ports[0]
	l.br.Exec("tc", "qdisc", "add", "dev", "p1", "clsact")
	addForeignFilter(t, l.br, p1, 2, "someone_else")

	newSet := func() *Guards {
		var s *Guards
		l.br.Do(func() {
			var err error
			if s, err = NewGuards(GuardTC); err != nil {
				t.Fatal(err)
			}
		})
		return s
	}
	dead := newSet()
	old := attachWith(t, l.br, dead, p1)
	dead.stopHeartbeat() // it died: its filter stays, its heartbeat goes stale
	oldID := progID(t, old)

	s := newSet()
	g := attachWith(t, l.br, s, p1)
	if id, ours := guardFilterProg(t, l.br, p1); id != progID(t, g) || !ours || id == oldID {
		t.Fatalf("guard filter program %d (ours %v), want the new one %d (old %d)", id, ours, progID(t, g), oldID)
	}
	out := tcIngressFilters(l.br, "p1")
	if n := strings.Count(out, tcGuardName); n != 1 {
		t.Errorf("%d guard filters on p1, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "someone_else") {
		t.Errorf("someone else's filter gone:\n%s", out)
	}
	// The new guard guards, well past the old heartbeat's timeout.
	time.Sleep(GuardHeartbeatTimeout + GuardHeartbeatPeriod)
	grp := netip.MustParseAddr("239.77.5.2")
	h1.send(igmpV2(h1.mac, h1IP, 0x16, grp))
	eventually(t, 3*time.Second, "the report dropped by the new guard", func() bool { return dropped(t, g) == 1 })
	if e, ok := learned(t, m, l.brIdx, p1, grp); ok {
		t.Fatalf("kernel learned %s through the new guard", e)
	}

	// An update replaces the program in the filter.
	before := progID(t, g)
	if err := g.Update(GuardOptions{DropQueries: true}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if id, ours := guardFilterProg(t, l.br, p1); id != progID(t, g) || id == before || !ours {
		t.Fatalf("guard filter program %d (ours %v) after Update, want %d", id, ours, progID(t, g))
	}

	// The old daemon's guard, closed now, must not take the new one's filter.
	if err := old.Close(); err != nil {
		t.Fatalf("close the old guard: %v", err)
	}
	if id, _ := guardFilterProg(t, l.br, p1); id != progID(t, g) {
		t.Fatalf("guard filter program %d after the old guard closed, want %d", id, progID(t, g))
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	out = tcIngressFilters(l.br, "p1")
	if strings.Contains(out, tcGuardName) || !strings.Contains(out, "someone_else") {
		t.Errorf("after Close, want someone else's filter only:\n%s", out)
	}
	if q := l.br.Exec("tc", "qdisc", "show", "dev", "p1"); !strings.Contains(q, "clsact") {
		t.Errorf("the clsact qdisc went:\n%s", q)
	}
	h1.send(igmpV2(h1.mac, h1IP, 0x16, grp))
	expectLearned(t, m, l.brIdx, p1, grp, "kernel learning after the guard closed")
}

// TestGuardTCForeignInPlace: a filter of someone else's where the guard's
// goes is refused with a clear error, and left alone.
func TestGuardTCForeignInPlace(t *testing.T) {
	l := newLab(t, 1)
	p1 := l.ports[0]
	l.br.Exec("tc", "qdisc", "add", "dev", "p1", "clsact")
	// A bpf filter in our place under our filter's name: its program is
	// not ours.
	addForeignFilter(t, l.br, p1, tcGuardPriority, tcGuardName)
	l.br.Do(func() {
		s, err := NewGuards(GuardTC)
		if err != nil {
			t.Fatal(err)
		}
		g, err := s.Attach(p1, GuardOptions{})
		if err == nil {
			g.Close()
			t.Fatal("attached over someone else's filter")
		}
		if !strings.Contains(err.Error(), "someone else's") {
			t.Errorf("error %q does not say the filter is someone else's", err)
		}
		t.Logf("refused: %v", err)
		if s.tc != nil {
			t.Error("the heartbeat still runs with no guard attached")
		}
	})
	if id, ours := guardFilterProg(t, l.br, p1); id == 0 || ours {
		t.Errorf("guard place holds program %d (ours %v), want someone else's still there", id, ours)
	}
}

// addForeignFilter adds someone else's filter to ifindex's ingress, in
// ns (which has its clsact qdisc): a bpf filter named name at prio, in
// the guard's place if prio is the guard's, passing every frame. (This
// kernel has no other classifier modules.)
func addForeignFilter(t *testing.T, ns *testNS, ifindex, prio int, name string) {
	t.Helper()
	ns.Do(func() {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "someone_else", Type: ebpf.SchedCLS, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, tcxNext), asm.Return()}})
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close() // the filter holds it
		f := tcFilter(ifindex, prog)
		f.Priority, f.Name = uint16(prio), name
		if err := netlink.FilterAdd(f); err != nil {
			t.Fatalf("add a foreign filter: %v", err)
		}
	})
}
