package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// The demo's timers: short, as in the integration tests, so joins, leaves
// and ageing all happen within a few seconds. The lab's router queries with
// the same interval and response time.
const (
	demoQueryInterval    = 2 * time.Second
	demoQueryResponse    = time.Second
	demoRobustness       = 2
	demoLastMemberGap    = 500 * time.Millisecond
	demoLastMemberCount  = 2
	demoGMI              = demoRobustness*demoQueryInterval + demoQueryResponse // RFC 3376 §8.4
	demoLMQT             = demoLastMemberCount * demoLastMemberGap              // RFC 3376 §8.14
	demoRate             = 20                                                   // packets per second per group
	demoTickLen          = time.Second
	demoWarmUp           = 20 * time.Second
	demoHosts            = 3
	demoSenderBatch      = demoRate / 2 // one Send call: half a second of packets, so stopping is quick
	demoJoinSettle       = 500 * time.Millisecond
	demoLeaveSettle      = demoLMQT + 500*time.Millisecond
	demoSilenceSettle    = demoGMI + time.Second
	demoSilenceStepTicks = int(demoSilenceSettle/demoTickLen) + 3 // two seconds judged after the age-out
)

// demoGroup is one stream of the demo.
type demoGroup struct {
	name string
	addr netip.Addr
}

var demoGroups = []demoGroup{
	{"news", netip.MustParseAddr("239.1.1.1")},
	{"video", netip.MustParseAddr("239.2.2.2")},
}

// DemoOptions shape a run of Demo.
type DemoOptions struct {
	// Daemon is the igmpsnoop binary the demo runs as the daemon, in the
	// lab's switch namespace.
	Daemon string
	// Step is the length of each of the DemoSteps steps of the script:
	// at least MinDemoStep, DefaultDemoStep if zero. The ageing step takes
	// at least DemoAgeingStep.
	Step time.Duration
	// Keep leaves the lab up at the end, for poking around, until ctx ends.
	Keep bool
	// Verbose copies the daemon's log to stderr as it is written.
	Verbose bool
	// ASCII draws the table with ASCII only.
	ASCII bool
}

// The pace of the script: DemoSteps steps of Step each.
const (
	DemoSteps       = 6
	DefaultDemoStep = 5 * time.Second
	MinDemoStep     = demoTickLen // a step shorter than a tick shows nothing
	DemoAgeingStep  = time.Duration(demoSilenceStepTicks) * demoTickLen
)

// UTF8Locale reports whether the locale says the terminal speaks UTF-8,
// by the POSIX precedence of the variables: if not, the demo's table had
// better be drawn in ASCII.
func UTF8Locale() bool {
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if s := os.Getenv(v); s != "" {
			s = strings.ToLower(s)
			return strings.Contains(s, "utf-8") || strings.Contains(s, "utf8")
		}
	}
	return false
}

// errInterrupted ends a demo stopped by its context.
var errInterrupted = errors.New("interrupted; the lab was removed")

// Demo is `igmpsnoop lab`: it builds a lab, runs the daemon in it, makes
// hosts join and leave on a short script, prints each second which host
// received which group, and ends with a verdict from those counts: an
// error unless non-members received nothing and members received. It
// removes everything it built whatever happens, also when ctx ends
// (the caller cancels ctx on Ctrl-C). It needs root.
func Demo(ctx context.Context, o DemoOptions, stdout, stderr io.Writer) error {
	if o.Step == 0 {
		o.Step = DefaultDemoStep
	}
	if o.Step < MinDemoStep {
		return fmt.Errorf("lab: steps of %v are too short to see anything: at least %v", o.Step, MinDemoStep)
	}
	if o.Daemon == "" {
		return errors.New("lab: no daemon binary to run")
	}
	if os.Geteuid() != 0 {
		return errors.New("igmpsnoop lab needs root: it builds network namespaces")
	}
	r := &demoRun{o: o, out: stdout, marks: unicodeMarks}
	if o.ASCII {
		r.marks = asciiMarks
	}
	defer r.close()
	if err := r.setUp(ctx, o.Daemon, stderr); err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	if err := r.warmUp(ctx); err != nil {
		return err
	}
	if err := r.script(ctx); err != nil {
		return err
	}
	verdictErr := r.verdict()
	if o.Keep {
		r.waitKept(ctx, o.Daemon)
	}
	return verdictErr
}

