package integration

// Resilience tests (issue #6): report floods against the group limits,
// the daemon killed under traffic (with and without a restart), and ports
// added, removed, renamed and bounced while it runs.

import (
	"bufio"
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// resTimers are the lab's fast timers at log level info: at debug the
// daemon logs every one of a flood's frames.
var resTimers = append(append([]string{}, fastTimers...), "--log-level", "info")

// resFloodGroups is how many distinct groups a flood reports.
const resFloodGroups = 100_000

// resFloodGroup is the i-th group of a flood: 239.<base + i/65536>.x.y,
// clear of the groups other tests join.
func resFloodGroup(base byte, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{239, base + byte(i>>16), byte(i >> 8), byte(i)})
}

// resHostMAC returns the MAC address of eth0 in h's namespace.
func resHostMAC(t *testing.T, h lab.Host) net.HardwareAddr {
	t.Helper()
	conn, mac, err := lab.RawSocket(h.Name)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	return mac
}

// resV2Flood builds one IGMPv2 report from h for each of n groups.
func resV2Flood(t *testing.T, h lab.Host, base byte, n int) [][]byte {
	t.Helper()
	mac := resHostMAC(t, h)
	frames := make([][]byte, 0, n)
	for i := range n {
		f, err := wire.EncodeReport(wire.Report{Version: 2, SrcMAC: mac, Src: h.Addr, Group: resFloodGroup(base, i)})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	return frames
}

// resV3Flood builds IGMPv3 reports from h carrying n groups, perFrame
// MODE_IS_EXCLUDE {} records (an any-source join) to a report.
func resV3Flood(t *testing.T, h lab.Host, base byte, n, perFrame int) [][]byte {
	t.Helper()
	mac := resHostMAC(t, h)
	var frames [][]byte
	for i := 0; i < n; i += perFrame {
		var recs []wire.GroupRecord
		for j := i; j < min(i+perFrame, n); j++ {
			recs = append(recs, wire.GroupRecord{Type: wire.ModeIsExclude, Group: resFloodGroup(base, j)})
		}
		f, err := wire.EncodeReport(wire.Report{Version: 3, SrcMAC: mac, Src: h.Addr, Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	return frames
}

// resFlood is a report flood from one host's eth0 through a packet socket.
type resFlood struct {
	sent, failed atomic.Int64
	rounds       atomic.Int64 // complete passes over the frames
	stopc        chan struct{}
	done         chan struct{}
	start        time.Time
	elapsed      time.Duration
	err          error
}

// resStartFlood writes frames from h's eth0, gap apart or with no gap as
// fast as the socket takes them, over and over, until stop, maxRounds
// passes or maxTime.
func resStartFlood(t *testing.T, h lab.Host, frames [][]byte, gap time.Duration, maxRounds int, maxTime time.Duration) *resFlood {
	t.Helper()
	conn, _, err := lab.RawSocket(h.Name)
	if err != nil {
		t.Fatal(err)
	}
	f := &resFlood{stopc: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(f.done)
		defer conn.Close()
		deadline := f.start.Add(maxTime)
		for r := 0; r < maxRounds; r++ {
			for i, fr := range frames {
				if i%256 == 0 {
					select {
					case <-f.stopc:
						f.elapsed = time.Since(f.start)
						return
					default:
					}
					if time.Now().After(deadline) {
						f.elapsed = time.Since(f.start)
						return
					}
				}
				if _, err := conn.WriteTo(fr, &packet.Addr{HardwareAddr: net.HardwareAddr(fr[:6])}); err != nil {
					// ENOBUFS and the like: the flood is the test, go on.
					f.failed.Add(1)
					if f.err == nil {
						f.err = err
					}
					continue
				}
				f.sent.Add(1)
				if gap > 0 {
					time.Sleep(gap)
				}
			}
			f.rounds.Add(1)
		}
		f.elapsed = time.Since(f.start)
	}()
	t.Cleanup(f.stop)
	return f
}

// stop ends the flood and waits for its sender.
func (f *resFlood) stop() {
	select {
	case <-f.stopc:
	default:
		close(f.stopc)
	}
	<-f.done
}

func (f *resFlood) String() string {
	<-f.done
	rate := float64(f.sent.Load()) / f.elapsed.Seconds()
	return fmt.Sprintf("%d frames sent (%d refused by the socket, first error %v) in %v, %.0f frames/s",
		f.sent.Load(), f.failed.Load(), f.err, f.elapsed.Round(time.Millisecond), rate)
}

// resMemory returns the daemon's peak and current resident set size (kB),
// VmHWM and VmRSS of /proc/<pid>/status.
func resMemory(t *testing.T, d *lab.Daemon) (hwm, rss int) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.Pid()))
	if err != nil {
		t.Fatalf("daemon status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	if hwm == 0 {
		t.Fatalf("no VmHWM in /proc/%d/status", d.Pid())
	}
	return hwm, rss
}

// resKernel reads the switch bridge's MDB and multicast options.
func resKernel(l *lab.Lab) ([]bridge.Entry, bridge.Options, error) {
	var entries []bridge.Entry
	var opts bridge.Options
	err := lab.InNetns(l.Switch, func() error {
		br, _, err := bridge.Lookup(l.Bridge)
		if err != nil {
			return err
		}
		if opts, err = bridge.ReadOptions(br.Index); err != nil {
			return err
		}
		m, err := bridge.OpenMDB()
		if err != nil {
			return err
		}
		defer m.Close()
		entries, err = m.Dump(br.Index)
		return err
	})
	return entries, opts, err
}

// resKeys counts what mcast_hash_max limits: distinct (group, source,
// VLAN) MDB keys. It also counts the port entries of protocol proto.
func resKeys(entries []bridge.Entry, proto uint8) (keys, ofProto int) {
	type key struct {
		g, s netip.Addr
		vid  uint16
	}
	seen := map[key]bool{}
	for _, e := range entries {
		seen[key{e.Group, e.Source, e.VID}] = true
		if e.Port != e.Bridge && e.Proto == proto && !e.Source.IsValid() {
			ofProto++
		}
	}
	return len(seen), ofProto
}

// resPorts returns `show ports` by port name.
func resPorts(d *lab.Daemon) (map[string]snoop.PortView, error) {
	var ps struct{ Ports []snoop.PortView }
	if err := d.Show("ports", &ps); err != nil {
		return nil, err
	}
	out := map[string]snoop.PortView{}
	for _, p := range ps.Ports {
		out[p.Port] = p
	}
	return out, nil
}

// resStats returns `show stats` of the lab's one bridge.
func resStats(d *lab.Daemon) (snoop.Stats, error) {
	var s struct{ Stats []snoop.Stats }
	if err := d.Show("stats", &s); err != nil {
		return snoop.Stats{}, err
	}
	if len(s.Stats) != 1 {
		return snoop.Stats{}, fmt.Errorf("show stats: %d bridges", len(s.Stats))
	}
	return s.Stats[0], nil
}

// resSampler polls the daemon and the kernel while a flood runs and keeps
// the extremes.
type resSampler struct {
	mu                     sync.Mutex
	samples                int
	maxGroups, maxKeys     int
	maxPort                map[string]int
	kernelEntries          int // proto 2 port entries seen at once, at most
	snoopingOff            bool
	hashMax                uint32
	errs                   []string
	stopc, done            chan struct{}
	maxShow                time.Duration // slowest control answer
	showSlow, showFailures int
}

func resStartSampler(l *lab.Lab, d *lab.Daemon) *resSampler {
	s := &resSampler{maxPort: map[string]int{}, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 1000; i++ { // 200 s at most
			s.sample(l, d)
			select {
			case <-s.stopc:
				s.sample(l, d)
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *resSampler) sample(l *lab.Lab, d *lab.Daemon) {
	start := time.Now()
	st, err := resStats(d)
	took := time.Since(start)
	ports, perr := resPorts(d)
	entries, opts, kerr := resKernel(l)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	s.maxShow = max(s.maxShow, took)
	if err != nil || perr != nil {
		s.showFailures++
		if len(s.errs) < 5 {
			s.errs = append(s.errs, fmt.Sprintf("show: %v %v", err, perr))
		}
	} else {
		s.maxGroups = max(s.maxGroups, st.Groups)
		for n, p := range ports {
			s.maxPort[n] = max(s.maxPort[n], p.Groups)
		}
	}
	if kerr != nil {
		if len(s.errs) < 5 {
			s.errs = append(s.errs, "kernel: "+kerr.Error())
		}
		return
	}
	keys, kernel := resKeys(entries, bridge.ProtoKernel)
	s.maxKeys = max(s.maxKeys, keys)
	s.kernelEntries = max(s.kernelEntries, kernel)
	s.hashMax = opts.HashMax
	if !opts.Snooping {
		s.snoopingOff = true
	}
}

// peakPort is the most groups port held in a sample so far.
func (s *resSampler) peakPort(port string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxPort[port]
}

func (s *resSampler) stop() {
	select {
	case <-s.stopc:
	default:
		close(s.stopc)
	}
	<-s.done
}

func (s *resSampler) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("%d samples: at most %d groups in the table, per port %v, %d MDB keys (hash_max %d), %d kernel-learned entries; snooping switched off: %v; slowest show stats %v; failed shows %d %v",
		s.samples, s.maxGroups, s.maxPort, s.maxKeys, s.hashMax, s.kernelEntries, s.snoopingOff, s.maxShow.Round(time.Millisecond), s.showFailures, s.errs)
}

// resDrained waits until the daemon has read and handled all it will of
// a flood on port: its counters stand still for a second.
func resDrained(t *testing.T, d *lab.Daemon, port string) snoop.PortView {
	t.Helper()
	var last snoop.PortView
	still := 0
	for i := 0; i < 120 && still < 2; i++ { // 60 s at most
		time.Sleep(500 * time.Millisecond)
		ports, err := resPorts(d)
		if err != nil {
			t.Logf("show ports: %v", err) // the loop is busy: ask again
			still = 0
			continue
		}
		p := ports[port]
		if p.Received == last.Received && p.Refused == last.Refused && p.SocketDropped == last.SocketDropped {
			still++
		} else {
			still = 0
		}
		last = p
	}
	if still < 2 {
		t.Fatalf("the daemon was still reading the flood on %s after 60 s: %+v", port, last)
	}
	return last
}

// resLinkDrops returns the frames the veth pair between h and its port
// dropped (the host's tx_dropped plus the port's rx_dropped): the kernel's
// backlog overflowing before any packet socket saw them.
func resLinkDrops(t *testing.T, l *lab.Lab, h lab.Host, port string) int {
	t.Helper()
	read := func(ns, dev, stat string) int {
		out, err := l.Exec(ns, "cat", "/sys/class/net/"+dev+"/statistics/"+stat)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("%s %s: %q", dev, stat, out)
		}
		return n
	}
	return read(h.Name, "eth0", "tx_dropped") + read(l.Switch, port, "rx_dropped")
}

// resStartDaemon is startDaemon for floods: the log it prints when the
// test fails leaves out the one line per join, expiry and refused group a
// flood makes (tens of megabytes), and says how many it left out.
func resStartDaemon(t *testing.T, l *lab.Lab, args ...string) *lab.Daemon {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "igmpsnoop.sock")
	d, err := l.StartDaemon(daemonBin, socket, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("daemon stop: %v", err)
		}
		if !t.Failed() && os.Getenv("IGMPSNOOP_TEST_LOG") == "" {
			return
		}
		var kept []string
		left := 0
		for _, ln := range strings.Split(d.Log(), "\n") {
			if strings.Contains(ln, "limit reached") || strings.Contains(ln, `"event": "join"`) || strings.Contains(ln, `"event": "expire"`) {
				left++
				continue
			}
			kept = append(kept, ln)
		}
		t.Logf("daemon log (%d join, expire and limit lines left out):\n%s", left, strings.Join(kept, "\n"))
	})
	return d
}

