package bridge

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

var (
	h1IP = netip.MustParseAddr("10.77.0.11")
	h2IP = netip.MustParseAddr("10.77.0.12")
)

// portReader reads frames from c into a channel until c is closed.
func portReader(t *testing.T, c *PortConn) <-chan []byte {
	t.Helper()
	ch := make(chan []byte, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		buf := make([]byte, 2048)
		for {
			n, err := c.ReadFrame(buf)
			if err != nil {
				return
			}
			ch <- bytes.Clone(buf[:n])
		}
	}()
	t.Cleanup(func() {
		c.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("ReadFrame did not return after Close")
		}
	})
	return ch
}

// nextFrame returns the next frame read, or fails after timeout.
func nextFrame(t *testing.T, ch <-chan []byte, timeout time.Duration) []byte {
	t.Helper()
	select {
	case f, ok := <-ch:
		if !ok {
			t.Fatal("port reader stopped")
		}
		return f
	case <-time.After(timeout):
		t.Fatalf("no frame read within %v", timeout)
	}
	return nil
}

func expectFrame(t *testing.T, ch <-chan []byte, want []byte, what string) {
	t.Helper()
	got := nextFrame(t, ch, 3*time.Second)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: read % x\nwant % x", what, got, want)
	}
}

// learned reports whether the MDB has group on port, and its entry.
func learned(t *testing.T, m *MDB, br, port int, group netip.Addr) (Entry, bool) {
	t.Helper()
	return findEntry(mustDump(t, m, br), port, group)
}

func expectLearned(t *testing.T, m *MDB, br, port int, group netip.Addr, what string) {
	t.Helper()
	eventually(t, 3*time.Second, what, func() bool {
		e, ok := learned(t, m, br, port, group)
		return ok && e.Proto == ProtoKernel
	})
}

func dropped(t *testing.T, g *Guard) uint64 {
	t.Helper()
	n, err := g.Dropped()
	if err != nil {
		t.Fatalf("Dropped: %v", err)
	}
	return n
}

// TestGuard: the guard drops IGMP reports and leaves (which the port's
// socket still reads) and passes queries and data; detached, the bridge
// learns again. In both modes.
func TestGuard(t *testing.T) {
	for _, mode := range guardModes {
		t.Run(string(mode), func(t *testing.T) { testGuard(t, mode) })
	}
}

func testGuard(t *testing.T, mode GuardMode) {
	l := newLab(t, 2)
	m := openTestMDB(t, l.br)
	h1, h2 := openRaw(t, l.hosts[0], "eth0"), openRaw(t, l.hosts[1], "eth0")
	p1, p2 := l.ports[0], l.ports[1]
	g := attachGuard(t, l.br, mode, p1)
	frames := portReader(t, l.listen(0))

	g1 := netip.MustParseAddr("239.77.3.1")
	g2 := netip.MustParseAddr("239.77.3.2")
	// Reports and leaves of every version from h1: our socket reads them,
	// the guard drops them.
	sent := [][]byte{
		igmpV2(h1.mac, h1IP, 0x16, g1),
		igmpV3Report(h1.mac, h1IP, g2),
		igmpV2(h1.mac, h1IP, 0x12, g2),
		igmpV2(h1.mac, h1IP, 0x17, g1),
	}
	for i, f := range sent {
		h1.send(f)
		expectFrame(t, frames, f, fmt.Sprintf("guarded frame %d", i))
	}
	eventually(t, 3*time.Second, "4 drops counted", func() bool { return dropped(t, g) == 4 })

	// The same report on the unguarded port is learned by the kernel.
	h2.send(igmpV2(h2.mac, h2IP, 0x16, g1))
	expectLearned(t, m, l.brIdx, p2, g1, "kernel learning g1 on p2")
	// By now the h1 frames, read before the h2 one was sent, have long been
	// through the bridge: nothing was learned from them.
	time.Sleep(100 * time.Millisecond)
	for _, g := range []netip.Addr{g1, g2} {
		if e, ok := learned(t, m, l.brIdx, p1, g); ok {
			t.Errorf("kernel learned %s on the guarded port: %s", g, e)
		}
	}

	// A query passes: the bridge makes p1 a router port, and it is not counted.
	q := igmpV2(h1.mac, h1IP, 0x11, netip.Addr{})
	h1.send(q)
	expectFrame(t, frames, q, "query")
	eventually(t, 3*time.Second, "p1 router port", func() bool {
		rs, err := m.routerPorts(l.brIdx)
		if err != nil {
			t.Fatalf("RouterPorts: %v", err)
		}
		for _, r := range rs {
			if r.Port == p1 && r.IPv4 && r.Type == 1 {
				return true
			}
		}
		return false
	})
	if n := dropped(t, g); n != 4 {
		t.Errorf("Dropped = %d after a query, want 4", n)
	}
	// Other traffic passes.
	data := udpFrame(h1.mac, h1IP, g1, []byte("data"))
	h1.send(data)
	if !h2.waitFor(data, 3*time.Second) {
		t.Error("multicast data from h1 did not reach h2 through the guarded port")
	}

	// Detached, the kernel learns from p1 again.
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	h1.send(igmpV2(h1.mac, h1IP, 0x16, g1))
	expectLearned(t, m, l.brIdx, p1, g1, "kernel learning g1 on p1 after Close")
}

