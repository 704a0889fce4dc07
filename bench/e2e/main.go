//go:build linux

// Command e2e is igmpsnoop's end-to-end benchmark: in a namespaced lab
// (lab.New) it injects raw IGMPv2 reports from the host
// namespaces and times how the bridge's MDB follows, with the kernel's own
// snooping (no daemon: the bridge learns inline as frames arrive) and with
// igmpsnoop, in the same run, alternating, and prints them side by side
// with the ratio.
//
//	sudo go run ./bench/e2e                       # single joins, storms of 1 000 and 10 000 joins
//	sudo go run ./bench/e2e -idle 60s             # and the daemon's idle cost
//
// Single joins: -single reports, one every -gap, round-robin over the
// hosts: the latency of a join on an otherwise idle machine. A storm is N
// (group, port) joins: N/hosts distinct groups per host port, one report
// each, every host sending as fast as it can. Times are taken from
// RTNLGRP_MDB notifications (RTM_NEWMDB) read in the switch namespace:
// convergence is from the first report sent to the last MDB entry
// notified; latency is, per report, from its send to its entry's
// notification. Rounds alternate the kernel and each daemon variant
// (-daemon-args, repeatable: one variant each), after -warmup uncounted
// ones; convergence is the median over rounds, latencies are pooled.
//
// The lab gives the kernel its steady, best case: a querier heard long
// enough ago that the bridge trusts its MDB (until a query response
// interval after it first hears one, the kernel floods every report to
// every port), entries flushed between rounds by netlink deletes that
// keep that state, bridge netfilter hooks off. Storm senders write 16
// frames per system call (-send-batch). The router stands for another
// machine and drops what reaches it at ingress, so its own processing of
// the relayed reports is not charged to the switch's CPUs.
//
// With -idle, a daemon holding -idle-members memberships (querier timers of
// 125 s, so none expires) is left alone for the given time, and its CPU
// time (utime+stime from /proc) and context switches are printed.
//
// It needs root, iproute2 and a kernel with TCX (as the daemon does).
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