// resMember is member for a daemon with thousands of groups on a loaded
// machine: its loop may be busy for seconds (a mass expiry after a flood),
// so a show that times out is retried a few times before the test fails.
func resMember(t *testing.T, d *lab.Daemon, group netip.Addr, port string) (bool, string) {
	t.Helper()
	var gs groupsJSON
	var err error
	for i := 0; i < 4; i++ {
		start := time.Now()
		if err = d.Show("groups", &gs); err == nil {
			if took := time.Since(start); took > time.Second {
				t.Logf("show groups took %v (%d rows)", took.Round(time.Millisecond), len(gs.Groups))
			}
			break
		}
		t.Logf("show groups: %v (try %d)", err, i+1)
	}
	if err != nil {
		t.Fatalf("show groups: %v", err)
	}
	var seen []string
	for _, g := range gs.Groups {
		if g.Group == group.String() && g.Port == port {
			return true, ""
		}
		if len(seen) < 10 {
			seen = append(seen, g.Group+"@"+g.Port)
		}
	}
	return false, fmt.Sprintf("%d rows: %v...", len(gs.Groups), seen)
}

// resCheck runs `igmpsnoop check` and fails unless the MDB is consistent.
func resCheck(t *testing.T, d *lab.Daemon, when string) {
	t.Helper()
	out, err := lab.Run(d.Bin, "check", "--socket", d.Socket)
	if err != nil || !strings.HasPrefix(out, "br0: consistent:") {
		t.Errorf("igmpsnoop check %s: %v\n%s", when, err, out)
	}
}