// guardHelperEnv names the variables that turn TestGuardHelperProcess into
// a child process holding a guard.
const (
	envGuardNS    = "IGS_TEST_GUARD_NETNS"
	envGuardIndex = "IGS_TEST_GUARD_IFINDEX"
	envGuardMode  = "IGS_TEST_GUARD_MODE"
)

// TestGuardHelperProcess is not a test: run by TestGuardProcessDeath as a
// child, it attaches a guard, says so, and waits to be killed.
func TestGuardHelperProcess(t *testing.T) {
	nsName, idx := os.Getenv(envGuardNS), os.Getenv(envGuardIndex)
	if nsName == "" {
		t.Skip("helper process for TestGuardProcessDeath")
	}
	ifindex, err := strconv.Atoi(idx)
	if err != nil {
		t.Fatal(err)
	}
	ns := &testNS{t: t, Name: nsName}
	ns.Do(func() {
		s, err := NewGuards(GuardMode(os.Getenv(envGuardMode)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Attach(ifindex, GuardOptions{}); err != nil {
			t.Fatalf("attach: %v", err)
		}
	})
	fmt.Println("attached")
	time.Sleep(30 * time.Second) // bounded: the parent kills us long before
}

func tcxPrograms(t *testing.T, ns *testNS, ifindex int) int {
	t.Helper()
	var n int
	ns.Do(func() {
		res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			t.Fatalf("query tcx programs: %v", err)
		}
		n = len(res.Programs)
	})
	return n
}

// TestGuardProcessDeath: the guard belongs to the process that attached it;
// when that process is killed, the kernel learns again: at once in TCX
// mode, where the kernel detaches the guard, and once the heartbeat is
// stale in tc mode, where the filter stays.
func TestGuardProcessDeath(t *testing.T) {
	for _, mode := range guardModes {
		t.Run(string(mode), func(t *testing.T) { testGuardProcessDeath(t, mode) })
	}
}

func testGuardProcessDeath(t *testing.T, mode GuardMode) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	h1 := openRaw(t, l.hosts[0], "eth0")
	p1 := l.ports[0]

	cmd := exec.Command(os.Args[0], "-test.run=^TestGuardHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envGuardNS+"="+l.br.Name, envGuardIndex+"="+strconv.Itoa(p1), envGuardMode+"="+string(mode))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "attached" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("helper process exited without attaching")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper process did not attach in time")
	}

	attached := func() bool {
		if mode == GuardTC {
			id, ours := guardFilterProg(t, l.br, p1)
			return id != 0 && ours
		}
		return tcxPrograms(t, l.br, p1) == 1
	}
	if !attached() {
		t.Fatal("no guard on p1")
	}
	g := netip.MustParseAddr("239.77.4.1")
	h1.send(igmpV2(h1.mac, h1IP, 0x16, g))
	time.Sleep(200 * time.Millisecond)
	if e, ok := learned(t, m, l.brIdx, p1, g); ok {
		t.Fatalf("kernel learned %s while the helper's guard was attached", e)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed := time.Now()
	if mode == GuardTC {
		if !attached() {
			t.Error("the tc guard's filter went with its process")
		}
		// Reports until the guard stands down.
		eventually(t, 2*GuardHeartbeatTimeout, "kernel learning after the guard's owner died", func() bool {
			h1.send(igmpV2(h1.mac, h1IP, 0x16, g))
			time.Sleep(80 * time.Millisecond)
			e, ok := learned(t, m, l.brIdx, p1, g)
			return ok && e.Proto == ProtoKernel
		})
		t.Logf("kernel learned %v after the kill", time.Since(killed).Round(time.Millisecond))
		return
	}
	eventually(t, 3*time.Second, "guard gone after SIGKILL", func() bool { return tcxPrograms(t, l.br, p1) == 0 })
	h1.send(igmpV2(h1.mac, h1IP, 0x16, g))
	expectLearned(t, m, l.brIdx, p1, g, "kernel learning after the guard's owner died")
}

