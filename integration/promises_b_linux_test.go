package integration

// Promises README.md made that only unit tests backed (issue 11, part B),
// here against real kernel hosts and real traffic: IGMPv1 hosts, a port
// that is not snooped, --any-source, the events a real `igmpsnoop events`
// client sees (leave, flush, querier_lost, events_lost), unknown IGMP types
// flooded (RFC 4541 C4), and groups sharing a MAC address kept apart
// (RFC 4541 D5, M8).
//
// Each test's comment says how it was checked to fail with the behaviour
// it names switched off: a temporary change to snoop/, bridge/ or cmd/ in
// the worktree, the test run and seen failing, the change reverted.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// IGMP types the tests send or look for.
const (
	pbTypeQuery    = 0x11
	pbTypeReportV1 = 0x12
	pbTypeDVMRP    = 0x13 // DVMRP (RFC 1075): no snooper interprets it
	pbTypeMtrace   = 0x1f // mtrace request (RFC 8487)
)

// pbIGMP returns the IGMP type, IP source and IP destination of an IPv4
// IGMP frame.
func pbIGMP(f []byte) (typ byte, src, dst netip.Addr, ok bool) {
	if len(f) < 34 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 2 {
		return 0, src, dst, false
	}
	ihl := int(f[14]&0x0f) * 4
	if ihl < 20 || len(f) <= 14+ihl {
		return 0, src, dst, false
	}
	return f[14+ihl], netip.AddrFrom4([4]byte(f[26:30])), netip.AddrFrom4([4]byte(f[30:34])), true
}

// pbCountIGMP counts the IGMP frames of type typ s recorded after since;
// an invalid src or dst matches any.
func pbCountIGMP(s *lab.Sniffer, since time.Time, typ byte, src, dst netip.Addr) int {
	n := 0
	for _, f := range s.Frames() {
		ty, sa, da, ok := pbIGMP(f.Data)
		if ok && f.At.After(since) && ty == typ && (!src.IsValid() || sa == src) && (!dst.IsValid() || da == dst) {
			n++
		}
	}
	return n
}

// pbRaw opens a packet socket on h's eth0, closed when the test ends, and
// returns a function writing frames through it.
func pbRaw(t *testing.T, h lab.Host) (write func([]byte), mac net.HardwareAddr) {
	t.Helper()
	conn, mac, err := lab.RawSocket(h.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func(f []byte) {
		t.Helper()
		if _, err := conn.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr(f[:6])}); err != nil {
			t.Fatalf("send from %s: %v", h.Name, err)
		}
	}, mac
}