// demoRun is one run of the demo: the lab, the daemon, the sender, the
// captures, and what was measured.
type demoRun struct {
	o     DemoOptions
	out   io.Writer
	marks demoMarks
	start time.Time

	lab      *Lab
	dir      string // temporary: the daemon's socket and log
	logPath  string
	logFile  *os.File
	daemon   *Daemon
	caps     []*Capture // hosts, then the router
	members  map[[2]int]*Membership
	stopSend context.CancelFunc
	sendWG   sync.WaitGroup
	sendErr  chan error

	state  [demoHosts][]pairState
	prev   [][]int // counts at the last snapshot, [host or router][group]
	ticks  []demoTick
	events []demoEvent
}

// setUp builds the lab, starts the daemon, the captures and the sender.
func (r *demoRun) setUp(ctx context.Context, exe string, stderr io.Writer) error {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("lab: random prefix: %w", err)
	}
	// "lab" and five hex digits: unique among runs at once, and within the
	// lab builder's limit of 8 characters.
	prefix := "lab" + hex.EncodeToString(b)[:5]
	fmt.Fprintf(r.out, "Building the lab: network namespaces %s-{sw,rt,tx,h1,h2,h3} ...\n", prefix)
	lab, err := New(Config{
		Prefix: prefix, Hosts: demoHosts, QueryInterval: demoQueryInterval, QueryResponseInterval: demoQueryResponse,
	})
	if err != nil {
		return fmt.Errorf("lab: build: %w", err)
	}
	r.lab = lab
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintf(r.out, "  %s: bridge %s, ports %s (router), %s (sender), h1 h2 h3 (hosts); igmpsnoop runs here\n", lab.Switch, lab.Bridge, lab.RouterPort, lab.SenderPort)
	fmt.Fprintf(r.out, "  %s: the multicast router, querying every %v from %v\n", lab.Router, demoQueryInterval, lab.RouterAddr)
	fmt.Fprintf(r.out, "  %s: the sender, streaming %s\n", lab.Sender, r.groupList())
	for _, h := range lab.Hosts {
		fmt.Fprintf(r.out, "  %s: host %s (%v) on port %s\n", h.Name, h.Port, h.Addr, h.Port)
	}

	r.members = make(map[[2]int]*Membership)
	for i := range r.state {
		r.state[i] = make([]pairState, len(demoGroups))
	}
	for _, ns := range append(r.hostNamespaces(), lab.Router) {
		c, err := lab.Capture(ns)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		r.caps = append(r.caps, c)
	}

	r.dir, err = os.MkdirTemp("", "igmpsnoop-lab-")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	r.logPath = filepath.Join(r.dir, "daemon.log")
	r.logFile, err = os.Create(r.logPath)
	if err != nil {
		return fmt.Errorf("lab: daemon log: %w", err)
	}
	var logTo io.Writer = r.logFile
	if r.o.Verbose {
		logTo = io.MultiWriter(r.logFile, stderr)
	}
	args := []string{
		"--query-interval", demoQueryInterval.String(), "--query-response-interval", demoQueryResponse.String(),
		"--robustness", fmt.Sprint(demoRobustness), "--last-member-interval", demoLastMemberGap.String(),
		"--last-member-count", fmt.Sprint(demoLastMemberCount), "--log-level", "debug",
	}
	fmt.Fprintf(r.out, "Starting the daemon: ip netns exec %s %s run --bridge %s --socket %s %s\n",
		lab.Switch, exe, lab.Bridge, filepath.Join(r.dir, "igmpsnoop.sock"), strings.Join(args, " "))
	fmt.Fprintf(r.out, "  its log: %s\n", r.logPath)
	r.daemon, err = lab.StartDaemonWith(DaemonOptions{Output: logTo, Detach: true},
		exe, filepath.Join(r.dir, "igmpsnoop.sock"), args...)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}

	sendCtx, cancel := context.WithCancel(context.Background())
	r.stopSend = cancel
	r.sendErr = make(chan error, len(demoGroups))
	for _, g := range demoGroups {
		r.sendWG.Add(1)
		go func() {
			defer r.sendWG.Done()
			for sendCtx.Err() == nil {
				if err := lab.Send(g.addr, demoSenderBatch, time.Second/demoRate); err != nil {
					if sendCtx.Err() == nil {
						r.sendErr <- fmt.Errorf("lab: sender: %w", err)
					}
					return
				}
			}
		}()
	}
	return nil
}