// TestGuardProgram runs the guard program on crafted frames with
// BPF_PROG_TEST_RUN, covering what a veth cannot deliver (an in-band VLAN
// tag, fragments, bad headers, long extension header chains).
func TestGuardProgram(t *testing.T) {
	needRoot(t)
	for _, mode := range []GuardMode{GuardTCX, GuardTC} {
		t.Run(string(mode), func(t *testing.T) { testGuardProgram(t, mode) })
	}
}

// testHeartbeat is a heartbeat map, fresh, closed when the test ends.
func testHeartbeat(t *testing.T) *ebpf.Map {
	t.Helper()
	hb, err := newHeartbeat()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hb.Close() })
	setBeat(t, hb, 0)
	return hb
}

func setBeat(t *testing.T, hb *ebpf.Map, age time.Duration) {
	t.Helper()
	if err := storeBeat(hb, age); err != nil {
		t.Fatal(err)
	}
}

// testGuardProgram: in tc mode, with a fresh heartbeat, the program gives
// the verdicts it gives in TCX mode; with a stale one it passes everything.
func testGuardProgram(t *testing.T, mode GuardMode) {
	var hb *ebpf.Map
	if mode == GuardTC {
		hb = testHeartbeat(t)
	}
	g, err := loadGuard(0, GuardOptions{}, hb)
	if err != nil {
		t.Fatalf("loadGuard: %v", err)
	}
	defer g.Close()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	grp := netip.MustParseAddr("239.77.7.1")
	tag := tagged
	noOptions := func(f []byte) []byte {
		// Rebuild with IHL 5: drop the Router Alert option.
		ip := bytes.Clone(f[14:34])
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:4], uint16(20+len(f)-38))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:12], checksum(ip))
		return append(append(bytes.Clone(f[:14]), ip...), f[38:]...)
	}
	set := func(f []byte, off int, b byte) []byte { f = bytes.Clone(f); f[off] = b; return f }
	report := igmpV2(mac, h1IP, 0x16, grp)
	ipv6 := append(bytes.Clone(report[:12]), 0x86, 0xdd)
	ipv6 = append(ipv6, make([]byte, 60)...)
	zero4 := netip.IPv4Unspecified()

	// IPv6.
	ll := netip.MustParseAddr("fe80::11")
	zero6 := netip.IPv6Unspecified()
	g6 := netip.MustParseAddr("ff0e::77:7")
	v2report := mldV2Report(g6)
	mld := func(exts []byte, msg []byte) []byte {
		return icmpv6Frame(mac, ll, netip.MustParseAddr("ff02::16"), 0, exts, msg)
	}
	// HBH followed by n Destination options headers, then last.
	chainTo := func(n int, last byte) []byte {
		next := last
		if n > 0 {
			next = 60
		}
		exts := hopByHop(next, 0)
		for i := range n {
			next = 60
			if i == n-1 {
				next = last
			}
			exts = append(exts, extHeader(60, next, 0)...)
		}
		return exts
	}
	chain := func(n int) []byte { return chainTo(n, 58) }
	deepUDP := func(n int) []byte { return ipv6Frame(mac, ll, g6, 0, chainTo(n, 17), make([]byte, 12)) }
	ns := make([]byte, 24) // neighbour solicitation for fe80::12
	ns[0] = 135
	copy(ns[8:24], netip.MustParseAddr("fe80::12").AsSlice())
	mrd := []byte{151, 20, 0, 0, 0, 20, 0, 2} // MRD advertisement
	pim6 := ipv6Frame(mac, ll, netip.MustParseAddr("ff02::d"), 103, nil, make([]byte, 12))
	hbhUDP := ipv6Frame(mac, ll, g6, 0, hopByHop(17, 0), make([]byte, 12))
	hbhNone := ipv6Frame(mac, ll, g6, 0, hopByHop(59, 0), nil)

	const pass, drop = 0xffffffff, 2
	cases := []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"v2 report", report, drop},
		{"v1 report", igmpV2(mac, h1IP, 0x12, grp), drop},
		{"v2 leave", igmpV2(mac, h1IP, 0x17, grp), drop},
		{"v3 report", igmpV3Report(mac, h1IP, grp), drop},
		{"v2 report without IP options", noOptions(report), drop},
		{"tagged v2 report", tag(report), drop},
		{"tagged v3 report", tag(igmpV3Report(mac, h1IP, grp)), drop},
		{"query", igmpV2(mac, h1IP, 0x11, netip.Addr{}), pass},
		{"tagged query", tag(igmpV2(mac, h1IP, 0x11, netip.Addr{})), pass},
		{"query from 0.0.0.0", igmpV2(mac, zero4, 0x11, netip.Addr{}), drop},
		{"tagged query from 0.0.0.0", tag(igmpV2(mac, zero4, 0x11, netip.Addr{})), drop},
		{"group query from 0.0.0.0", igmpV2(mac, zero4, 0x11, grp), drop},
		{"report from 0.0.0.0", igmpV2(mac, zero4, 0x16, grp), drop},
		// RFC 4541 C4: other types reach every port. The bridge floods
		// 224.0.0.0/24 itself; to other destinations the daemon does.
		{"DVMRP to 224.0.0.4", igmpV2(mac, h1IP, 0x13, netip.MustParseAddr("224.0.0.4")), pass},
		{"MRD advertisement to 224.0.0.106", igmpV2(mac, h1IP, 0x30, netip.MustParseAddr("224.0.0.106")), pass},
		{"mtrace to 224.0.1.32", igmpV2(mac, h1IP, 0x1f, netip.MustParseAddr("224.0.1.32")), drop},
		{"DVMRP to a group", igmpV2(mac, h1IP, 0x13, grp), drop},
		{"unknown type to 224.0.1.0", igmpV2(mac, h1IP, 0x99, netip.MustParseAddr("224.0.1.0")), drop},
		{"udp", udpFrame(mac, h1IP, grp, []byte("data")), pass},
		{"udp from 0.0.0.0", udpFrame(mac, zero4, grp, []byte("data")), pass},
		{"non-first fragment", set(report, 14+6, 0x01), drop},
		{"bad IHL", set(report, 14, 0x43), pass},
		{"IPv6 version 0", ipv6, pass},
		// (BPF_PROG_TEST_RUN refuses an untagged IPv4 frame shorter than an
		// IP header, so short frames are tested behind a tag.)
		{"truncated IP header", tag(report)[:34], pass},
		{"tag without EtherType", tag(report)[:16], pass},
		{"no IGMP type byte", report[:38], pass},

		{"MLDv1 report", mldFrame(mac, ll, mldV1(131, g6, 0)), drop},
		{"MLDv1 done", mldFrame(mac, ll, mldV1(132, g6, 0)), drop},
		{"MLDv2 report", mldFrame(mac, ll, v2report), drop},
		{"MLDv2 report from ::", mldFrame(mac, zero6, v2report), drop},
		{"tagged MLDv2 report", tag(mldFrame(mac, ll, v2report)), drop},
		{"MLDv2 report, 16-byte HBH", mld(hopByHop(58, 1), v2report), drop},
		{"MLDv2 report, 64-byte HBH", mld(hopByHop(58, 7), v2report), drop},
		{"MLDv2 report, HBH+DstOpts", mld(chain(1), v2report), drop},
		{"MLDv2 report, HBH+Routing", mld(append(hopByHop(43, 0), extHeader(43, 58, 0)...), v2report), drop},
		{"MLDv2 report, HBH+first fragment", mld(append(hopByHop(44, 0), extHeader(44, 58, 0)...), v2report), drop},
		{"MLDv2 report, HBH+7 headers", mld(chain(7), v2report), drop},
		{"MLDv2 report, HBH+8 headers (too deep)", mld(chain(8), v2report), drop},
		{"udp6 behind HBH+7 headers", deepUDP(7), pass},
		{"udp6 behind HBH+8 headers (too deep)", deepUDP(8), drop},
		{"HBH+non-first fragment", mld(append(hopByHop(44, 0), extHeader(44, 58, 3)...), v2report), pass},
		{"MLDv2 report without HBH", icmpv6Frame(mac, ll, netip.MustParseAddr("ff02::16"), 58, nil, v2report), pass},
		{"MLDv2 report behind DstOpts only", icmpv6Frame(mac, ll, netip.MustParseAddr("ff02::16"), 60, extHeader(60, 58, 0), v2report), pass},
		{"MLDv2 query", mldFrame(mac, ll, mldV2Query(netip.Addr{}, 1000)), pass},
		{"MLDv1 query", mldFrame(mac, ll, mldV1(130, netip.Addr{}, 1000)), pass},
		{"tagged MLDv2 query", tag(mldFrame(mac, ll, mldV2Query(netip.Addr{}, 1000))), pass},
		{"MLDv2 query from ::", mldFrame(mac, zero6, mldV2Query(netip.Addr{}, 1000)), drop},
		{"MLDv1 query from ::", mldFrame(mac, zero6, mldV1(130, netip.Addr{}, 1000)), drop},
		{"tagged MLD query from ::", tag(mldFrame(mac, zero6, mldV2Query(g6, 1000))), drop},
		{"MLD query from :: behind 16-byte HBH", icmpv6Frame(mac, zero6, netip.MustParseAddr("ff02::1"), 0, hopByHop(58, 1), mldV2Query(netip.Addr{}, 1000)), drop},
		{"MRD advertisement", icmpv6Frame(mac, ll, netip.MustParseAddr("ff02::6a"), 0, hopByHop(58, 0), mrd), pass},
		{"neighbour solicitation", icmpv6Frame(mac, ll, netip.MustParseAddr("ff02::1:ff00:12"), 58, nil, ns), pass},
		{"neighbour solicitation from ::", icmpv6Frame(mac, zero6, netip.MustParseAddr("ff02::1:ff00:12"), 58, nil, ns), pass},
		{"PIM over IPv6", pim6, pass},
		{"udp6", udp6Frame(mac, ll, g6, []byte("data")), pass},
		{"udp6 behind HBH", hbhUDP, pass},
		{"HBH, no next header", hbhNone, pass},
		{"HBH without ICMPv6 type byte", mldFrame(mac, ll, v2report)[:14+40+8], pass},
		{"truncated IPv6 header", tag(mldFrame(mac, ll, v2report))[:18+30], pass},
	}
	drops := 0
	for _, c := range cases {
		ret, err := g.prog.Run(&ebpf.RunOptions{Data: c.frame})
		if err != nil {
			t.Fatalf("%s: run: %v", c.name, err)
		}
		if ret != c.want {
			t.Errorf("%s: returned %#x, want %#x", c.name, ret, c.want)
		}
		if c.want == drop {
			drops++
		}
	}
	if n := dropped(t, g); n != uint64(drops) {
		t.Errorf("Dropped = %d, want %d", n, drops)
	}
	if mode == GuardTC {
		testHeartbeatAges(t, g, hb, report, uint64(drops))
	}

	// With DropQueries, a host port: every query drops, the rest as before.
	hq, err := loadGuard(0, GuardOptions{DropQueries: true}, hb)
	if err != nil {
		t.Fatalf("loadGuard: %v", err)
	}
	defer hq.Close()
	for _, c := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"IGMP query", igmpV2(mac, h1IP, 0x11, netip.Addr{}), drop},
		{"IGMP group query", igmpV2(mac, h1IP, 0x11, grp), drop},
		{"MLDv2 query", mldFrame(mac, ll, mldV2Query(netip.Addr{}, 1000)), drop},
		{"MLDv1 query", mldFrame(mac, ll, mldV1(130, netip.Addr{}, 1000)), drop},
		{"report still dropped", report, drop},
		{"IPv6 data", ipv6, pass},
	} {
		ret, err := hq.prog.Run(&ebpf.RunOptions{Data: c.frame})
		if err != nil || ret != c.want {
			t.Errorf("drop-queries %s: returned %#x (%v), want %#x", c.name, ret, err, c.want)
		}
	}

	// With PassReports, a port where the kernel learns (mcast_to_unicast):
	// reports and leaves of every version reach the bridge; proxy queries,
	// fragments and other IGMP types are still kept from it.
	pr, err := loadGuard(0, GuardOptions{PassReports: true}, hb)
	if err != nil {
		t.Fatalf("loadGuard: %v", err)
	}
	defer pr.Close()
	for _, c := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"v2 report", report, pass},
		{"v1 report", igmpV2(mac, h1IP, 0x12, grp), pass},
		{"v2 leave", igmpV2(mac, h1IP, 0x17, grp), pass},
		{"v3 report", igmpV3Report(mac, h1IP, grp), pass},
		{"tagged v2 report", tag(report), pass},
		{"MLDv1 report", mldFrame(mac, ll, mldV1(131, g6, 0)), pass},
		{"MLDv1 done", mldFrame(mac, ll, mldV1(132, g6, 0)), pass},
		{"MLDv2 report", mldFrame(mac, ll, v2report), pass},
		{"query from 0.0.0.0", igmpV2(mac, zero4, 0x11, netip.Addr{}), drop},
		{"MLDv2 query from ::", mldFrame(mac, zero6, mldV2Query(netip.Addr{}, 1000)), drop},
		{"DVMRP to a group", igmpV2(mac, h1IP, 0x13, grp), drop},
		{"non-first fragment", set(report, 14+6, 0x01), drop},
		{"query", igmpV2(mac, h1IP, 0x11, netip.Addr{}), pass},
	} {
		ret, err := pr.prog.Run(&ebpf.RunOptions{Data: c.frame})
		if err != nil || ret != c.want {
			t.Errorf("pass-reports %s: returned %#x (%v), want %#x", c.name, ret, err, c.want)
		}
	}
}