// pbMust returns a function that returns an encoder's frame, failing
// the test on its error: pbMust(t)(wire.EncodeReport(...)).
func pbMust(t *testing.T) func([]byte, error) []byte {
	return func(f []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
}

// pbDeliver sends n frames to each group from the sender and checks how
// many of each every capture got: want[group][namespace].
func pbDeliver(t *testing.T, l *lab.Lab, n int, want map[netip.Addr]map[string]int, caps map[string]*lab.Capture) {
	t.Helper()
	for _, c := range caps {
		c.Reset()
	}
	for g := range want {
		if err := l.Send(g, n, 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the last frames cross the veths
	for g, w := range want {
		for name, c := range caps {
			if got := c.Count(g); got != w[name] {
				t.Errorf("%v: %s received %d of %d frames, want %d", g, name, got, n, w[name])
			}
		}
	}
}

// pbPortEntries returns the MDB entries on the bridge port named port.
func pbPortEntries(t *testing.T, l *lab.Lab, port string) []bridge.Entry {
	t.Helper()
	idx := portIndex(t, l, port)
	var out []bridge.Entry
	for _, e := range mdb(t, l) {
		if e.Port == idx {
			out = append(out, e)
		}
	}
	return out
}

// TestIGMPv1HostJoinsAndAgesOut: a host speaking only IGMPv1 joins; it
// receives the group and a non-member does not; `show groups` (JSON and
// table) shows version 1 in v1 compatibility mode. An IGMPv1 host cannot
// leave: closing its socket sends nothing, and a leave for the group on
// its port is ignored while the v1 compatibility mode runs (RFC 3376
// §7.3.2): no group-specific query, no pruning. The membership lives on
// until the membership interval after the host's last report, then ages
// out and the traffic stops.
//
// The daemon is the LAN's only querier, querying in IGMPv2 (1 s response
// time): Linux, forced to v1, answers a v3 query as a v1 one, within 10 s,
// longer than the lab's 5 s membership interval, but an IGMPv2 query
// within its response time. No router hears the leave: a querier that did
// (the lab's Linux bridge querier does) would send its own group-specific
// query, which the daemon follows, as RFC 3376 §6.6.1 says.
//
// Checked failing: with the `t == wire.ChangeToInclude && c == 1` case
// removed from applyRecord (snoop/membership.go), the leave is queried and
// the membership pruned within the last member query time; with compat()
// returning 3, `show groups` shows compat v3.
func TestIGMPv1HostJoinsAndAgesOut(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2, NoQuerier: true})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	if err := l.ForceIGMPVersion(h1, 1); err != nil {
		t.Fatal(err)
	}
	caps := captures(t, l, h1.Name, h2.Name, l.Router)
	d := startDaemon(t, l, append([]string{"--querier", "--igmp-version", "2"}, fastTimers...)...)
	if q := querierOf(t, d, "igmp"); !q.Self || q.Version != 2 {
		t.Fatalf("querier %+v, want ourselves, IGMPv2", q)
	}
	m, err := l.Join(h1, g1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Leave() })
	waitFor(t, 10*time.Second, "h1's IGMPv1 membership learned", func() (bool, string) {
		g, ok, seen := member(t, d, g1, h1.Port)
		return ok && g.Version == 1 && g.Compat == "v1" && len(g.Reporters) == 1 && g.Reporters[0] == h1.Addr.String(),
			fmt.Sprintf("%s %+v", seen, g)
	})
	if n := pbCountIGMP(caps[h1.Name].Sniffer, time.Time{}, pbTypeReportV1, h1.Addr, g1); n == 0 {
		t.Fatal("h1 sent no IGMPv1 report: the host is not speaking IGMPv1")
	}

	t.Run("show groups says v1", func(t *testing.T) {
		out, err := d.ShowCLI("groups", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var gs groupsJSON
		if err := json.Unmarshal([]byte(out), &gs); err != nil || len(gs.Groups) != 1 || gs.Groups[0].Version != 1 || gs.Groups[0].Compat != "v1" {
			t.Errorf("show groups --json: %v, want one row with version 1, compat v1:\n%s", err, out)
		}
		out, err = d.ShowCLI("groups")
		if err != nil {
			t.Fatal(err)
		}
		found, ver := false, -1
		for _, ln := range strings.Split(out, "\n") {
			f := strings.Fields(ln)
			if len(f) > 0 && f[0] == "GROUP" {
				ver = slices.Index(f, "VER")
			}
			if ver > 0 && len(f) > ver && f[0] == g1.String() && f[1] == h1.Port {
				found = true
				if f[ver] != "v1" {
					t.Errorf("show groups VER column %q, want v1:\n%s", f[ver], out)
				}
			}
		}
		if !found {
			t.Errorf("show groups has no row for %v on %s:\n%s", g1, h1.Port, out)
		}
	})

	// It stays a member across queries (each answered within 1 s), and
	// receives the group; the non-member does not.
	time.Sleep(gmi)
	if g, ok, seen := member(t, d, g1, h1.Port); !ok || g.Version != 1 {
		t.Fatalf("h1's v1 membership lost while the host answers queries: %s", seen)
	}
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0, l.Router: 0}, caps)

	// Close the socket right after one of h1's reports, so the membership
	// has most of its membership interval left for what follows.
	since := time.Now()
	waitFor(t, 5*time.Second, "a fresh IGMPv1 report from h1", func() (bool, string) {
		n := pbCountIGMP(caps[h1.Name].Sniffer, since, pbTypeReportV1, h1.Addr, g1)
		return n > 0, fmt.Sprintf("%d reports", n)
	})
	if err := m.Leave(); err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	time.Sleep(500 * time.Millisecond)
	var sent []string
	for _, f := range caps[h1.Name].Frames() {
		if ty, src, dst, ok := pbIGMP(f.Data); ok && f.At.After(closed) && src == h1.Addr {
			sent = append(sent, fmt.Sprintf("type %#x to %v", ty, dst))
		}
	}
	if len(sent) != 0 {
		t.Errorf("h1, an IGMPv1 host, sent %v after closing its socket; v1 has no leave", sent)
	}

	// A leave on the port (as a v2 host there would send it) is ignored in
	// v1 compatibility mode: no group-specific query, no pruning.
	before := hostileStats(t, d).Ports[h1.Port].Ignored["compat_mode"]
	write, mac := pbRaw(t, h1)
	left := time.Now()
	write(pbMust(t)(wire.EncodeReport(wire.Report{Version: 2, Leave: true, SrcMAC: mac, Src: h1.Addr, Group: g1})))
	time.Sleep(300 * time.Millisecond)
	g, ok, seen := member(t, d, g1, h1.Port)
	if !ok {
		t.Fatalf("h1's membership gone right after the leave: %s", seen)
	}
	remaining := time.Duration(g.ExpiresMs) * time.Millisecond
	if g.Leaving || remaining <= lmqt+time.Second {
		t.Fatalf("h1's membership after the leave: expires in %v, leaving %v; a v1 membership ignores leaves", remaining, g.Leaving)
	}
	time.Sleep(lmqt + 500*time.Millisecond)
	if g, ok, seen := member(t, d, g1, h1.Port); !ok || g.Leaving {
		t.Fatalf("h1 pruned or leaving a last member query time after the ignored leave: %s %+v", seen, g)
	}
	if n := pbGroupQueries(caps[h1.Name].Sniffer, left, g1); n != 0 {
		t.Errorf("h1 received %d group-specific queries for %v after the ignored leave", n, g1)
	}
	if n := hostileStats(t, d).Ports[h1.Port].Ignored["compat_mode"]; n != before+1 {
		t.Errorf("h1's ignored[compat_mode] went from %d to %d after the leave, want one more", before, n)
	}

	// Silent since its socket closed, it ages out when its last report's
	// membership interval ends.
	g, ok, seen = member(t, d, g1, h1.Port)
	if !ok {
		t.Fatalf("h1's membership gone before its membership interval ended: %s", seen)
	}
	remaining = time.Duration(g.ExpiresMs) * time.Millisecond
	took := waitFor(t, remaining+3*time.Second, "h1's membership aged out", func() (bool, string) {
		_, ok, seen := member(t, d, g1, h1.Port)
		return !ok, seen
	})
	if took < remaining-300*time.Millisecond || time.Since(closed) > gmi+1500*time.Millisecond {
		t.Errorf("aged out %v after %v was left (%v after the socket closed), want when its last report's membership interval (%v) ends",
			took, remaining, time.Since(closed), gmi)
	}
	t.Logf("aged out %v after the socket closed (membership interval %v)", time.Since(closed).Round(time.Millisecond), gmi)
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 0, h2.Name: 0, l.Router: 0}, caps)
}