// resLimitWarnings counts the daemon's log lines about refused joins.
func resLimitWarnings(d *lab.Daemon) int {
	n := 0
	for _, ln := range strings.Split(d.Log(), "\n") {
		if strings.Contains(ln, "limit reached") {
			n++
		}
	}
	return n
}

// TestFloodLimitsHold: one port reports 100 000 distinct groups (IGMPv2,
// one per frame) as fast as a packet socket sends them, then another port
// as many packed in IGMPv3 reports: the per-port and bridge limits hold
// throughout, the kernel never learns by itself, memory stays bounded, a
// join on a third port during the flood is learned promptly, and the
// frames the daemon could not read in time are counted as socket drops.
func TestFloodLimitsHold(t *testing.T) {
	needRoot(t)
	const perPort, total = 1000, 1500
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h3.Name)
	args := append([]string{"--max-groups-per-port", strconv.Itoa(perPort), "--max-groups", strconv.Itoa(total)}, resTimers...)
	d := resStartDaemon(t, l, args...)
	waitFor(t, 10*time.Second, "querier heard", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return q.Present, fmt.Sprintf("%+v", q)
	})
	hwm0, _ := resMemory(t, d)
	v2 := resV2Flood(t, h1, 100, resFloodGroups)
	v3 := resV3Flood(t, h2, 110, resFloodGroups, 64)

	s := resStartSampler(l, d)
	defer s.stop()
	flood := resStartFlood(t, h1, v2, 0, 3, 30*time.Second)
	// The join goes in once the daemon is busy with the flood.
	waitFor(t, 10*time.Second, "flood under way", func() (bool, string) {
		return flood.sent.Load() >= 5000, fmt.Sprint(flood.sent.Load(), " sent")
	})
	m, err := l.Join(h3, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave()
	took := waitFor(t, 5*time.Second, "h3's join learned during the flood", func() (bool, string) {
		ok, _ := resMember(t, d, g1, h3.Port)
		return ok, fmt.Sprint(flood.sent.Load(), " flood frames sent")
	})
	sentAtJoin := flood.sent.Load()
	t.Logf("join on %s learned %v after it was made, during the flood (%d flood frames sent by then)", h3.Port, took.Round(time.Millisecond), sentAtJoin)
	if flood.rounds.Load() > 0 {
		t.Logf("note: the first pass of the flood had ended before the join was learned")
	}
	waitFor(t, 30*time.Second, "a full pass of the flood", func() (bool, string) {
		return flood.rounds.Load() >= 1, fmt.Sprint(flood.sent.Load(), " sent")
	})
	flood.stop()
	t.Logf("IGMPv2 flood from %s: %v", h1.Port, flood)
	p1 := resDrained(t, d, h1.Port)
	linkDrops := resLinkDrops(t, l, h1, h1.Port)
	read := int(p1.Received + p1.Refused)
	missing := int(flood.sent.Load()) - linkDrops - read
	t.Logf("%s: %d sent, %d dropped by the veth, %d read by the daemon (%d refused, %d ignored), %d socket drops counted; %d unaccounted for by the daemon",
		h1.Port, flood.sent.Load(), linkDrops, read, p1.Refused, p1.Ignored, p1.SocketDropped, missing)
	if p1.SocketDropped == 0 {
		if missing > 10 {
			t.Errorf("%d flood frames reached the port but the daemon neither read them nor counted socket drops", missing)
		} else {
			t.Logf("no AF_PACKET drops provoked: the daemon read every frame that crossed the veth")
		}
	} else if diff := int(p1.SocketDropped) - missing; diff < -10 || diff > 10 {
		// Every frame that crossed the veth was read or dropped by the
		// socket: the counter must account for what went missing.
		t.Errorf("socket_dropped %d, but %d frames crossed the veth without being read", p1.SocketDropped, missing)
	}
	if n := s.peakPort(h1.Port); n != perPort {
		t.Errorf("%s held at most %d groups during the flood, want its limit %d", h1.Port, n, perPort)
	}
	if ok, seen := resMember(t, d, g1, h3.Port); !ok {
		t.Errorf("h3 lost %v during the flood: %s", g1, seen)
	}
	expectDelivery(t, l, g1, 20, map[string]int{h3.Name: 20}, caps)

	// The second port fills what is left of the bridge's limit.
	flood2 := resStartFlood(t, h2, v3, time.Millisecond, 1, 30*time.Second)
	<-flood2.done
	t.Logf("IGMPv3 flood from %s, 64 records a report: %v", h2.Port, flood2)
	p2 := resDrained(t, d, h2.Port)
	s.stop()
	t.Logf("sampled: %v", s)

	st, err := resStats(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after both floods: %d groups, %d memberships; %s ignored %v; %s ignored %v; %s socket drops %d",
		st.Groups, st.Memberships, h1.Port, st.Ports[h1.Port].Ignored, h2.Port, st.Ports[h2.Port].Ignored, h2.Port, p2.SocketDropped)
	// The floods must stay on their ports: the LAN keeps its querier (the
	// router, itself a snooping bridge with a hash_max of its own) and
	// the member on the third port keeps its group.
	t.Logf("reports relayed to the router port: %d", st.Relayed)
	if out, err := l.Exec(l.Router, "ip", "-d", "link", "show", "rbr"); err != nil || !strings.Contains(out, "mcast_snooping 1") {
		t.Errorf("the router's bridge switched snooping off (so stopped querying): it got %d reports relayed, those refused at the limits included (%v)", st.Relayed, err)
	}
	if q := querierOf(t, d, "igmp"); !q.Present {
		t.Errorf("the LAN lost its querier during the floods: %+v", q)
	}
	if ok, seen := resMember(t, d, g1, h3.Port); !ok {
		t.Errorf("h3 lost %v after the floods: %s", g1, seen)
	}
	ig2 := st.Ports[h2.Port].Ignored
	t.Logf("%s: %d of %d reports read (%d socket drops); of the %d distinct groups they carried %d were learned, %d refused at a limit",
		h2.Port, p2.Received, len(v3), p2.SocketDropped, resFloodGroups, p2.Groups, ig2["table_limit"]+ig2["port_limit"])
	if st.Groups > total || s.maxGroups > total {
		t.Errorf("the table held %d groups (now %d), over --max-groups %d", s.maxGroups, st.Groups, total)
	}
	for port, n := range s.maxPort {
		if n > perPort {
			t.Errorf("port %s held %d groups, over --max-groups-per-port %d", port, n, perPort)
		}
	}
	if s.maxKeys > total {
		t.Errorf("the MDB held %d keys, more than --max-groups %d", s.maxKeys, total)
	}
	if s.kernelEntries > 0 || s.snoopingOff {
		t.Errorf("kernel learned %d entries itself; snooping switched off: %v", s.kernelEntries, s.snoopingOff)
	}
	if st.Groups < total {
		// h1's groups may have begun to age out by now (the flood
		// refreshes nothing after its pass); still the second flood must
		// have been stopped by a limit.
		t.Logf("the table holds %d groups, under the limit %d: some of h1's have aged out", st.Groups, total)
	}
	if st.Ports[h2.Port].Ignored["table_limit"]+st.Ports[h2.Port].Ignored["port_limit"] == 0 {
		t.Errorf("%s's flood met no limit: %v", h2.Port, st.Ports[h2.Port].Ignored)
	}
	if st.Ports[h1.Port].Ignored["port_limit"] == 0 {
		t.Errorf("%s's flood met no per-port limit: %v", h1.Port, st.Ports[h1.Port].Ignored)
	}
	hwm, rss := resMemory(t, d)
	t.Logf("daemon memory: peak RSS (VmHWM) %d kB before the floods, %d kB after; RSS now %d kB (race-enabled build)", hwm0, hwm, rss)
	if hwm > 512*1024 {
		t.Errorf("daemon peak RSS %d kB: over 512 MB for %d groups", hwm, total)
	}
	t.Logf("log: %d bytes, %d lines about a limit reached", len(d.Log()), resLimitWarnings(d))
	if d.Exited() {
		t.Fatalf("daemon exited: %v", d.Err())
	}
	resCheck(t, d, "after the floods")
}