func main() {
	var (
		sizes       = flag.String("sizes", "1000,10000", "storm sizes: (group, port) joins per storm, comma-separated")
		hosts       = flag.Int("hosts", 10, "sending hosts (bridge ports)")
		rounds      = flag.Int("rounds", 3, "rounds per size; each runs the kernel and igmpsnoop once")
		warmup      = flag.Int("warmup", 1, "uncounted rounds per size before the counted ones")
		bin         = flag.String("bin", "", "igmpsnoop binary (default: built from ./cmd/igmpsnoop)")
		prefix      = flag.String("prefix", "bnch", "lab namespace prefix (at most 8 characters)")
		idle        = flag.Duration("idle", 0, "also measure the daemon's CPU time while idle for this long (e.g. 60s)")
		idleMembers = flag.Int("idle-members", 10000, "memberships the daemon holds during -idle")
		timeout     = flag.Duration("timeout", 60*time.Second, "longest wait for a storm to converge")
		single      = flag.Int("single", 200, "single joins to time (0: none)")
		gap         = flag.Duration("gap", 5*time.Millisecond, "time between single joins")
		sendBatch   = flag.Int("send-batch", 16, "frames a storm's sender writes per system call (sendmmsg); 1: one per call")
		perfOut     = flag.String("perf", "", "record the daemon's storms with `perf record -g` into this file")
		variants    stringList
	)
	flag.Var(&variants, "daemon-args", "a daemon variant: extra arguments for `igmpsnoop run`, space-separated (repeatable; default: one variant, no extra arguments)")
	flag.Parse()
	if *single != 0 && (*single < *hosts || *single%*hosts != 0) {
		fatalf("bad -single %d: must be 0 or a multiple of -hosts (%d)", *single, *hosts)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: needs root (network namespaces, raw sockets, the daemon's BPF guard)")
		os.Exit(2)
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < *hosts || n%*hosts != 0 {
			fatalf("bad size %q: must be a multiple of -hosts (%d): each host sends as many joins", s, *hosts)
		}
		ns = append(ns, n)
	}
	b := &bench{hosts: *hosts, timeout: *timeout, perf: *perfOut, sendBatch: max(*sendBatch, 1)}
	if len(variants) == 0 {
		variants = stringList{""}
	}
	snoopers := []snooper{{name: "kernel"}}
	for _, v := range variants {
		name := "igmpsnoop"
		if v != "" {
			name += " " + v
		}
		snoopers = append(snoopers, snooper{name: name, daemon: true, args: strings.Fields(v)})
	}
	var err error
	if b.bin = *bin; b.bin == "" {
		if b.bin, err = buildDaemon(); err != nil {
			fatalf("build igmpsnoop: %v", err)
		}
		defer os.RemoveAll(filepath.Dir(b.bin))
	}
	if err := b.setup(*prefix, max(slices.Max(append(ns, 0)), *idleMembers)); err != nil {
		b.close()
		fatalf("lab: %v", err)
	}
	defer b.close()

	printMachine()
	run := func(n int, gap time.Duration) sizeResult {
		r := sizeResult{n: n, gap: gap, runs: make([][]stormResult, len(snoopers))}
		for i := range *warmup + *rounds {
			for k, sn := range snoopers {
				s, err := b.storm(sn, n, gap)
				if err != nil {
					b.close()
					fatalf("%d joins, round %d, %s: %v", n, i+1, sn.name, err)
				}
				if i < *warmup {
					fmt.Fprintf(os.Stderr, "  %6d joins (gap %v), warm-up, %-20s converged in %v (not counted)\n",
						n, gap, sn.name, s.convergence.Round(time.Microsecond))
					continue
				}
				r.runs[k] = append(r.runs[k], s)
				fmt.Fprintf(os.Stderr, "  %6d joins (gap %v), round %d, %-20s converged in %v (%d/%d entries)\n",
					n, gap, i+1-*warmup, sn.name, s.convergence.Round(time.Microsecond), s.learned, n)
			}
		}
		return r
	}
	var results []sizeResult
	if *single > 0 {
		results = append(results, run(*single, *gap))
	}
	for _, n := range ns {
		results = append(results, run(n, 0))
	}
	printTable(snoopers, results)
	if *idle > 0 {
		if err := b.idleCost(snoopers[1], *idleMembers, *idle); err != nil {
			b.close()
			fatalf("idle: %v", err)
		}
	}
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, "; ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// snooper is who learns in a run: the kernel, or a daemon variant.
type snooper struct {
	name   string
	daemon bool
	args   []string
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
	os.Exit(1)
}

// buildDaemon builds ./cmd/igmpsnoop into a temporary directory.
func buildDaemon() (string, error) {
	dir, err := os.MkdirTemp("", "igmpsnoop-bench")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "igmpsnoop")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/igmpsnoop")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return out, nil
}

type bench struct {
	hosts   int
	timeout time.Duration
	bin     string
	lab     *lab.Lab
	ports   []int              // the hosts' switch ports, by host
	senders []*bridge.PortConn // one per host, writing out of its eth0
	// sendBatch is the frames a storm's sender writes per system call.
	sendBatch int
	macs      []net.HardwareAddr
	watch     *mdbWatch
	socket    string
	perf      string
	// routerDrop drops what reaches the router (see setup).
	routerDrop link.Link
	// The switch's bridge and MDB sockets in its namespace, for flush.
	brIndex int
	mdb     *bridge.MDB
	batch   *bridge.MDBBatch
}

// Querier timers: long, so nothing expires during a run, as on a real LAN.
const (
	queryInterval = 125 * time.Second
	queryResponse = 10 * time.Second
)

func (b *bench) setup(prefix string, most int) error {
	l, err := lab.New(lab.Config{Prefix: prefix, Hosts: b.hosts, NoQuerier: true,
		QueryInterval: queryInterval, QueryResponseInterval: queryResponse})
	if err != nil {
		return err
	}
	b.lab = l
	b.socket = filepath.Join(os.TempDir(), "igmpsnoop-bench-"+prefix+".sock")
	// Room for every entry (the daemon's group limit is 3/4 of it), and the
	// settings the daemon would make, so both runs see the same bridge.
	hashMax := 16384
	for hashMax*3/4 < most+64 {
		hashMax *= 2
	}
	if _, err := l.Exec(l.Switch, "ip", "link", "set", l.Bridge, "type", "bridge",
		"mcast_hash_max", strconv.Itoa(hashMax), "mcast_igmp_version", "3", "mcast_mld_version", "2"); err != nil {
		return err
	}
	// The router stands for another machine: what it does with the
	// reports forwarded to it must not be done on the switch's CPUs, where
	// a namespace lab puts it (the forwarding thread runs the receiving
	// side too). It only queries, from a packet socket, so it drops every
	// frame at ingress. Left as is, its bridge would learn every report
	// until its table filled and the kernel turned its snooping off,
	// midway through some run.
	// Netfilter's bridge hooks (br_netfilter, loaded on many hosts) are
	// off in the switch: the kernel's snooping learns on the bridge's
	// input path, which they would slow, while the daemon's guard drops
	// reports before it. The kernel gets its best case.
	if b.routerDrop, err = dropIngress(l.Router, "eth0"); err != nil {
		return fmt.Errorf("router: %w", err)
	}
	if _, err := l.Exec(l.Switch, "sh", "-c", "for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e $f ] && echo 0 > $f; done; true"); err != nil {
		return err
	}
	err = lab.InNetns(l.Switch, func() error {
		br, err := net.InterfaceByName(l.Bridge)
		if err != nil {
			return err
		}
		b.brIndex = br.Index
		if b.mdb, err = bridge.OpenMDB(); err != nil {
			return err
		}
		if b.batch, err = bridge.OpenMDBBatch(); err != nil {
			return err
		}
		for _, h := range l.Hosts {
			ifi, err := net.InterfaceByName(h.Port)
			if err != nil {
				return err
			}
			b.ports = append(b.ports, ifi.Index)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range l.Hosts {
		err := lab.InNetns(h.Name, func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			c, err := bridge.ListenPort(ifi.Index)
			if err != nil {
				return err
			}
			b.senders = append(b.senders, c)
			b.macs = append(b.macs, ifi.HardwareAddr)
			return nil
		})
		if err != nil {
			return fmt.Errorf("sender in %s: %w", h.Name, err)
		}
	}
	if b.watch, err = watchMDB(l.Switch, b.brIndex, b.ports); err != nil {
		return err
	}
	// The kernel trusts its MDB only a query response interval after it
	// first hears a querier, and floods until then (see flush): hear one
	// now and wait that out, once. Each round's query then finds the
	// querier still present.
	if err := b.query(); err != nil {
		return err
	}
	time.Sleep(queryResponse + time.Second)
	return nil
}

// dropIngress attaches a TCX program to ifname in namespace ns that drops
// every frame arriving on it, until the link is closed.
func dropIngress(ns, ifname string) (link.Link, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* TC_ACT_SHOT */), asm.Return()},
	})
	if err != nil {
		return nil, fmt.Errorf("drop program: %w", err)
	}
	defer prog.Close() // the link holds it
	var l link.Link
	err = lab.InNetns(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		l, err = link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: prog, Attach: ebpf.AttachTCXIngress})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("drop at %s ingress: %w", ifname, err)
	}
	return l, nil
}