// pbGroupQueries counts the group-specific IGMP queries for g s recorded
// after since.
func pbGroupQueries(s *lab.Sniffer, since time.Time, g netip.Addr) int {
	n := 0
	for _, f := range s.Frames() {
		ty, _, _, ok := pbIGMP(f.Data)
		if !ok || ty != pbTypeQuery || !f.At.After(since) {
			continue
		}
		off := 14 + int(f.Data[14]&0x0f)*4
		if len(f.Data) >= off+8 && netip.AddrFrom4([4]byte(f.Data[off+4:off+8])) == g {
			n++
		}
	}
	return n
}

// TestPortWithoutSnooping: a port configured `snooping: false` in the
// configuration file receives all multicast (joined elsewhere, or by
// nobody), its reports still reach the router port (relayed by the daemon:
// the guard keeps them from the bridge) but no other host, and nothing is
// learned for it: no row in `show groups`, no MDB entry, its reports counted
// as ignored (snooping_disabled).
//
// Checked failing: with the p.policy.NoSnooping check removed from
// applyRecord (snoop/membership.go), h1's group is learned and installed;
// with NoSnooping dropped from kernelRouterMode (cmd/igmpsnoop/config.go),
// h1 receives 0 of 20 frames of groups it is no member of.
func TestPortWithoutSnooping(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, h3.Name, l.Router)
	cfg := writeConfig(t, labTimers+`
bridges:
  - name: br0
    ports:
      h1: {snooping: false}
`)
	d := startDaemon(t, l, "--config", cfg, "--log-level", "debug")
	joinHost(t, l, d, h1, g1)
	joinLearnedQuerier(t, l, d, h2, g3)
	waitFor(t, 10*time.Second, "h1's reports relayed to the router", func() (bool, string) {
		r := caps[l.Router].IGMPFrom(h1.Addr)
		return r > 0, fmt.Sprintf("%d reports at the router", r)
	})
	// The relay and the count are one step of the engine.
	if n := hostileStats(t, d).Ports[h1.Port].Ignored["snooping_disabled"]; n == 0 {
		t.Errorf("h1's reports not counted as ignored (snooping_disabled)")
	}
	var ps struct{ Ports []snoop.PortView }
	if err := d.Show("ports", &ps); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.Ports {
		if p.Port == h1.Port && (p.Snooping || p.Groups != 0) {
			t.Errorf("show ports h1: %+v, want snooping false, no groups", p)
		}
	}
	var gs groupsJSON
	if err := d.Show("groups", &gs); err != nil {
		t.Fatal(err)
	}
	for _, g := range gs.Groups {
		if g.Port == h1.Port {
			t.Errorf("show groups has a row for the unsnooped port: %+v", g)
		}
	}
	for _, e := range pbPortEntries(t, l, h1.Port) {
		t.Errorf("MDB entry on the unsnooped port: %v/%v (proto %d)", e.Group, e.Source, e.Proto)
	}
	for _, h := range []lab.Host{h2, h3} {
		if n := caps[h.Name].IGMPFrom(h1.Addr); n != 0 {
			t.Errorf("%s received %d of h1's IGMP frames; reports go to router ports only", h.Name, n)
		}
	}
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier
	pbDeliver(t, l, 20, map[netip.Addr]map[string]int{
		g1: {h1.Name: 20, h2.Name: 0, h3.Name: 0, l.Router: 20},  // joined by h1 only, not learned
		g3: {h1.Name: 20, h2.Name: 20, h3.Name: 0, l.Router: 20}, // joined by h2
		g9: {h1.Name: 20, h2.Name: 0, h3.Name: 0, l.Router: 20},  // joined by nobody
	}, caps)
}