// TestFloodDefaultsKeepKernelSnooping: with the default limits (3/4 of
// mcast_hash_max, no per-port limit) a flood of 100 000 groups fills the
// table to the limit and no further: the MDB stays under hash_max, so the
// kernel never switches snooping off, and a member on another port keeps
// its group and its traffic.
func TestFloodDefaultsKeepKernelSnooping(t *testing.T) {
	needRoot(t)
	// The querier is a plain sender of queries, not the router's bridge:
	// this test is about this bridge's hash_max, and the router's bridge
	// has one of its own that the relayed flood overruns (see
	// TestFloodLimitsHold).
	l := newLab(t, lab.Config{Hosts: 3, NoQuerier: true})
	stopQ, err := l.StartQuerier(l.RouterAddr, 2*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stopQ()
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h2.Name, h3.Name)
	d := resStartDaemon(t, l, resTimers...)
	waitFor(t, 10*time.Second, "querier heard", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return q.Present, fmt.Sprintf("%+v", q)
	})
	_, opts, err := resKernel(l)
	if err != nil {
		t.Fatal(err)
	}
	limit := int(opts.HashMax) * 3 / 4
	joinLearned(t, l, d, h2, g1)
	time.Sleep(1500 * time.Millisecond) // the bridge floods for a response interval after a new querier
	hwm0, _ := resMemory(t, d)

	s := resStartSampler(l, d)
	defer s.stop()
	flood := resStartFlood(t, h1, resV2Flood(t, h1, 100, resFloodGroups), 0, 1, 30*time.Second)
	<-flood.done
	t.Logf("IGMPv2 flood from %s: %v", h1.Port, flood)
	// A join on a third port once the flood has filled the table.
	m3, err := l.Join(h3, g3)
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Leave()
	p1 := resDrained(t, d, h1.Port)
	s.stop()
	t.Logf("sampled: %v", s)
	_, opts, err = resKernel(l)
	if err != nil {
		t.Fatal(err)
	}
	if !opts.Snooping || s.snoopingOff {
		t.Errorf("the kernel switched mcast_snooping off (now %v): the MDB went over hash_max %d", opts.Snooping, opts.HashMax)
	}
	if s.maxKeys >= int(opts.HashMax) {
		t.Errorf("the MDB reached %d keys, hash_max is %d", s.maxKeys, opts.HashMax)
	}
	st, err := resStats(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hash_max %d, default limit %d; table: %d groups (at most %d), %s: %d groups, socket drops %d, ignored %v",
		opts.HashMax, limit, st.Groups, s.maxGroups, h1.Port, p1.Groups, p1.SocketDropped, st.Ports[h1.Port].Ignored)
	if s.maxGroups > limit || st.Groups > limit {
		t.Errorf("the table held %d groups, over the default limit %d", s.maxGroups, limit)
	}
	if st.Ports[h1.Port].Ignored["table_limit"] == 0 {
		t.Errorf("the flood met no table limit: %v", st.Ports[h1.Port].Ignored)
	}
	if ok, seen := resMember(t, d, g1, h2.Port); !ok {
		t.Errorf("h2 lost %v in the flood: %s", g1, seen)
	}
	// With no per-port limit by default the flooding port may fill the
	// table: h3's join is then refused, and counted as such, never lost.
	if ok, _ := resMember(t, d, g3, h3.Port); !ok {
		if st.Ports[h3.Port].Ignored["table_limit"] == 0 {
			t.Errorf("h3's join of %v was neither learned nor counted as refused (%s ignored %v)", g3, h3.Port, st.Ports[h3.Port].Ignored)
		} else {
			t.Logf("as documented, the flood filled the table and h3's join of %v was refused", g3)
		}
	}
	expectDelivery(t, l, g1, 20, map[string]int{h2.Name: 20, h3.Name: 0}, caps)
	if out, err := l.Exec(l.Router, "ip", "-d", "link", "show", "rbr"); err == nil && !strings.Contains(out, "mcast_snooping 1") {
		t.Logf("note: the router's bridge switched snooping off: %d reports were relayed to it (see TestFloodLimitsHold)", st.Relayed)
	}
	hwm, rss := resMemory(t, d)
	t.Logf("daemon memory: peak RSS (VmHWM) %d kB before the flood, %d kB after; RSS now %d kB (race-enabled build)", hwm0, hwm, rss)
	if hwm > 512*1024 {
		t.Errorf("daemon peak RSS %d kB: over 512 MB for %d groups", hwm, limit)
	}
	t.Logf("log: %d bytes, %d lines about a limit reached", len(d.Log()), resLimitWarnings(d))
	if d.Exited() {
		t.Fatalf("daemon exited: %v", d.Err())
	}
}