func (b *bench) close() {
	if b.mdb != nil {
		b.mdb.Close()
		b.mdb = nil
	}
	if b.batch != nil {
		b.batch.Close()
		b.batch = nil
	}
	if b.routerDrop != nil {
		b.routerDrop.Close()
		b.routerDrop = nil
	}
	if b.watch != nil {
		b.watch.close()
		b.watch = nil
	}
	for _, c := range b.senders {
		c.Close()
	}
	b.senders = nil
	if b.lab != nil {
		b.lab.Close()
		b.lab = nil
	}
}

// group is host h's j-th group: 239.(1+h).x.y, so every (group, port) is a
// group of its own and the storm of N joins makes N MDB entries.
func group(h, j int) netip.Addr {
	return netip.AddrFrom4([4]byte{239, byte(1 + h), byte(j >> 8), byte(j)})
}

// flush empties the bridge's MDB of port entries, one netlink delete
// each, keeping the bridge's querier state. (Switching snooping off and on
// would drop them too, but it also forgets the querier: the next query then
// starts the kernel's wait of a query response interval during which it
// floods every multicast frame, reports included, to every port, and a
// storm run in that window measures flooding, not snooping.)
func (b *bench) flush() error {
	entries, err := b.mdb.Dump(b.brIndex)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	for _, e := range entries {
		if e.Port == b.brIndex || e.Source.IsValid() {
			continue // the bridge's own joins; (S,G) entries go with their (*,G)
		}
		if err := b.batch.Delete(e); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	for _, err := range b.batch.Flush() {
		if err != nil && !errors.Is(err, bridge.ErrNotFound) {
			return fmt.Errorf("flush: %w", err)
		}
	}
	if entries, err = b.mdb.Dump(b.brIndex); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	for _, e := range entries {
		if e.Port != b.brIndex {
			return fmt.Errorf("MDB entry %v on port %d left after a flush", e.Group, e.Port)
		}
	}
	return nil
}

// query sends one general query from the router, so the bridge (and the
// daemon) know a querier and the router port.
func (b *bench) query() error {
	stop, err := b.lab.StartQuerier(b.lab.RouterAddr, queryInterval, queryResponse)
	if err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond)
	stop()
	return nil
}