// TestAnySourceInstallsAnySourceEntries: with --any-source, a
// source-specific join (INCLUDE {S1}) is kept by the engine as it is but
// installed as an any-source entry: the kernel's (*,G) entry is EXCLUDE
// with no source list, there are no (S,G) entries, and the host receives
// the group from Sender1 and Sender2 alike. The bridge runs IGMPv3 (set
// before the daemon starts), so the kernel would honour a source list if
// one were installed.
//
// Checked failing: with mdbState (snoop/membership.go) ignoring
// cfg.SourceLists, h1's entry is INCLUDE {10.77.0.100} and h1 receives 0
// of Sender2's 20 frames.
func TestAnySourceInstallsAnySourceEntries(t *testing.T) {
	anySourceInstallsAnySourceEntries(t, nowMode)
}

func anySourceInstallsAnySourceEntries(t *testing.T, mode snoopMode) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	if err := l.Run(l.Switch, "ip", "link", "set", l.Bridge, "type", "bridge", "mcast_igmp_version", "3"); err != nil {
		t.Fatal(err)
	}
	caps := captures(t, l, h1.Name, h2.Name, l.Router)
	d := startDaemon(t, l, mode.args(append([]string{"--any-source"}, fastTimers...)...)...)
	g := netip.MustParseAddr("239.77.2.2")
	m, err := l.JoinSource(h1, g, lab.Sender1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Leave() })
	waitFor(t, 10*time.Second, "h1 INCLUDE {S1} learned, querier heard", func() (bool, string) {
		r, ok, seen := row(t, d, g, h1.Port, lab.Sender1.String())
		return ok && r.Mode == "include" && querierOf(t, d, "igmp").Present, seen
	})
	idx := portIndex(t, l, h1.Port)
	var entries []bridge.Entry
	waitFor(t, 3*time.Second, "an MDB entry for the group", func() (bool, string) {
		entries = entries[:0]
		for _, e := range mdb(t, l) {
			if e.Group == g {
				entries = append(entries, e)
			}
		}
		return len(entries) > 0, "none"
	})
	for _, e := range entries {
		if e.Port != idx || e.Source.IsValid() || e.Mode != bridge.ModeExclude || len(e.Sources) != 0 || len(entries) != 1 || e.Proto != mode.proto {
			t.Errorf("MDB entry %v/%v on ifindex %d, mode %d, sources %v, proto %d (of %d for the group); want one (*,G) EXCLUDE {} entry on h1 (%d), proto %d",
				e.Group, e.Source, e.Port, e.Mode, e.Sources, e.Proto, len(entries), idx, mode.proto)
		}
	}
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier
	for _, c := range caps {
		c.Reset()
	}
	for _, src := range []netip.Addr{lab.Sender1, lab.Sender2} {
		if err := l.SendFrom(src, g, 20, 5*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, c := range []struct {
		ns   string
		src  netip.Addr
		want int
	}{{h1.Name, lab.Sender1, 20}, {h1.Name, lab.Sender2, 20}, {h2.Name, lab.Sender1, 0}, {h2.Name, lab.Sender2, 0}, {l.Router, lab.Sender1, 20}, {l.Router, lab.Sender2, 20}} {
		if got := caps[c.ns].CountFrom(c.src, g); got != c.want {
			t.Errorf("%s received %d frames from %v to %v, want %d", c.ns, got, c.src, g, c.want)
		}
	}
}

// pbEvent is one line of `igmpsnoop events --json`.
type pbEvent struct {
	Time   time.Time `json:"time"`
	Bridge string    `json:"bridge"`
	Event  string    `json:"event"`
	Port   string    `json:"port"`
	Group  string    `json:"group"`
	VLAN   uint16    `json:"vlan"`
	Addr   string    `json:"addr"`
	Detail string    `json:"detail"`
}

// pbEvents is a running `igmpsnoop events --json` client and what it
// printed so far.
type pbEvents struct {
	cmd    *exec.Cmd
	stderr *lab.SyncBuffer
	ended  chan struct{}
	mu     sync.Mutex
	events []pbEvent
	bad    []string
}

// pbStartEvents runs `igmpsnoop events --json` against d's socket in the
// switch namespace (`ip netns exec` execs it in place, so cmd's process is
// the client) and reads its output until it ends; the client is
// interrupted when the test ends.
func pbStartEvents(t *testing.T, l *lab.Lab, d *lab.Daemon) *pbEvents {
	t.Helper()
	es := &pbEvents{stderr: &lab.SyncBuffer{}, ended: make(chan struct{})}
	es.cmd = exec.Command("ip", "netns", "exec", l.Switch, d.Bin, "events", "--json", "--socket", d.Socket)
	stdout, err := es.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	es.cmd.Stderr = es.stderr
	if err := es.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(es.ended)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e pbEvent
			err := json.Unmarshal(sc.Bytes(), &e)
			es.mu.Lock()
			if err != nil {
				es.bad = append(es.bad, sc.Text())
			} else {
				es.events = append(es.events, e)
			}
			es.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = es.cmd.Process.Signal(syscall.SIGCONT)
		_ = es.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-es.ended:
		case <-time.After(5 * time.Second):
			_ = es.cmd.Process.Kill()
			<-es.ended
		}
		_ = es.cmd.Wait()
		if t.Failed() {
			es.mu.Lock()
			t.Logf("events client: %d events, unparsed %q, stderr %q", len(es.events), es.bad, es.stderr.String())
			es.mu.Unlock()
		}
	})
	return es
}