// resStream sends to group:5000 from the sender every gap until the
// returned stop is called (at most limit datagrams); stop returns how many
// it sent.
func resStream(l *lab.Lab, group netip.Addr, gap time.Duration, limit int) (stop func() (int, error)) {
	stopc := make(chan struct{})
	errc := make(chan error, 1)
	sent := 0
	go func() {
		errc <- lab.InNetns(l.Sender, func() error {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: lab.Sender1.AsSlice()}, &net.UDPAddr{IP: group.AsSlice(), Port: 5000})
			if err != nil {
				return err
			}
			defer c.Close()
			tick := time.NewTicker(gap)
			defer tick.Stop()
			for sent < limit {
				select {
				case <-stopc:
					return nil
				case <-tick.C:
				}
				if _, err := c.Write([]byte("igmpsnoop resilience " + strconv.Itoa(sent))); err != nil {
					return err
				}
				sent++
			}
			return nil
		})
	}()
	return func() (int, error) {
		close(stopc)
		err := <-errc
		return sent, err
	}
}

// TestCrashAndRestartUnderTraffic: the daemon is killed (SIGKILL) while a
// group streams at 200 packets/s to two members, and restarted: the
// members lose at most 2 % of the stream over the whole window, a
// non-member gets none of it, the new daemon shows the memberships as
// soon as it answers, and a leave afterwards prunes.
func TestCrashAndRestartUnderTraffic(t *testing.T) { crashAndRestartUnderTraffic(t, nowMode) }

func crashAndRestartUnderTraffic(t *testing.T, mode snoopMode) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, h3.Name)
	d := startDaemon(t, l, mode.args(resTimers...)...)
	var ms []*lab.Membership
	for _, h := range []lab.Host{h1, h2} {
		m, err := l.Join(h, g1)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Leave()
		ms = append(ms, m)
	}
	waitFor(t, 10*time.Second, "both members learned", func() (bool, string) {
		_, ok1, seen := member(t, d, g1, h1.Port)
		_, ok2, _ := member(t, d, g1, h2.Port)
		return ok1 && ok2 && querierOf(t, d, "igmp").Present, seen
	})
	time.Sleep(1500 * time.Millisecond) // the bridge floods for a response interval after a new querier
	for _, c := range caps {
		c.Reset()
	}

	stop := resStream(l, g1, 5*time.Millisecond, 4000)
	time.Sleep(1500 * time.Millisecond)
	d.Kill()
	killed := time.Now()
	time.Sleep(500 * time.Millisecond)
	d2 := startDaemon(t, l, mode.args(resTimers...)...)
	restarted := time.Since(killed)
	mode.expectGuards(t, l, 1, "restarted")
	var missing []string
	for _, h := range []lab.Host{h1, h2} {
		if _, ok, seen := member(t, d2, g1, h.Port); !ok {
			missing = append(missing, h.Port+" (shows "+seen+")")
		}
	}
	if len(missing) > 0 {
		t.Errorf("the restarted daemon did not adopt %v on %v", g1, missing)
	}
	time.Sleep(2 * time.Second)
	sent, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the last frames cross the veths
	t.Logf("daemon killed, restarted and answering %v later; %d frames sent at 200/s", restarted.Round(time.Millisecond), sent)
	for _, h := range []lab.Host{h1, h2} {
		got := caps[h.Name].Count(g1)
		loss := 100 * float64(sent-got) / float64(sent)
		t.Logf("%s received %d of %d: %.2f %% lost", h.Name, got, sent, loss)
		if loss > 2 {
			t.Errorf("%s lost %.2f %% of the stream across the crash and restart (received %d of %d), more than 2 %%", h.Name, loss, got, sent)
		}
	}
	if n := caps[h3.Name].Count(g1); n != 0 {
		t.Errorf("non-member %s received %d frames of %v around the crash", h3.Name, n, g1)
	}
	// Once both members have reported to the new daemon (an adopted row
	// shows version 0 until then), its table and the MDB agree.
	waitFor(t, 5*time.Second, "both adopted memberships refreshed by a report", func() (bool, string) {
		r1, ok1, seen := member(t, d2, g1, h1.Port)
		r2, ok2, _ := member(t, d2, g1, h2.Port)
		return ok1 && ok2 && r1.Version != 0 && r2.Version != 0, seen
	})
	resCheck(t, d2, "after the restart")
	mode.expectProto(t, l, "after the restart")
	// The adopted memberships are live: a leave prunes.
	if err := ms[0].Leave(); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, lmqt+3*time.Second, "h1's leave pruned by the restarted daemon", func() (bool, string) {
		_, ok, seen := member(t, d2, g1, h1.Port)
		return !ok, seen
	})
	t.Logf("leave pruned after %v", took.Round(time.Millisecond))
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 0, h2.Name: 20, h3.Name: 0}, caps)
}