type stormResult struct {
	convergence time.Duration
	latencies   []time.Duration // per learned report
	learned     int
	cpu         time.Duration // daemon CPU time during the storm
}

// storm runs n joins against the kernel or a daemon: every host sending
// as fast as it can, or with gap > 0 one join every gap, round-robin over
// the hosts.
func (b *bench) storm(sn snooper, n int, gap time.Duration) (stormResult, error) {
	var res stormResult
	daemon := sn.daemon
	if err := b.flush(); err != nil {
		return res, err
	}
	var d *lab.Daemon
	if daemon {
		var err error
		_ = os.Remove(b.socket)
		if d, err = b.lab.StartDaemon(b.bin, b.socket, sn.args...); err != nil {
			return res, err
		}
		defer func() {
			if err := d.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: daemon stop: %v\n%s", err, d.Log())
			}
		}()
	}
	if err := b.query(); err != nil {
		return res, err
	}
	if daemon {
		if err := waitRouter(d, b.lab.RouterPort); err != nil {
			return res, err
		}
	} else {
		time.Sleep(100 * time.Millisecond)
	}

	per := n / b.hosts
	frames := make([][][]byte, b.hosts)
	for h := range b.hosts {
		frames[h] = make([][]byte, per)
		for j := range per {
			f, err := wire.EncodeReport(wire.Report{Version: 2, SrcMAC: b.macs[h], Src: b.lab.Hosts[h].Addr, Group: group(h, j)})
			if err != nil {
				return res, err
			}
			frames[h][j] = f
		}
	}
	b.watch.arm(per)
	var cpu0 time.Duration
	if daemon {
		cpu0, _, _ = processCPU(d.Pid())
		if b.perf != "" {
			args := []string{"record", "-q", "-g", "-o", b.perf, "-p", strconv.Itoa(d.Pid())}
			if ev := os.Getenv("E2E_PERF_EVENT"); ev != "" {
				args = append(args, "-e", ev) // e.g. sched:sched_switch, to see where it waits
			} else {
				args = append(args, "-F", "2000")
			}
			rec := exec.Command("perf", args...)
			if err := rec.Start(); err != nil {
				return res, fmt.Errorf("perf: %w", err)
			}
			time.Sleep(500 * time.Millisecond)
			defer func() {
				_ = rec.Process.Signal(os.Interrupt)
				_ = rec.Wait()
			}()
		}
	}
	sent := make([][]int64, b.hosts)
	for h := range sent {
		sent[h] = make([]int64, per)
	}
	if gap > 0 {
		next := time.Now()
		for j := range per {
			for h := range b.hosts {
				time.Sleep(time.Until(next))
				next = next.Add(gap)
				sent[h][j] = time.Now().UnixNano()
				if err := b.senders[h].WriteFrame(frames[h][j]); err != nil {
					return res, fmt.Errorf("send: %w", err)
				}
			}
		}
	} else {
		var wg sync.WaitGroup
		var sendErr atomic.Value
		start := make(chan struct{})
		for h := range b.hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := b.senders[h]
				<-start
				for j := 0; j < per; j += b.sendBatch {
					end := min(j+b.sendBatch, per)
					// A batch's frames are stamped as it starts: their
					// latencies include the batch's own sending.
					now := time.Now().UnixNano()
					for k := j; k < end; k++ {
						sent[h][k] = now
					}
					if _, err := c.WriteFrames(frames[h][j:end]); err != nil {
						sendErr.Store(err)
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		if err, _ := sendErr.Load().(error); err != nil {
			return res, fmt.Errorf("send: %w", err)
		}
	}
	seen := b.watch.wait(n, b.timeout)
	if daemon {
		cpu1, _, _ := processCPU(d.Pid())
		res.cpu = cpu1 - cpu0
	}
	first, last := int64(math.MaxInt64), int64(0)
	for h := range b.hosts {
		first = min(first, sent[h][0])
		for j := range per {
			t := seen[h][j]
			if t == 0 {
				continue
			}
			res.learned++
			last = max(last, t)
			res.latencies = append(res.latencies, time.Duration(t-sent[h][j]))
		}
	}
	if err := b.watch.err(); err != nil {
		return res, err
	}
	if res.learned == 0 {
		return res, errors.New("no MDB entry learned")
	}
	res.convergence = time.Duration(last - first)
	if res.learned < n {
		fmt.Fprintf(os.Stderr, "e2e: %s learned %d of %d joins within %v\n", sn.name, res.learned, n, b.timeout)
		if d != nil {
			var v struct {
				Ports []struct {
					Received      uint64 `json:"received"`
					GuardDropped  uint64 `json:"guard_dropped"`
					SocketDropped uint64 `json:"socket_dropped"`
				} `json:"ports"`
			}
			_ = d.Show("ports", &v)
			var rx, guard, sock uint64
			for _, p := range v.Ports {
				rx, guard, sock = rx+p.Received, guard+p.GuardDropped, sock+p.SocketDropped
			}
			fmt.Fprintf(os.Stderr, "e2e: daemon received %d frames; guard dropped %d, socket buffers dropped %d\n", rx, guard, sock)
		}
	}
	return res, nil
}

// waitRouter waits until the daemon has learned the router port.
func waitRouter(d *lab.Daemon, port string) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var r struct {
			Routers []struct {
				Port string `json:"port"`
			} `json:"routers"`
		}
		if err := d.Show("routers", &r); err == nil {
			for _, x := range r.Routers {
				if x.Port == port {
					return nil
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the daemon did not learn router port %s", port)
}

// processCPU returns a process's CPU time (utime+stime, all threads) and
// its threads' context switches (voluntary, involuntary).
func processCPU(pid int) (cpu time.Duration, vol, invol int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0
	}
	s := string(b)
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ
	cpu = time.Duration(ut+st) * time.Second / hz
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			switch k {
			case "voluntary_ctxt_switches":
				vol += n
			case "nonvoluntary_ctxt_switches":
				invol += n
			}
		}
	}
	return cpu, vol, invol
}