// all returns the events read so far.
func (es *pbEvents) all() []pbEvent {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.events[:len(es.events):len(es.events)]
}

// running reports whether the client is still printing.
func (es *pbEvents) running() bool {
	select {
	case <-es.ended:
		return false
	default:
		return true
	}
}

// wait waits for an event match accepts and returns it.
func (es *pbEvents) wait(t *testing.T, timeout time.Duration, what string, match func(pbEvent) bool) pbEvent {
	t.Helper()
	var found pbEvent
	waitFor(t, timeout, what, func() (bool, string) {
		evs := es.all()
		for _, e := range evs {
			if match(e) {
				found = e
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, client running %v, the last: %s", len(evs), es.running(), pbLast(evs, 5))
	})
	return found
}

// pbLast describes the last n events.
func pbLast(evs []pbEvent, n int) string {
	var out []string
	for _, e := range evs[max(0, len(evs)-n):] {
		out = append(out, fmt.Sprintf("%s %s@%s %s %s", e.Event, e.Group, e.Port, e.Addr, e.Detail))
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// pbBurstGroup is the i-th group of the events test's burst of joins.
func pbBurstGroup(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{239, 79, byte(i >> 8), byte(i)})
}

// pbJoinFrames builds IGMPv3 reports from h joining groups (IS_EX {}),
// 150 records a frame.
func pbJoinFrames(t *testing.T, h lab.Host, mac net.HardwareAddr, groups []netip.Addr) [][]byte {
	t.Helper()
	var frames [][]byte
	for i := 0; i < len(groups); i += 150 {
		var recs []wire.GroupRecord
		for _, g := range groups[i:min(i+150, len(groups))] {
			recs = append(recs, wire.GroupRecord{Type: wire.ModeIsExclude, Group: g})
		}
		frames = append(frames, pbMust(t)(wire.EncodeReport(wire.Report{Version: 3, SrcMAC: mac, Src: h.Addr, Records: recs})))
	}
	return frames
}

// TestEventsSeenByTheCLI: a real `igmpsnoop events --json` client, run in
// the switch namespace, sees
//   - leave, when a host leaves and the last member queries go unanswered
//     (and no expire for it);
//   - flush, when the member's port goes down;
//   - events_lost, when the client is stopped (SIGSTOP) while a burst of
//     3000 joins (raw IGMPv3 reports from two hosts) outruns what it may
//     lag behind: the daemon learns all of them meanwhile, the client is
//     told how many it lost once it reads again, and every join is either
//     printed or counted lost; the stream goes on afterwards;
//   - querier_lost, naming the router, when the router's querier is
//     switched off and the other querier present interval passes.
//
// Checked failing: with remove() in snoop/membership.go always reporting
// EventExpire, no leave event comes; with the port-down flush's event
// removed (snoop/engine.go), no flush event; with the events_lost record
// not written (cmd/igmpsnoop/control.go), no events_lost; with the
// querier_lost event removed from familyTimer (snoop/family.go), no
// querier_lost.
func TestEventsSeenByTheCLI(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	// At info level: at debug the daemon logs every join of the burst.
	d := startDaemon(t, l, resTimers...)
	waitFor(t, 10*time.Second, "the router is the querier", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return q.Present && q.Address == l.RouterAddr.String(), fmt.Sprintf("%+v", q)
	})
	es := pbStartEvents(t, l, d)

	// Subscribed once a join shows: h3 reports probe groups until one does.
	write3, mac3 := pbRaw(t, h3)
	subscribed := false
	for i := 0; i < 50 && !subscribed; i++ {
		g := netip.AddrFrom4([4]byte{239, 78, 0, byte(i)})
		write3(pbMust(t)(wire.EncodeReport(wire.Report{Version: 2, SrcMAC: mac3, Src: h3.Addr, Group: g})))
		time.Sleep(200 * time.Millisecond)
		for _, e := range es.all() {
			subscribed = subscribed || e.Event == "join" && strings.HasPrefix(e.Group, "239.78.0.")
		}
	}
	if !subscribed {
		t.Fatalf("the events client printed no join for 10 s of probe reports: %s", pbLast(es.all(), 5))
	}
	is := func(ev string, g netip.Addr, port string) func(pbEvent) bool {
		return func(e pbEvent) bool {
			return e.Event == ev && e.Group == g.String() && e.Port == port && e.Bridge == l.Bridge && !e.Time.IsZero()
		}
	}

	t.Run("leave", func(t *testing.T) {
		m, err := l.Join(h1, g1)
		if err != nil {
			t.Fatal(err)
		}
		j := es.wait(t, 10*time.Second, "join of h1", is("join", g1, h1.Port))
		if j.Addr != h1.Addr.String() {
			t.Errorf("join event addr %q, want h1's %v", j.Addr, h1.Addr)
		}
		if err := m.Leave(); err != nil {
			t.Fatal(err)
		}
		es.wait(t, lmqt+3*time.Second, "leave of h1", is("leave", g1, h1.Port))
		for _, e := range es.all() {
			if is("expire", g1, h1.Port)(e) {
				t.Errorf("h1's leave made an expire event too: %+v", e)
			}
		}
	})

	t.Run("flush", func(t *testing.T) {
		m, err := l.Join(h2, g3)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Leave()
		es.wait(t, 10*time.Second, "join of h2", is("join", g3, h2.Port))
		if err := l.Run(l.Switch, "ip", "link", "set", h2.Port, "down"); err != nil {
			t.Fatal(err)
		}
		es.wait(t, 5*time.Second, "flush of h2's membership", is("flush", g3, h2.Port))
	})

	t.Run("events_lost", func(t *testing.T) {
		const perHost = 1500
		var groups []netip.Addr
		for i := range perHost {
			groups = append(groups, pbBurstGroup(i))
		}
		write1, mac1 := pbRaw(t, h1)
		frames1, frames3 := pbJoinFrames(t, h1, mac1, groups), pbJoinFrames(t, h3, mac3, groups)
		before := hostileStats(t, d).Memberships
		if err := es.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		resumed := false
		resume := func() {
			if !resumed {
				resumed = true
				if err := es.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
			}
		}
		defer resume()
		time.Sleep(100 * time.Millisecond)
		for i := range frames1 {
			write1(frames1[i])
			write3(frames3[i])
		}
		// Stalled for 7 s, past the 5 s write deadline the daemon once had
		// (it then closed the stream, and the reader was never told what
		// it lost): a paused reader stays connected and is told. The
		// joins must all be learned meanwhile: the bridges never wait for
		// a reader.
		// The most memberships seen at once: a loaded machine may drop
		// some raw joins in the socket, and the short lab timers age the
		// burst out within the stall, so count what the daemon learned.
		var learned int
		for i := 0; i < 120 && time.Since(stopped) < 7*time.Second; i++ {
			learned = max(learned, hostileStats(t, d).Memberships-before)
			time.Sleep(100 * time.Millisecond)
		}
		resume()
		t.Logf("client stopped for %v; up to %d memberships learned meanwhile", time.Since(stopped).Round(time.Millisecond), learned)
		if learned <= 1024 {
			t.Errorf("the daemon learned %d joins while the events client was stopped: want more than the stream's buffer of 1024 (the bridges never wait for a reader)", learned)
		}
		es.wait(t, 10*time.Second, "events_lost", func(e pbEvent) bool { return e.Event == "events_lost" })
		// Every join is printed or counted lost, once the client has
		// caught up (no new line for a second).
		count := func() int {
			printed := 0
			for _, e := range es.all() {
				if e.Event == "join" && strings.HasPrefix(e.Group, "239.79.") {
					printed++
				}
			}
			return printed
		}
		last, quiet := -1, 0
		for i := 0; i < 150 && quiet < 5; i++ {
			if c := len(es.all()); c == last {
				quiet++
			} else {
				last, quiet = c, 0
			}
			time.Sleep(200 * time.Millisecond)
		}
		printed, n := count(), 0
		for _, e := range es.all() {
			var k int
			if _, err := fmt.Sscanf(e.Detail, "%d events lost", &k); e.Event == "events_lost" && (err != nil || k <= 0) {
				t.Fatalf("events_lost detail %q: %v", e.Detail, err)
			}
			if e.Event == "events_lost" {
				n += k
			}
		}
		t.Logf("burst of %d joins, %d learned: %d printed, %d events counted lost", 2*perHost, learned, printed, n)
		if printed >= learned || printed+n < learned {
			t.Errorf("%d joins printed and %d events counted lost, of %d joins learned: want some lost and every join printed or counted", printed, n, learned)
		}
		if !es.running() {
			t.Fatalf("the events client ended: %s", es.stderr.String())
		}
	})

	t.Run("querier_lost", func(t *testing.T) {
		if err := l.SetRouterQuerier(false); err != nil {
			t.Fatal(err)
		}
		off := time.Now()
		e := es.wait(t, 15*time.Second, "querier_lost", func(e pbEvent) bool { return e.Event == "querier_lost" && e.Bridge == l.Bridge })
		if e.Addr != l.RouterAddr.String() || e.Port != l.RouterPort {
			t.Errorf("querier_lost names %s on %q, want %s on %s", e.Addr, e.Port, l.RouterAddr.String(), l.RouterPort)
		}
		t.Logf("querier_lost %v after the router's querier was switched off", time.Since(off).Round(time.Millisecond))
	})
}

// TestUnknownIGMPTypesFlooded: IGMP messages of types a snooper does not
// interpret (DVMRP 0x13, mtrace 0x1f) sent by a host reach every other
// port, router port and host ports alike, whether a member is there or
// not (RFC 4541 §2.1.1 rule 4, "C4": flood unrecognized IGMP messages to
// all other ports). The daemon leaves this to the bridge: its guard lets
// these types through and the engine learns nothing from them. Data to
// the same groups goes by the MDB (checked first), so what arrives at a
// non-member was flooded.
//
// Checked failing: with the guard (bridge/guard_linux.go) dropping 0x13
// and 0x1f like reports, no port receives any of them.
//
// Fails today for destinations outside 224.0.0.0/24 (the mtrace and the
// DVMRP-to-239.1.1.1 cases), a defect: the daemon leaves these frames to
// the bridge, and the Linux bridge does not take an IGMP type it does not
// know for IGMP: it forwards it as data, to the group's MDB ports and the
// router ports (to the router ports only if nobody joined). Only a
// link-local destination, which the bridge always floods, reaches every
// port.
func TestUnknownIGMPTypesFlooded(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	receivers := []string{h2.Name, h3.Name, l.Router, l.Sender}
	caps := captures(t, l, append([]string{h1.Name}, receivers...)...)
	d := startDaemon(t, l, fastTimers...)
	joinLearnedQuerier(t, l, d, h2, g1)
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier
	data := map[string]*lab.Capture{h1.Name: caps[h1.Name], h2.Name: caps[h2.Name], h3.Name: caps[h3.Name], l.Router: caps[l.Router]}
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 0, h2.Name: 20, h3.Name: 0, l.Router: 20}, data)
	expectDelivery(t, l, g9, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 0, l.Router: 20}, data)
	if t.Failed() {
		t.FailNow()
	}

	write, mac := pbRaw(t, h1)
	cases := []struct {
		name string
		typ  byte
		dst  netip.Addr
	}{
		{"DVMRP to all DVMRP routers (224.0.0.4)", pbTypeDVMRP, netip.MustParseAddr("224.0.0.4")},
		{"mtrace to the MTRACE group (224.0.1.32)", pbTypeMtrace, netip.MustParseAddr("224.0.1.32")},
		{"DVMRP to a group h2 joined (239.1.1.1)", pbTypeDVMRP, g1},
	}
	const n = 5
	before := hostileStats(t, d).Received["igmp_other"]
	for _, c := range caps {
		c.Reset()
	}
	start := time.Now()
	for _, c := range cases {
		// An IGMPv2 report to dst, retyped: the destination MAC, Router
		// Alert and checksums are right for it.
		f := pbMust(t)(wire.EncodeReport(wire.Report{Version: 2, SrcMAC: mac, Src: h1.Addr, Group: c.dst}))
		f[hxIGMP] = c.typ
		f = hxFixIGMP(f)
		if ty, _, dst, ok := pbIGMP(f); !ok || ty != c.typ || dst != c.dst {
			t.Fatalf("%s: built type %#x to %v", c.name, ty, dst)
		}
		for range n {
			write(f)
		}
	}
	time.Sleep(500 * time.Millisecond)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, ns := range receivers {
				if got := pbCountIGMP(caps[ns].Sniffer, start, c.typ, h1.Addr, c.dst); got != n {
					t.Errorf("%s received %d of %d", ns, got, n)
				}
			}
		})
	}
	waitFor(t, 3*time.Second, "the daemon read them as igmp_other", func() (bool, string) {
		got := hostileStats(t, d).Received["igmp_other"] - before
		return got >= uint64(n*len(cases)), fmt.Sprintf("%d", got)
	})
	var gs groupsJSON
	if err := d.Show("groups", &gs); err != nil {
		t.Fatal(err)
	}
	for _, g := range gs.Groups {
		if g.Port == h1.Port {
			t.Errorf("learned from an unknown IGMP type: %+v", g)
		}
	}
}