// TestCrashRestartThenCheckKeepsAdoptedEntries: right after a restart the
// memberships the daemon adopted from the MDB are its own, so a
// consistency check (`igmpsnoop check`, or the periodic one) must find the
// MDB equal to the table and leave the entries, and their traffic, alone.
func TestCrashRestartThenCheckKeepsAdoptedEntries(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	caps := captures(t, l, h1.Name, h2.Name)
	d := startDaemon(t, l, resTimers...)
	joinLearnedQuerier(t, l, d, h1, g1)
	d.Kill()
	d2 := startDaemon(t, l, resTimers...)
	if r, ok, seen := member(t, d2, g1, h1.Port); !ok {
		t.Fatalf("not adopted: %s", seen)
	} else {
		t.Logf("adopted: %+v", r)
	}
	resCheck(t, d2, "right after the restart")
	h1i := portIndex(t, l, h1.Port)
	_, byGroup := portEntries(l, mdb(t, l))
	if len(byGroup[g1]) != 1 || byGroup[g1][0].Port != h1i {
		t.Errorf("h1's adopted entry is gone from the MDB after the check: %v", byGroup[g1])
	}
	// The members' traffic right after the check, before h1 reports again.
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0}, caps)
}

// TestFaultGroupQueryThenCheck: a group-specific query from the querier
// (the router asking whether anyone still wants a group) marks the group's
// entries to be rewritten at the next report; a consistency check in
// between must still count them as the daemon's and keep them.
func TestFaultGroupQueryThenCheck(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1 := l.Hosts[0]
	d := startDaemon(t, l, resTimers...)
	joinLearnedQuerier(t, l, d, h1, g1)
	resCheck(t, d, "before the query")
	// h1 goes silent, so nothing rewrites the entry before the check: it
	// stays a member until the last member query time has passed.
	if err := l.Silence(h1); err != nil {
		t.Fatal(err)
	}
	frame, err := wire.EncodeQuery(wire.Query{
		Version: 3, SrcMAC: net.HardwareAddr{0x02, 0x77, 0, 0, 0, 1}, Src: l.RouterAddr, Group: g1,
		MaxResp: time.Second, QRV: 2, QueryInterval: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := lab.RawSocket(l.Router)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[:6])})
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok, seen := member(t, d, g1, h1.Port); !ok {
		t.Fatalf("h1 pruned within 100 ms of a group-specific query: %s", seen)
	}
	resCheck(t, d, "just after a group-specific query")
	h1i := portIndex(t, l, h1.Port)
	_, byGroup := portEntries(l, mdb(t, l))
	if _, ok, _ := member(t, d, g1, h1.Port); ok && (len(byGroup[g1]) != 1 || byGroup[g1][0].Port != h1i) {
		t.Errorf("the daemon still holds %v on %s, but the check removed its MDB entry: %v", g1, h1.Port, byGroup[g1])
	}
}

// TestCrashWithoutRestartFallsBackToKernel: once the daemon is killed
// (SIGKILL) and not restarted, its guards are gone with it, so the bridge
// snoops by itself: a new join is learned by the kernel (proto 2) and gets
// its traffic, reports reach the router again, and entries of ours that
// nobody refreshes (a member gone silent, one that left as the daemon
// died) are gone within one membership interval.
func TestCrashWithoutRestartFallsBackToKernel(t *testing.T) {
	crashWithoutRestartFallsBackToKernel(t, nowMode)
}

func crashWithoutRestartFallsBackToKernel(t *testing.T, mode snoopMode) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, h3.Name, l.Router)
	d := startDaemon(t, l, mode.args(resTimers...)...)
	m1, err := l.Join(h1, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Leave()
	m2, err := l.Join(h2, g3)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Leave()
	// h1 leaves a second group just after the kill, while a tc guard
	// still drops its leave: nobody prunes that entry but the kernel's
	// timer.
	gLeft := netip.MustParseAddr("239.77.6.6")
	mLeft, err := l.Join(h1, gLeft)
	if err != nil {
		t.Fatal(err)
	}
	defer mLeft.Leave()
	waitFor(t, 10*time.Second, "all learned", func() (bool, string) {
		_, ok1, seen := member(t, d, g1, h1.Port)
		_, ok2, _ := member(t, d, g3, h2.Port)
		_, ok3, _ := member(t, d, gLeft, h1.Port)
		return ok1 && ok2 && ok3 && querierOf(t, d, "igmp").Present, seen
	})
	_, opts, err := resKernel(l)
	if err != nil {
		t.Fatal(err)
	}
	mi := opts.MembershipInterval
	t.Logf("bridge mcast_membership_interval %v", mi)
	if mi <= 0 || mi > 30*time.Second {
		t.Fatalf("membership interval %v", mi)
	}
	// h2 falls silent as the daemon dies: its entry must go by itself.
	if err := l.Silence(h2); err != nil {
		t.Fatal(err)
	}
	d.Kill()
	killed := time.Now()
	if err := mLeft.Leave(); err != nil {
		t.Fatal(err)
	}
	h1i, h2i, h3i := portIndex(t, l, h1.Port), portIndex(t, l, h2.Port), portIndex(t, l, h3.Port)

	// A new join: the kernel learns it, and the report reaches the router.
	caps[l.Router].Reset()
	g5 := netip.MustParseAddr("239.5.5.5")
	m3, err := l.Join(h3, g5)
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Leave()
	mode.expectGuards(t, l, 1, "after SIGKILL")
	took := waitFor(t, mode.kernelLearns-time.Since(killed), "h3's join learned by the kernel", func() (bool, string) {
		all, byGroup := portEntries(l, mdb(t, l))
		for _, e := range byGroup[g5] {
			if e.Port == h3i && e.Proto == bridge.ProtoKernel {
				return true, ""
			}
		}
		return false, strings.Join(all, " ")
	})
	t.Logf("kernel learned h3's join %v after the join, %v after the kill (bound %v)", took.Round(time.Millisecond),
		time.Since(killed).Round(time.Millisecond), mode.kernelLearns)
	if n := caps[l.Router].IGMPFrom(h3.Addr); n == 0 {
		t.Errorf("the router heard no report from h3 after the daemon died: IGMP black-holed")
	}
	expectDelivery(t, l, g5, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 20, l.Router: 20}, caps)

	// Within one membership interval of the kill, h2's entry of ours has
	// expired; h1 keeps reporting, so the kernel keeps its entry alive.
	for _, stale := range []struct {
		who   string
		group netip.Addr
		port  int
	}{{"h2's silent", g3, h2i}, {"h1's left", gLeft, h1i}} {
		waitFor(t, mi+3*time.Second-time.Since(killed), stale.who+" entry gone", func() (bool, string) {
			_, byGroup := portEntries(l, mdb(t, l))
			for _, e := range byGroup[stale.group] {
				if e.Port == stale.port {
					return false, fmt.Sprintf("%v@%d/proto%d timer %v", e.Group, e.Port, e.Proto, e.Timer)
				}
			}
			return true, ""
		})
		t.Logf("%s entry gone %v after the kill (membership interval %v)", stale.who, time.Since(killed).Round(time.Millisecond), mi)
	}
	if wait := mi + time.Second - time.Since(killed); wait > 0 {
		time.Sleep(wait)
	}
	all, byGroup := portEntries(l, mdb(t, l))
	t.Logf("MDB %v after the kill: %v", time.Since(killed).Round(time.Millisecond), all)
	for g, es := range byGroup {
		for _, e := range es {
			alive := g == g1 && e.Port == h1i || g == g5 && e.Port == h3i
			if !alive {
				t.Errorf("stale entry %v@%d/proto%d one membership interval after the kill", g, e.Port, e.Proto)
			}
		}
	}
	if len(byGroup[g1]) != 1 {
		t.Errorf("h1's live membership of %v has entries %v, want one", g1, byGroup[g1])
	} else if e := byGroup[g1][0]; e.Proto == mode.proto {
		t.Logf("h1's entry still says proto %d: the kernel refreshes an existing entry from h1's reports without relabelling it", mode.proto)
	}
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
	expectDelivery(t, l, g3, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 0, l.Router: 20}, caps)
}