// idleCost fills the daemon with members memberships, leaves it alone for
// d and prints the CPU time it used meanwhile.
func (b *bench) idleCost(sn snooper, members int, d time.Duration) error {
	if err := b.flush(); err != nil {
		return err
	}
	_ = os.Remove(b.socket)
	dm, err := b.lab.StartDaemon(b.bin, b.socket, sn.args...)
	if err != nil {
		return err
	}
	defer dm.Stop()
	if err := b.query(); err != nil {
		return err
	}
	if err := waitRouter(dm, b.lab.RouterPort); err != nil {
		return err
	}
	per := members / b.hosts
	b.watch.arm(per)
	for h := range b.hosts {
		for j := range per {
			f, err := wire.EncodeReport(wire.Report{Version: 2, SrcMAC: b.macs[h], Src: b.lab.Hosts[h].Addr, Group: group(h, j)})
			if err != nil {
				return err
			}
			if err := b.senders[h].WriteFrame(f); err != nil {
				return err
			}
			if j%256 == 255 {
				time.Sleep(5 * time.Millisecond) // a join wave, not a storm: nothing dropped
			}
		}
	}
	seen := b.watch.wait(per*b.hosts, b.timeout)
	learned := 0
	for h := range seen {
		for _, t := range seen[h] {
			if t != 0 {
				learned++
			}
		}
	}
	time.Sleep(2 * time.Second) // let the join wave's work finish
	var v struct {
		Groups []map[string]any `json:"groups"`
	}
	_ = dm.Show("groups", &v)
	fmt.Fprintf(os.Stderr, "  idle: daemon holds %d memberships (%d MDB entries notified); idle for %v...\n", len(v.Groups), learned, d)
	cpu0, vol0, invol0 := processCPU(dm.Pid())
	t0 := time.Now()
	time.Sleep(d)
	cpu1, vol1, invol1 := processCPU(dm.Pid())
	el := time.Since(t0)
	fmt.Printf("\nIdle cost: igmpsnoop holding %d memberships, no traffic, %v\n", len(v.Groups), el.Round(time.Second))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "memberships\twall\tCPU (utime+stime)\tCPU share\twake-ups (voluntary ctx switches)\tinvoluntary\t")
	fmt.Fprintf(w, "%d\t%v\t%.2f s\t%.4f%%\t%d\t%d\t\n", len(v.Groups), el.Round(time.Second), (cpu1 - cpu0).Seconds(),
		100*(cpu1-cpu0).Seconds()/el.Seconds(), vol1-vol0, invol1-invol0)
	w.Flush()
	return nil
}