// close stops and removes everything setUp made, in an order that lets
// each part go: the sender, the daemon (SIGTERM: it removes its entries),
// the sockets that hold the namespaces, then the namespaces.
func (r *demoRun) close() {
	if r.stopSend != nil {
		r.stopSend()
		r.sendWG.Wait()
	}
	if r.daemon != nil {
		select {
		case <-r.daemon.Done(): // already reported
		default:
			if err := r.daemon.Stop(); err != nil {
				fmt.Fprintf(r.out, "stopping the daemon: %v\n", err)
			}
		}
	}
	if r.logFile != nil {
		r.logFile.Close()
	}
	for _, m := range r.members {
		m.Leave()
	}
	for _, c := range r.caps {
		c.Close()
	}
	if r.lab != nil {
		if err := r.lab.Close(); err != nil {
			fmt.Fprintf(r.out, "removing the lab: %v\n", err)
		} else {
			fmt.Fprintf(r.out, "Lab removed (namespaces %s-*).\n", strings.TrimSuffix(r.lab.Switch, "-sw"))
		}
	}
	if r.logPath != "" {
		fmt.Fprintf(r.out, "The daemon's log is kept in %s\n", r.logPath)
	}
}

// hostNamespaces returns the hosts' namespaces, h1 first.
func (r *demoRun) hostNamespaces() []string {
	var ns []string
	for _, h := range r.lab.Hosts {
		ns = append(ns, h.Name)
	}
	return ns
}

// groupList describes the streams for the set-up lines.
func (r *demoRun) groupList() string {
	var s []string
	for _, g := range demoGroups {
		s = append(s, fmt.Sprintf("%s (%v)", g.name, g.addr))
	}
	return strings.Join(s, " and ") + fmt.Sprintf(" at %d packets/s each", demoRate)
}

// snapshot returns the packets each capture got per group since the last
// snapshot.
func (r *demoRun) snapshot() [][]int {
	now := make([][]int, len(r.caps))
	diff := make([][]int, len(r.caps))
	for i, c := range r.caps {
		now[i] = make([]int, len(demoGroups))
		diff[i] = make([]int, len(demoGroups))
		for j, g := range demoGroups {
			now[i][j] = c.Count(g.addr)
			if r.prev != nil {
				diff[i][j] = now[i][j] - r.prev[i][j]
			}
		}
	}
	r.prev = now
	return diff
}