// pbSharedMAC joins two groups that map to one MAC address from h1 and
// h2, and checks that each host receives only its own group while the
// sender streams both, and that the MDB keeps them apart.
func pbSharedMAC(t *testing.T, l *lab.Lab, d *lab.Daemon, a, b netip.Addr) {
	t.Helper()
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, h3.Name, l.Router)
	joinHost(t, l, d, h1, a)
	joinHost(t, l, d, h2, b)
	// Both hosts' reports taken, for their own group or (wrongly) the other.
	waitFor(t, 10*time.Second, "h1's and h2's joins learned", func() (bool, string) {
		_, ok1, seen := member(t, d, a, h1.Port)
		_, ok2, _ := member(t, d, b, h2.Port)
		_, bad2, _ := member(t, d, a, h2.Port)
		return ok1 && (ok2 || bad2), seen
	})
	time.Sleep(200 * time.Millisecond)
	var rows []string
	var gs groupsJSON
	if err := d.Show("groups", &gs); err != nil {
		t.Fatal(err)
	}
	for _, g := range gs.Groups {
		if g.Group == a.String() || g.Group == b.String() {
			rows = append(rows, g.Group+"@"+g.Port)
		}
	}
	want := []string{a.String() + "@" + h1.Port, b.String() + "@" + h2.Port}
	if slices.Sort(rows); !slices.Equal(rows, want) && !slices.Equal(rows, []string{want[1], want[0]}) {
		t.Errorf("show groups has %v, want %v", rows, want)
	}
	i1, i2 := portIndex(t, l, h1.Port), portIndex(t, l, h2.Port)
	_, by := portEntries(l, mdb(t, l))
	if len(by[a]) != 1 || by[a][0].Port != i1 || len(by[b]) != 1 || by[b][0].Port != i2 {
		t.Errorf("MDB: %v on %v, %v on %v; want %v on h1 (%d) only, %v on h2 (%d) only", a, by[a], b, by[b], a, i1, b, i2)
	}
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier
	pbDeliver(t, l, 20, map[netip.Addr]map[string]int{
		a: {h1.Name: 20, h2.Name: 0, h3.Name: 0, l.Router: 20},
		b: {h1.Name: 0, h2.Name: 20, h3.Name: 0, l.Router: 20},
	}, caps)
}