// testHeartbeatAges runs a report through g's program with heartbeats of
// several ages: it drops while the heartbeat is younger than the timeout,
// and passes, uncounted, once it is older, never set, or in the future.
func testHeartbeatAges(t *testing.T, g *Guard, hb *ebpf.Map, report []byte, drops uint64) {
	t.Helper()
	const pass, drop = 0xffffffff, 2
	for _, c := range []struct {
		name string
		age  time.Duration // of the heartbeat; -1: never set
		want uint32
	}{
		{"just beaten", 0, drop},
		{"short of the timeout", GuardHeartbeatTimeout - 300*time.Millisecond, drop},
		{"past the timeout", GuardHeartbeatTimeout + 300*time.Millisecond, pass},
		{"long stale", time.Hour, pass},
		{"from the future", -time.Hour, pass},
		{"never beaten", -1, pass},
	} {
		if c.age == -1 {
			if err := hb.Put(uint32(0), uint64(0)); err != nil {
				t.Fatal(err)
			}
		} else {
			setBeat(t, hb, c.age)
		}
		ret, err := g.prog.Run(&ebpf.RunOptions{Data: report})
		if err != nil {
			t.Fatalf("%s: run: %v", c.name, err)
		}
		if ret != c.want {
			t.Errorf("heartbeat %s: returned %#x, want %#x", c.name, ret, c.want)
		}
		if c.want == drop {
			drops++
		}
	}
	if n := dropped(t, g); n != drops {
		t.Errorf("Dropped = %d after the heartbeat ages, want %d (a stale guard counts nothing)", n, drops)
	}
	setBeat(t, hb, 0)
}