// wait waits one tick, or returns why it cannot go on.
func (r *demoRun) wait(ctx context.Context, t *time.Ticker) error {
	select {
	case <-ctx.Done():
		fmt.Fprintln(r.out, "\nInterrupted: stopping the daemon and removing the lab ...")
		return errInterrupted
	case <-r.daemon.Done():
		return fmt.Errorf("lab: the daemon exited (%v); the end of its log:\n%s", r.daemon.Err(), tail(r.daemon.Log(), 15))
	case err := <-r.sendErr:
		return err
	case <-t.C:
		return nil
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// warmUp waits until the daemon has heard the querier and the bridge
// forwards by its MDB: a whole second in which the router port got both
// streams and no host got anything. Before that the bridge may flood (it
// does for about a query response interval after it first hears a
// querier), which is not the daemon's doing and not judged.
func (r *demoRun) warmUp(ctx context.Context) error {
	fmt.Fprintln(r.out, "Waiting for the daemon to hear the querier and for the bridge to forward by its MDB ...")
	t := time.NewTicker(demoTickLen)
	defer t.Stop()
	r.snapshot()
	deadline := time.Now().Add(demoWarmUp)
	var seen string
	for time.Now().Before(deadline) {
		if err := r.wait(ctx, t); err != nil {
			return err
		}
		rx := r.snapshot()
		q, routers, err := r.querier()
		if err != nil {
			seen = err.Error()
			continue
		}
		clean := q.Present && routers != ""
		for i, row := range rx {
			for _, n := range row {
				router := i == len(rx)-1
				clean = clean && (n > 0) == router
			}
		}
		seen = fmt.Sprintf("querier present %v, router ports %q, packets this second (h1..h3, router) %v", q.Present, routers, rx)
		if clean {
			fmt.Fprintf(r.out, "The daemon hears the querier %s on port %s; the bridge sends the streams to the router port only.\n\n", q.Address, routers)
			return nil
		}
	}
	return fmt.Errorf("lab: the lab did not settle within %v: %s", demoWarmUp, seen)
}

// querier returns the daemon's IGMP querier and its router ports.
func (r *demoRun) querier() (snoop.QuerierView, string, error) {
	var qs struct {
		Queriers []snoop.QuerierView `json:"queriers"`
	}
	var rs struct {
		Routers []snoop.RouterView `json:"routers"`
	}
	if err := r.daemon.Show("querier", &qs); err != nil {
		return snoop.QuerierView{}, "", fmt.Errorf("show querier: %w", err)
	}
	if err := r.daemon.Show("routers", &rs); err != nil {
		return snoop.QuerierView{}, "", fmt.Errorf("show routers: %w", err)
	}
	var q snoop.QuerierView
	for _, v := range qs.Queriers {
		if v.Protocol == "igmp" && v.VLAN == 0 {
			q = v
		}
	}
	var ports []string
	for _, v := range rs.Routers {
		if v.Protocol == "igmp" {
			ports = append(ports, v.Port)
		}
	}
	return q, strings.Join(ports, ","), nil
}

// pairState is where a host stands with a group.
type pairState struct {
	kind    pairKind
	settled time.Time // before it, the last change may still be taking effect: not judged
}

// pairKind is a host's membership of a group as the script made it.
type pairKind int

const (
	notJoined pairKind = iota
	joined
	silent // joined, but its IGMP frames are dropped: the daemon must age it out
)

// expect is what a tick should show for one host and group.
type expect int

const (
	unjudged expect = iota // a change is taking effect
	wantTraffic
	wantNothing
)

// expectAt is what a second starting at t should show.
func (p pairState) expectAt(t time.Time) expect {
	if t.Before(p.settled) {
		return unjudged
	}
	if p.kind == joined {
		return wantTraffic
	}
	return wantNothing // not joined, or silent long enough to have aged out
}

// demoTick is one second of measurements.
type demoTick struct {
	start, end time.Time
	rx         [][]int    // packets, [host, then the router][group]
	want       [][]expect // [host][group]
	kinds      [][]pairKind
}

// demoEvent is a change to one host's membership, for the verdict.
type demoEvent struct {
	host, group int
	kind        pairKind
	at          time.Time
}

// demoStep is one step of the script.
type demoStep struct {
	title     string
	narration string
	do        func(r *demoRun) error
	minTicks  int
}

// demoScript is the demo's script: nobody, then joins, a leave, an age-out.
func demoScript() []demoStep {
	return []demoStep{
		{title: "no host has joined", narration: fmt.Sprintf("No host has joined a group. The sender streams news and video at %d packets/s each; the bridge "+
			"sends them to the router port only, as no host asked for them.", demoRate)},
		{title: "h1 joins news", do: joinStep(0, 0), narration: "h1 joins news: its kernel sends an IGMP membership report; the daemon reads it on port h1 " +
			"and installs an MDB entry, so the bridge copies news to h1 and to no other host."},
		{title: "h2 joins video", do: joinStep(1, 1), narration: "h2 joins video: video now reaches h2; h1 still gets only news, h3 nothing."},
		{title: "h3 joins news", do: joinStep(2, 0), narration: "h3 joins news: the bridge copies news to two ports now, h1 and h3."},
		{title: "h1 leaves news", do: leaveStep(0, 0), narration: fmt.Sprintf("h1 leaves news: the daemon queries port h1 for other members, hears none, "+
			"and prunes it within %v (the last member query time); h3 keeps news.", demoLMQT)},
		{title: "h3 goes silent", do: silenceStep(2), minTicks: demoSilenceStepTicks, narration: fmt.Sprintf("h3 goes silent: its IGMP frames are dropped, "+
			"as if its uplink broke, while it stays joined. It no longer answers queries, so the daemon ages it out after "+
			"the group membership interval, %v.", demoGMI)},
	}
}

// joinStep makes a host join a group through an ordinary socket.
func joinStep(host, group int) func(*demoRun) error {
	return func(r *demoRun) error {
		m, err := r.lab.Join(r.lab.Hosts[host], demoGroups[group].addr)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		r.members[[2]int{host, group}] = m
		r.change(host, group, joined, demoJoinSettle)
		return nil
	}
}

// leaveStep closes the socket of a joinStep: the host's kernel sends a leave.
func leaveStep(host, group int) func(*demoRun) error {
	return func(r *demoRun) error {
		k := [2]int{host, group}
		if err := r.members[k].Leave(); err != nil {
			return fmt.Errorf("lab: %s leaves %s: %w", r.lab.Hosts[host].Port, demoGroups[group].name, err)
		}
		delete(r.members, k)
		r.change(host, group, notJoined, demoLeaveSettle)
		return nil
	}
}

// silenceStep drops the host's IGMP frames, keeping its memberships.
func silenceStep(host int) func(*demoRun) error {
	return func(r *demoRun) error {
		if err := r.lab.Silence(r.lab.Hosts[host]); err != nil {
			return fmt.Errorf("lab: silence %s: %w", r.lab.Hosts[host].Port, err)
		}
		for g := range demoGroups {
			if r.state[host][g].kind == joined {
				r.change(host, g, silent, demoSilenceSettle)
			}
		}
		return nil
	}
}

// change records a host's new state with a group and when it is to be
// judged: after settle, the time the daemon's timers allow for it.
func (r *demoRun) change(host, group int, k pairKind, settle time.Duration) {
	now := time.Now()
	r.state[host][group] = pairState{kind: k, settled: now.Add(settle)}
	r.events = append(r.events, demoEvent{host: host, group: group, kind: k, at: now})
}

// script runs the steps, printing a table each second.
func (r *demoRun) script(ctx context.Context) error {
	steps := demoScript()
	perStep := int(math.Round(float64(r.o.Step) / float64(demoTickLen)))
	t := time.NewTicker(demoTickLen)
	defer t.Stop()
	r.start = time.Now()
	for i := range r.state {
		for j := range r.state[i] {
			r.state[i][j].settled = r.start
		}
	}
	r.snapshot()
	last := r.start
	for i, st := range steps {
		if st.do != nil {
			if err := st.do(r); err != nil {
				return err
			}
		}
		fmt.Fprintf(r.out, "==> Step %d/%d: %s\n\n", i+1, len(steps), st.narration)
		n := max(perStep, st.minTicks)
		for range n {
			if err := r.wait(ctx, t); err != nil {
				return err
			}
			now := time.Now()
			tk := demoTick{start: last, end: now, rx: r.snapshot()}
			last = now
			for h := range r.state {
				tk.want = append(tk.want, make([]expect, len(demoGroups)))
				tk.kinds = append(tk.kinds, make([]pairKind, len(demoGroups)))
				for g := range demoGroups {
					tk.want[h][g] = r.state[h][g].expectAt(tk.start)
					tk.kinds[h][g] = r.state[h][g].kind
				}
			}
			r.ticks = append(r.ticks, tk)
			var view []snoop.GroupView
			var gs struct {
				Groups []snoop.GroupView `json:"groups"`
			}
			viewErr := r.daemon.Show("groups", &gs)
			if viewErr == nil {
				view = gs.Groups
			}
			renderTick(r.out, r.marks, tk, r.start, fmt.Sprintf("step %d/%d: %s", i+1, len(steps), st.title), view, viewErr)
		}
	}
	return nil
}

// demoMarks are the symbols of the table.
type demoMarks struct {
	member, notJoined, silent, wrong, arrow string
}

var (
	asciiMarks   = demoMarks{member: "+", notJoined: ".", silent: "~", wrong: "<- WRONG", arrow: "->"}
	unicodeMarks = demoMarks{member: "✓", notJoined: "·", silent: "~", wrong: "⚠ WRONG", arrow: "→"}
)

// renderTick prints one second: packets per host and group with each
// host's membership, and the daemon's view.
func renderTick(w io.Writer, m demoMarks, tk demoTick, start time.Time, title string, view []snoop.GroupView, viewErr error) {
	fmt.Fprintf(w, "t=%2.0fs  %s\n", tk.end.Sub(start).Seconds(), title)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	hdr := "  HOST"
	for _, g := range demoGroups {
		hdr += fmt.Sprintf("\t%s %v", strings.ToUpper(g.name), g.addr)
	}
	fmt.Fprintln(tw, hdr)
	listed := daemonPorts(view)
	for h := range tk.want {
		port := fmt.Sprintf("h%d", h+1)
		row := "  " + port
		for g := range demoGroups {
			n := tk.rx[h][g]
			var cell string
			switch tk.kinds[h][g] {
			case joined:
				cell = fmt.Sprintf("%3d %s member", n, m.member)
			case notJoined:
				cell = fmt.Sprintf("%3d %s not joined", n, m.notJoined)
				if tk.want[h][g] == unjudged {
					// Just left: the daemon is running its last member queries.
					cell = fmt.Sprintf("%3d %s left, being pruned", n, m.notJoined)
				}
			case silent:
				if listed[demoGroups[g].addr.String()+"@"+port] {
					cell = fmt.Sprintf("%3d %s silent, not yet aged out", n, m.silent)
				} else {
					cell = fmt.Sprintf("%3d %s silent, aged out", n, m.silent)
				}
			}
			if want := tk.want[h][g]; (want == wantNothing && n > 0) || (want == wantTraffic && n == 0) {
				cell += " " + m.wrong
			}
			row += "\t" + cell
		}
		fmt.Fprintln(tw, row)
	}
	row := "  router"
	for g := range demoGroups {
		row += fmt.Sprintf("\t%3d   router port", tk.rx[len(tk.rx)-1][g])
	}
	fmt.Fprintln(tw, row)
	tw.Flush()
	if viewErr != nil {
		fmt.Fprintf(w, "  daemon (show groups): no answer: %v\n\n", viewErr)
		return
	}
	fmt.Fprintf(w, "  daemon (show groups): %s\n\n", describeView(m, view))
}

// daemonPorts returns the daemon's memberships as "group@port".
func daemonPorts(view []snoop.GroupView) map[string]bool {
	s := make(map[string]bool, len(view))
	for _, v := range view {
		s[v.Group+"@"+v.Port] = true
	}
	return s
}

// describeView sums up `show groups` in one line: the ports of each group
// with the time left, or the last member queries running.
func describeView(m demoMarks, view []snoop.GroupView) string {
	byGroup := map[string][]string{}
	var order []string
	for _, g := range demoGroups {
		order = append(order, g.addr.String())
	}
	for _, v := range view {
		if _, ok := byGroup[v.Group]; !ok && !isLabGroup(v.Group) {
			order = append(order, v.Group)
		}
		what := fmt.Sprintf("%s (%.1fs)", v.Port, float64(v.ExpiresMs)/1000)
		if v.Leaving {
			what = fmt.Sprintf("%s (leaving: queried, %.1fs)", v.Port, float64(v.ExpiresMs)/1000)
		}
		byGroup[v.Group] = append(byGroup[v.Group], what)
	}
	var parts []string
	for _, g := range order {
		name := g
		for _, lg := range demoGroups {
			if lg.addr.String() == g {
				name = lg.name
			}
		}
		ports := "nobody"
		if len(byGroup[g]) > 0 {
			ports = strings.Join(byGroup[g], ", ")
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", name, m.arrow, ports))
	}
	return strings.Join(parts, "; ")
}

// isLabGroup reports whether g is one of the demo's streams.
func isLabGroup(g string) bool {
	for _, lg := range demoGroups {
		if lg.addr.String() == g {
			return true
		}
	}
	return false
}

// verdict prints what the measurements prove and returns an error if they
// show non-members receiving, or members not receiving, once the daemon
// had had the time its timers allow.
func (r *demoRun) verdict() error {
	lines, err := judgeTicks(r.ticks, r.events, r.start)
	fmt.Fprintln(r.out, "==> Verdict")
	for _, l := range lines {
		fmt.Fprintln(r.out, "  "+l)
	}
	fmt.Fprintln(r.out)
	return err
}

// judgeTicks computes the verdict: lines to print, and an error naming what
// went wrong, if anything did.
func judgeTicks(ticks []demoTick, events []demoEvent, start time.Time) ([]string, error) {
	var problems, lines []string
	memberPackets, memberSeconds, quietSeconds := 0, 0, 0
	for _, tk := range ticks {
		for h := range tk.want {
			for g := range demoGroups {
				n := tk.rx[h][g]
				when := fmt.Sprintf("t=%.0f-%.0fs", tk.start.Sub(start).Seconds(), tk.end.Sub(start).Seconds())
				switch tk.want[h][g] {
				case wantTraffic:
					memberSeconds++
					memberPackets += n
					if n == 0 {
						problems = append(problems, fmt.Sprintf("h%d, a member of %s, received nothing at %s", h+1, demoGroups[g].name, when))
					}
				case wantNothing:
					quietSeconds++
					if n > 0 {
						problems = append(problems, fmt.Sprintf("h%d, not a member of %s, received %d packets at %s", h+1, demoGroups[g].name, n, when))
					}
				}
			}
		}
	}
	routerPackets := 0
	for _, tk := range ticks {
		for g := range demoGroups {
			routerPackets += tk.rx[len(tk.rx)-1][g]
		}
	}
	// How fast each leave and age-out took effect, to the second: the end
	// of the last second with traffic after the change.
	for _, e := range events {
		if e.kind == joined {
			continue
		}
		stopped, judged := time.Duration(0), false
		for _, tk := range ticks {
			if !tk.end.After(e.at) {
				continue
			}
			if tk.kinds[e.host][e.group] != e.kind {
				break // a later change of the same host and group
			}
			if tk.rx[e.host][e.group] > 0 {
				stopped = tk.end.Sub(e.at)
			}
			judged = judged || tk.want[e.host][e.group] == wantNothing
		}
		what := fmt.Sprintf("h%d left %s", e.host+1, demoGroups[e.group].name)
		limit := fmt.Sprintf("the last member query time is %v", demoLMQT)
		if e.kind == silent {
			what = fmt.Sprintf("h%d went silent, still joined to %s", e.host+1, demoGroups[e.group].name)
			limit = fmt.Sprintf("the group membership interval is %v", demoGMI)
		}
		switch {
		case !judged:
			problems = append(problems, what+" too late in the script to judge: use a longer --step")
		case stopped == 0:
			lines = append(lines, fmt.Sprintf("%s: no packet reached it after that (%s).", what, limit))
		default:
			lines = append(lines, fmt.Sprintf("%s: its %s stopped within %.1fs (%s).", what, demoGroups[e.group].name, stopped.Seconds(), limit))
		}
	}
	if memberSeconds == 0 || quietSeconds == 0 {
		problems = append(problems, "too few seconds measured to judge: use a longer --step")
	}
	if len(problems) > 0 {
		lines = append(lines, "PRUNING NOT VERIFIED:")
		for _, p := range problems {
			lines = append(lines, "  "+p)
		}
		return lines, fmt.Errorf("lab: pruning not verified: %s", strings.Join(problems, "; "))
	}
	lines = append(lines, fmt.Sprintf("pruning verified: non-members received 0 packets while members received %d "+
		"(%d host-seconds judged as member, %d as non-member; the router port received %d).",
		memberPackets, memberSeconds, quietSeconds, routerPackets))
	return lines, nil
}

// waitKept leaves the lab running until a signal (or the daemon's end),
// with hints for looking around.
func (r *demoRun) waitKept(ctx context.Context, exe string) {
	sock := filepath.Join(r.dir, "igmpsnoop.sock")
	fmt.Fprintf(r.out, `The lab stays up, the sender still streams, until you press Ctrl-C. Try:
  ip netns exec %[1]s bridge -d mdb show dev %[2]s
  ip netns exec %[1]s bridge -d link show
  %[3]s show groups --socket %[4]s
  %[3]s show querier --socket %[4]s
  ip netns exec %[5]s tcpdump -ni eth0 udp or igmp
  ip netns exec %[5]s ip maddr show dev eth0
Namespaces: %[6]s
`, r.lab.Switch, r.lab.Bridge, exe, sock, r.lab.Hosts[1].Name,
		strings.Join(append([]string{r.lab.Switch, r.lab.Router, r.lab.Sender}, r.hostNamespaces()...), " "))
	select {
	case <-ctx.Done():
		fmt.Fprintln(r.out, "\nStopping the daemon and removing the lab ...")
	case <-r.daemon.Done():
		fmt.Fprintf(r.out, "The daemon exited (%v); removing the lab ...\n", r.daemon.Err())
	}
}