// TestFaultsPortChanges: ports added (a host plugged in), removed (its
// veth deleted), renamed and set down and up while the daemon runs: after
// each it snoops the affected port correctly, keeps nothing for a port
// that is gone, and `igmpsnoop check` finds the MDB equal to its table.
func TestFaultsPortChanges(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	d := startDaemon(t, l, fastTimers...)
	waitFor(t, 10*time.Second, "querier heard", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		return q.Present, fmt.Sprintf("%+v", q)
	})
	portShown := func(t *testing.T, name string) (snoop.PortView, bool) {
		ports, err := resPorts(d)
		if err != nil {
			t.Fatalf("show ports: %v", err)
		}
		p, ok := ports[name]
		return p, ok
	}
	// entriesOn returns the MDB port entries on ifindex.
	entriesOn := func(t *testing.T, ifindex int) []string {
		var out []string
		for _, e := range mdb(t, l) {
			if e.Port == ifindex && e.Port != e.Bridge {
				out = append(out, fmt.Sprintf("%v/proto%d", e.Group, e.Proto))
			}
		}
		return out
	}
	learned := func(t *testing.T, port string, g netip.Addr) {
		t.Helper()
		took := waitFor(t, 10*time.Second, fmt.Sprintf("%v learned on %s", g, port), func() (bool, string) {
			_, ok, seen := member(t, d, g, port)
			return ok, seen
		})
		idx := portIndex(t, l, port)
		waitFor(t, 2*time.Second, fmt.Sprintf("%v installed on %s", g, port), func() (bool, string) {
			es := entriesOn(t, idx)
			return len(es) == 1 && es[0] == fmt.Sprintf("%v/proto%d", g, ourProto), fmt.Sprint(es)
		})
		t.Logf("%v learned on %s after %v", g, port, took.Round(time.Millisecond))
	}

	m1, err := l.Join(h1, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Leave()
	m2, err := l.Join(h2, g3)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Leave()
	learned(t, h1.Port, g1)
	learned(t, h2.Port, g3)
	resCheck(t, d, "at start")

	prefix := strings.TrimSuffix(l.Switch, "-sw")
	h9 := lab.Host{Name: prefix + "-h9", Port: "h9", Addr: netip.MustParseAddr("10.77.0.19")}
	var h9i int
	var m9 *lab.Membership
	t.Run("port added", func(t *testing.T) {
		if err := l.AddNetns(h9.Name); err != nil {
			t.Fatal(err)
		}
		if err := ip("link", "add", h9.Port, "netns", l.Switch, "type", "veth", "peer", "name", "eth0", "netns", h9.Name); err != nil {
			t.Fatal(err)
		}
		// Plugged in as a network manager does it: into the bridge first,
		// up afterwards; the daemon sees the port before it is up.
		for _, s := range [][]string{
			{l.Switch, "ip", "link", "set", h9.Port, "master", l.Bridge},
			{h9.Name, "ip", "addr", "add", h9.Addr.String() + "/24", "dev", "eth0"},
			{h9.Name, "ip", "link", "set", "eth0", "up"},
		} {
			if err := l.Run(s[0], s[1], s[2:]...); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 5*time.Second, "new port shown while down", func() (bool, string) {
			p, ok := portShown(t, h9.Port)
			return ok && !p.Up && p.STP == "disabled", fmt.Sprintf("%+v, shown %t", p, ok)
		})
		if err := l.Run(l.Switch, "ip", "link", "set", h9.Port, "up"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "new port up", func() (bool, string) {
			p, ok := portShown(t, h9.Port)
			return ok && p.Up && p.STP == "forwarding", fmt.Sprintf("%+v", p)
		})
		h9i = portIndex(t, l, h9.Port)
		if m9, err = l.Join(h9, g1); err != nil {
			t.Fatal(err)
		}
		learned(t, h9.Port, g1)
		caps := captures(t, l, h9.Name, h1.Name, h2.Name)
		expectDelivery(t, l, g1, 20, map[string]int{h9.Name: 20, h1.Name: 20, h2.Name: 0}, caps)
		resCheck(t, d, "after a port was added")
	})

	t.Run("port removed", func(t *testing.T) {
		if m9 == nil {
			t.Skip("no port was added")
		}
		defer m9.Leave()
		if err := l.Run(l.Switch, "ip", "link", "del", h9.Port); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "removed port forgotten", func() (bool, string) {
			_, shown := portShown(t, h9.Port)
			_, ok, seen := member(t, d, g1, h9.Port)
			return !shown && !ok, seen
		})
		var gs groupsJSON
		if err := d.Show("groups", &gs); err != nil {
			t.Fatal(err)
		}
		for _, g := range gs.Groups {
			if g.Port == h9.Port || g.Port == "#"+strconv.Itoa(h9i) {
				t.Errorf("membership left for the removed port: %+v", g)
			}
		}
		if es := entriesOn(t, h9i); len(es) != 0 {
			t.Errorf("MDB entries left on the removed port's ifindex %d: %v", h9i, es)
		}
		st, err := resStats(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Ports[h9.Port]; ok {
			t.Errorf("show stats still has the removed port: %v", st.Ports[h9.Port])
		}
		resCheck(t, d, "after a port was removed")
		caps := captures(t, l, h1.Name, h2.Name)
		expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0}, caps)
	})

	t.Run("port renamed", func(t *testing.T) {
		const newName = "h2x"
		idx := portIndex(t, l, h2.Port)
		for _, s := range [][]string{
			{"ip", "link", "set", "dev", h2.Port, "down"},
			{"ip", "link", "set", "dev", h2.Port, "name", newName},
		} {
			if err := l.Run(l.Switch, s[0], s[1:]...); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 5*time.Second, "renamed port shown under its new name while down", func() (bool, string) {
			p, ok := portShown(t, newName)
			_, old := portShown(t, h2.Port)
			return ok && !p.Up && !old, fmt.Sprintf("%+v (old name shown: %v)", p, old)
		})
		if err := l.Run(l.Switch, "ip", "link", "set", "dev", newName, "up"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "renamed port shown under its new name", func() (bool, string) {
			p, ok := portShown(t, newName)
			_, old := portShown(t, h2.Port)
			return ok && p.Up && !old, fmt.Sprintf("%+v (old name shown: %v)", p, old)
		})
		// h2 answers the router's next query: learned again, under the new name.
		learned(t, newName, g3)
		if _, ok, seen := member(t, d, g3, h2.Port); ok {
			t.Errorf("membership still shown under the old name %s: %s", h2.Port, seen)
		}
		if n := portIndex(t, l, newName); n != idx {
			t.Fatalf("ifindex changed: %d -> %d", idx, n)
		}
		caps := captures(t, l, h1.Name, h2.Name)
		expectDelivery(t, l, g3, 20, map[string]int{h1.Name: 0, h2.Name: 20}, caps)
		st, err := resStats(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Ports[newName]; !ok {
			t.Errorf("show stats has no port %s: %v", newName, resNames(st.Ports))
		}
		resCheck(t, d, "after a port was renamed")
		h2.Port = newName
	})

	t.Run("port down and up", func(t *testing.T) {
		idx := portIndex(t, l, h1.Port)
		if err := l.Run(l.Switch, "ip", "link", "set", "dev", h1.Port, "down"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "memberships flushed on the down port", func() (bool, string) {
			p, _ := portShown(t, h1.Port)
			_, ok, seen := member(t, d, g1, h1.Port)
			return !p.Up && !ok, seen
		})
		if es := entriesOn(t, idx); len(es) != 0 {
			t.Errorf("MDB entries on the down port: %v", es)
		}
		resCheck(t, d, "with a port down")
		if err := l.Run(l.Switch, "ip", "link", "set", "dev", h1.Port, "up"); err != nil {
			t.Fatal(err)
		}
		learned(t, h1.Port, g1)
		caps := captures(t, l, h1.Name, h2.Name)
		expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0}, caps)
		resCheck(t, d, "after a port came back up")
	})

	st, err := resStats(d)
	if err != nil {
		t.Fatal(err)
	}
	// The checks above leave their result in show stats.
	switch {
	case st.MDBCheck == nil:
		t.Error("show stats has no mdb_check after the checks")
	case !st.MDBCheck.Consistent():
		t.Errorf("show stats mdb_check: %+v", *st.MDBCheck)
	}
	if d.Exited() {
		t.Fatalf("daemon exited: %v", d.Err())
	}
}