// pbMAC is the Ethernet address multicast to g goes to (RFC 1112 §6.4,
// RFC 2464 §7).
func pbMAC(g netip.Addr) net.HardwareAddr {
	if g.Is4() {
		a := g.As4()
		return net.HardwareAddr{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
	}
	a := g.As16()
	return net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// TestGroupsSharingAMACKeptApartIPv4: 239.1.1.1 and 238.129.1.1 both map
// to 01:00:5e:01:01:01; h1 joins the first, h2 the second, the sender
// streams both, and each host receives only its own group (RFC 4541 D5:
// forwarding by IP address, not by MAC).
//
// Checked failing: with handleReport (snoop/membership.go) keying groups
// by their MAC address (each group replaced by the 239/8 group of its
// MAC), h2's join is learned as 239.1.1.1 and h2 receives 20 of 239.1.1.1
// and 0 of 238.129.1.1.
func TestGroupsSharingAMACKeptApartIPv4(t *testing.T) {
	needRoot(t)
	a, b := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("238.129.1.1")
	if pbMAC(a).String() != pbMAC(b).String() {
		t.Fatalf("%v (%v) and %v (%v) do not share a MAC address", a, pbMAC(a), b, pbMAC(b))
	}
	l := newLab(t, lab.Config{Hosts: 3})
	d := startDaemon(t, l, fastTimers...)
	pbSharedMAC(t, l, d, a, b)
}

// TestGroupsSharingAMACKeptApartIPv6: ff0e::1:1 and ff05::1:1 share their
// low 32 bits and so the MAC address 33:33:00:01:00:01; as in IPv4, h1
// receives only the first and h2 only the second (RFC 4541 M8).
//
// Checked failing: as the IPv4 test, with every IPv6 group keyed as the
// ff0e:: group of its MAC address.
func TestGroupsSharingAMACKeptApartIPv6(t *testing.T) {
	needRoot(t)
	a, b := netip.MustParseAddr("ff0e::1:1"), netip.MustParseAddr("ff05::1:1")
	if pbMAC(a).String() != pbMAC(b).String() {
		t.Fatalf("%v (%v) and %v (%v) do not share a MAC address", a, pbMAC(a), b, pbMAC(b))
	}
	l := newLab(t, lab.Config{Hosts: 3, IPv6: true})
	d := startDaemon(t, l, fastTimers...)
	waitFor(t, 10*time.Second, "MLD querier heard", func() (bool, string) {
		q := querierOf(t, d, "mld")
		return q.Present && !q.Self, fmt.Sprintf("%+v", q)
	})
	pbSharedMAC(t, l, d, a, b)
}