type sizeResult struct {
	n    int
	gap  time.Duration // 0: a storm
	runs [][]stormResult
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func pooled(rs []stormResult) (lat []time.Duration, learned int) {
	for _, r := range rs {
		lat = append(lat, r.latencies...)
		learned += r.learned
	}
	slices.Sort(lat)
	return lat, learned
}

func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func convergences(rs []stormResult) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		out = append(out, r.convergence)
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func printTable(snoopers []snooper, results []sizeResult) {
	if len(results) == 0 {
		return
	}
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "joins\tsnooper\tlearned\tconvergence (median)\tjoins/s\tlatency p50\tp99\tmax\tdaemon CPU/storm\tvs kernel\t")
	for _, r := range results {
		what := fmt.Sprintf("%d storm", r.n)
		if r.gap > 0 {
			what = fmt.Sprintf("%d single, every %v", r.n, r.gap)
		}
		kc := median(convergences(r.runs[0]))
		for k, sn := range snoopers {
			rs := r.runs[k]
			lat, learned := pooled(rs)
			c := median(convergences(rs))
			conv, rate, ratio, cpu := ms(c), fmt.Sprintf("%.0f", float64(r.n)/c.Seconds()), "", ""
			if r.gap > 0 {
				conv, rate = "-", "-" // paced by the sender
			}
			if sn.daemon {
				if r.gap > 0 {
					kl, _ := pooled(r.runs[0])
					ratio = fmt.Sprintf("p99 %.2f×", float64(pct(lat, 0.99))/float64(pct(kl, 0.99)))
				} else {
					ratio = fmt.Sprintf("%.2f×", float64(c)/float64(kc))
				}
				var t time.Duration
				for _, x := range rs {
					t += x.cpu
				}
				cpu = ms(t / time.Duration(len(rs)))
			}
			fmt.Fprintf(w, "%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", what, sn.name, learned, r.n*len(rs), conv,
				rate, ms(pct(lat, 0.50)), ms(pct(lat, 0.99)), ms(pct(lat, 1)), cpu, ratio)
		}
	}
	w.Flush()
	fmt.Println("\nconvergence: first report sent to last MDB entry notified (RTNLGRP_MDB), median of the rounds; vs kernel: its ratio")
	fmt.Println("(single joins: the ratio of the p99 latencies). latency: per report, from its send to its MDB entry's notification,")
	fmt.Println("pooled over the rounds. daemon CPU: utime+stime during the storm (10 ms ticks), mean over the rounds.")
}

func printMachine() {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	fmt.Printf("machine: %d CPUs (%s), kernel %s, %s\n", runtime.NumCPU(), model, unix.ByteSliceToString(u.Release[:]), runtime.Version())
}