func resNames[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFaultQuerierLostMembersKeepTraffic: the LAN's querier goes away.
// The daemon notices after the other querier present interval and, with
// no more queries to answer, its memberships age out; a member must then
// still get its group, because without a querier the bridge floods (as the
// daemon's own warning says) — not be cut off while the kernel still
// believes in the old querier and prunes by an MDB that no longer has the
// member.
func TestFaultQuerierLostMembersKeepTraffic(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	caps := captures(t, l, h1.Name, h2.Name)
	d := startDaemon(t, l, resTimers...)
	joinLearnedQuerier(t, l, d, h1, g1)
	time.Sleep(1500 * time.Millisecond) // the bridge floods for a response interval after a new querier
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 0}, caps)
	if err := l.SetRouterQuerier(false); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(t, 15*time.Second, "querier lost and h1's membership aged out", func() (bool, string) {
		q := querierOf(t, d, "igmp")
		_, ok, seen := member(t, d, g1, h1.Port)
		return !q.Present && !ok, fmt.Sprintf("querier present %v, groups %s", q.Present, seen)
	})
	t.Logf("querier lost and membership aged out %v after the querier stopped", time.Since(stopped).Round(time.Millisecond))
	out, _ := l.Exec(l.Switch, "ip", "-d", "link", "show", l.Bridge)
	if i := strings.Index(out, "mcast_querier_interval"); i >= 0 {
		t.Logf("bridge: %s", strings.Fields(out[i:])[:2])
	}
	expectDelivery(t, l, g1, 20, map[string]int{h1.Name: 20, h2.Name: 20}, caps)
}
