package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/igmpsnoop/igmpsnoop/integration"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// The demo's timers: short, as in the integration tests, so joins, leaves
// and ageing all happen within a few seconds. The lab's router queries with
// the same interval and response time.
const (
	labQueryInterval    = 2 * time.Second
	labQueryResponse    = time.Second
	labRobustness       = 2
	labLastMemberGap    = 500 * time.Millisecond
	labLastMemberCount  = 2
	labGMI              = labRobustness*labQueryInterval + labQueryResponse // RFC 3376 §8.4
	labLMQT             = labLastMemberCount * labLastMemberGap             // RFC 3376 §8.14
	labRate             = 20                                                // packets per second per group
	labTickLen          = time.Second
	labDefaultStep      = 5 * time.Second
	labWarmUp           = 20 * time.Second
	labHosts            = 3
	labSenderBatch      = labRate / 2 // one Send call: half a second of packets, so stopping is quick
	labJoinSettle       = 500 * time.Millisecond
	labLeaveSettle      = labLMQT + 500*time.Millisecond
	labSilenceSettle    = labGMI + time.Second
	labSilenceStepTicks = int(labSilenceSettle/labTickLen) + 3 // two seconds judged after the age-out
)

// labGroup is one stream of the demo.
type labGroup struct {
	name string
	addr netip.Addr
}

var labGroups = []labGroup{
	{"news", netip.MustParseAddr("239.1.1.1")},
	{"video", netip.MustParseAddr("239.2.2.2")},
}

// labOptions are the flags of `lab`.
type labOptions struct {
	step    time.Duration
	keep    bool
	verbose bool
	ascii   bool
}

// labSteps is the number of steps of the script.
const labSteps = 6

// parseLab parses the flags of `lab`.
func parseLab(args []string, stderr io.Writer) (labOptions, error) {
	o := labOptions{}
	var duration time.Duration
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: igmpsnoop lab [flags]

Builds a namespaced lab (a bridge, a querier, three hosts and a sender),
runs the daemon in it, makes hosts join and leave on a short script, and
shows each second which host receives which group. Needs root. Removes
everything it built when it ends, also on Ctrl-C.

`)
		fs.PrintDefaults()
	}
	fs.DurationVar(&o.step, "step", labDefaultStep, "length of each step of the script (at least 1s; the ageing step takes at least "+(time.Duration(labSilenceStepTicks)*labTickLen).String()+")")
	fs.DurationVar(&duration, "duration", 0, "length of the whole script, shared equally by its six steps (instead of --step)")
	fs.BoolVar(&o.keep, "keep", false, "leave the lab up at the end, for poking around, until Ctrl-C")
	fs.BoolVar(&o.verbose, "verbose", false, "show the daemon's log as it is written")
	fs.BoolVar(&o.ascii, "ascii", !utf8Locale(), "draw the table with ASCII only (default unless the locale is UTF-8)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("lab: unexpected argument %q", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["step"] && set["duration"] {
		return o, usageError{errors.New("lab: give --step or --duration, not both")}
	}
	if set["duration"] {
		o.step = duration / labSteps
	}
	if o.step < labTickLen {
		return o, usageError{fmt.Errorf("lab: steps of %v are too short to see anything: at least 1s (--duration at least 6s)", o.step)}
	}
	return o, nil
}

// utf8Locale reports whether the locale says the terminal speaks UTF-8,
// by the POSIX precedence of the variables.
func utf8Locale() bool {
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if s := os.Getenv(v); s != "" {
			s = strings.ToLower(s)
			return strings.Contains(s, "utf-8") || strings.Contains(s, "utf8")
		}
	}
	return false
}

// errInterrupted ends a demo stopped by a signal.
var errInterrupted = errors.New("interrupted; the lab was removed")

// cmdLab runs the demo: set-up, a wait for the lab to settle, the script,
// the verdict; and, whatever happens, the removal of everything it built.
func cmdLab(args []string, stdout, stderr io.Writer) error {
	o, err := parseLab(args, stderr)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("igmpsnoop lab needs root: it builds network namespaces")
	}
	// Caught from the start, so a Ctrl-C while the lab is being built still
	// ends in the cleanup below rather than killing us mid-way.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("lab: find own binary to run the daemon: %w", err)
	}
	r := &labRun{o: o, out: stdout, marks: unicodeMarks}
	if o.ascii {
		r.marks = asciiMarks
	}
	defer r.close()
	if err := r.setUp(ctx, exe, stderr); err != nil {
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
	if o.keep {
		r.waitKept(ctx, exe)
	}
	return verdictErr
}

// labRun is one run of the demo: the lab, the daemon, the sender, the
// captures, and what was measured.
type labRun struct {
	o     labOptions
	out   io.Writer
	marks labMarks
	start time.Time

	lab      *integration.Lab
	dir      string // temporary: the daemon's socket and log
	logPath  string
	logFile  *os.File
	daemon   *integration.Daemon
	caps     []*integration.Capture // hosts, then the router
	members  map[[2]int]*integration.Membership
	stopSend context.CancelFunc
	sendWG   sync.WaitGroup
	sendErr  chan error

	state  [labHosts][]pairState
	prev   [][]int // counts at the last snapshot, [host or router][group]
	ticks  []labTick
	events []labEvent
}

// setUp builds the lab, starts the daemon, the captures and the sender.
func (r *labRun) setUp(ctx context.Context, exe string, stderr io.Writer) error {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("lab: random prefix: %w", err)
	}
	// "lab" and five hex digits: unique among runs at once, and within the
	// lab builder's limit of 8 characters.
	prefix := "lab" + hex.EncodeToString(b)[:5]
	fmt.Fprintf(r.out, "Building the lab: network namespaces %s-{sw,rt,tx,h1,h2,h3} ...\n", prefix)
	lab, err := integration.NewLab(integration.Config{
		Prefix: prefix, Hosts: labHosts, QueryInterval: labQueryInterval, QueryResponseInterval: labQueryResponse,
	})
	if err != nil {
		return fmt.Errorf("lab: build: %w", err)
	}
	r.lab = lab
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintf(r.out, "  %s: bridge %s, ports %s (router), %s (sender), h1 h2 h3 (hosts); igmpsnoop runs here\n", lab.Switch, lab.Bridge, lab.RouterPort, lab.SenderPort)
	fmt.Fprintf(r.out, "  %s: the multicast router, querying every %v from %v\n", lab.Router, labQueryInterval, lab.RouterAddr)
	fmt.Fprintf(r.out, "  %s: the sender, streaming %s\n", lab.Sender, r.groupList())
	for _, h := range lab.Hosts {
		fmt.Fprintf(r.out, "  %s: host %s (%v) on port %s\n", h.Name, h.Port, h.Addr, h.Port)
	}

	r.members = make(map[[2]int]*integration.Membership)
	for i := range r.state {
		r.state[i] = make([]pairState, len(labGroups))
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
	if r.o.verbose {
		logTo = io.MultiWriter(r.logFile, stderr)
	}
	args := []string{
		"--query-interval", labQueryInterval.String(), "--query-response-interval", labQueryResponse.String(),
		"--robustness", fmt.Sprint(labRobustness), "--last-member-interval", labLastMemberGap.String(),
		"--last-member-count", fmt.Sprint(labLastMemberCount), "--log-level", "debug",
	}
	fmt.Fprintf(r.out, "Starting the daemon: ip netns exec %s %s run --bridge %s --socket %s %s\n",
		lab.Switch, exe, lab.Bridge, filepath.Join(r.dir, "igmpsnoop.sock"), strings.Join(args, " "))
	fmt.Fprintf(r.out, "  its log: %s\n", r.logPath)
	r.daemon, err = lab.StartDaemonWith(integration.DaemonOptions{Output: logTo, Detach: true},
		exe, filepath.Join(r.dir, "igmpsnoop.sock"), args...)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}

	sendCtx, cancel := context.WithCancel(context.Background())
	r.stopSend = cancel
	r.sendErr = make(chan error, len(labGroups))
	for _, g := range labGroups {
		r.sendWG.Add(1)
		go func() {
			defer r.sendWG.Done()
			for sendCtx.Err() == nil {
				if err := lab.Send(g.addr, labSenderBatch, time.Second/labRate); err != nil {
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
func (r *labRun) close() {
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
func (r *labRun) hostNamespaces() []string {
	var ns []string
	for _, h := range r.lab.Hosts {
		ns = append(ns, h.Name)
	}
	return ns
}

// groupList describes the streams for the set-up lines.
func (r *labRun) groupList() string {
	var s []string
	for _, g := range labGroups {
		s = append(s, fmt.Sprintf("%s (%v)", g.name, g.addr))
	}
	return strings.Join(s, " and ") + fmt.Sprintf(" at %d packets/s each", labRate)
}

// snapshot returns the packets each capture got per group since the last
// snapshot.
func (r *labRun) snapshot() [][]int {
	now := make([][]int, len(r.caps))
	diff := make([][]int, len(r.caps))
	for i, c := range r.caps {
		now[i] = make([]int, len(labGroups))
		diff[i] = make([]int, len(labGroups))
		for j, g := range labGroups {
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
func (r *labRun) wait(ctx context.Context, t *time.Ticker) error {
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
func (r *labRun) warmUp(ctx context.Context) error {
	fmt.Fprintln(r.out, "Waiting for the daemon to hear the querier and for the bridge to forward by its MDB ...")
	t := time.NewTicker(labTickLen)
	defer t.Stop()
	r.snapshot()
	deadline := time.Now().Add(labWarmUp)
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
	return fmt.Errorf("lab: the lab did not settle within %v: %s", labWarmUp, seen)
}

// querier returns the daemon's IGMP querier and its router ports.
func (r *labRun) querier() (snoop.QuerierView, string, error) {
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

// labTick is one second of measurements.
type labTick struct {
	start, end time.Time
	rx         [][]int    // packets, [host, then the router][group]
	want       [][]expect // [host][group]
	kinds      [][]pairKind
}

// labEvent is a change to one host's membership, for the verdict.
type labEvent struct {
	host, group int
	kind        pairKind
	at          time.Time
}

// labStep is one step of the script.
type labStep struct {
	title     string
	narration string
	do        func(r *labRun) error
	minTicks  int
}

// labScript is the demo's script: nobody, then joins, a leave, an age-out.
func labScript() []labStep {
	return []labStep{
		{title: "no host has joined", narration: fmt.Sprintf("No host has joined a group. The sender streams news and video at %d packets/s each; the bridge "+
			"sends them to the router port only, as no host asked for them.", labRate)},
		{title: "h1 joins news", do: joinStep(0, 0), narration: "h1 joins news: its kernel sends an IGMP membership report; the daemon reads it on port h1 " +
			"and installs an MDB entry, so the bridge copies news to h1 and to no other host."},
		{title: "h2 joins video", do: joinStep(1, 1), narration: "h2 joins video: video now reaches h2; h1 still gets only news, h3 nothing."},
		{title: "h3 joins news", do: joinStep(2, 0), narration: "h3 joins news: the bridge copies news to two ports now, h1 and h3."},
		{title: "h1 leaves news", do: leaveStep(0, 0), narration: fmt.Sprintf("h1 leaves news: the daemon queries port h1 for other members, hears none, "+
			"and prunes it within %v (the last member query time); h3 keeps news.", labLMQT)},
		{title: "h3 goes silent", do: silenceStep(2), minTicks: labSilenceStepTicks, narration: fmt.Sprintf("h3 goes silent: its IGMP frames are dropped, "+
			"as if its uplink broke, while it stays joined. It no longer answers queries, so the daemon ages it out after "+
			"the group membership interval, %v.", labGMI)},
	}
}

// joinStep makes a host join a group through an ordinary socket.
func joinStep(host, group int) func(*labRun) error {
	return func(r *labRun) error {
		m, err := r.lab.Join(r.lab.Hosts[host], labGroups[group].addr)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		r.members[[2]int{host, group}] = m
		r.change(host, group, joined, labJoinSettle)
		return nil
	}
}

// leaveStep closes the socket of a joinStep: the host's kernel sends a leave.
func leaveStep(host, group int) func(*labRun) error {
	return func(r *labRun) error {
		k := [2]int{host, group}
		if err := r.members[k].Leave(); err != nil {
			return fmt.Errorf("lab: %s leaves %s: %w", r.lab.Hosts[host].Port, labGroups[group].name, err)
		}
		delete(r.members, k)
		r.change(host, group, notJoined, labLeaveSettle)
		return nil
	}
}

// silenceStep drops the host's IGMP frames, keeping its memberships.
func silenceStep(host int) func(*labRun) error {
	return func(r *labRun) error {
		if err := r.lab.Silence(r.lab.Hosts[host]); err != nil {
			return fmt.Errorf("lab: silence %s: %w", r.lab.Hosts[host].Port, err)
		}
		for g := range labGroups {
			if r.state[host][g].kind == joined {
				r.change(host, g, silent, labSilenceSettle)
			}
		}
		return nil
	}
}

// change records a host's new state with a group and when it is to be
// judged: after settle, the time the daemon's timers allow for it.
func (r *labRun) change(host, group int, k pairKind, settle time.Duration) {
	now := time.Now()
	r.state[host][group] = pairState{kind: k, settled: now.Add(settle)}
	r.events = append(r.events, labEvent{host: host, group: group, kind: k, at: now})
}

// script runs the steps, printing a table each second.
func (r *labRun) script(ctx context.Context) error {
	steps := labScript()
	perStep := int(math.Round(float64(r.o.step) / float64(labTickLen)))
	t := time.NewTicker(labTickLen)
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
			tk := labTick{start: last, end: now, rx: r.snapshot()}
			last = now
			for h := range r.state {
				tk.want = append(tk.want, make([]expect, len(labGroups)))
				tk.kinds = append(tk.kinds, make([]pairKind, len(labGroups)))
				for g := range labGroups {
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

// labMarks are the symbols of the table.
type labMarks struct {
	member, notJoined, silent, wrong, arrow string
}

var (
	asciiMarks   = labMarks{member: "+", notJoined: ".", silent: "~", wrong: "<- WRONG", arrow: "->"}
	unicodeMarks = labMarks{member: "✓", notJoined: "·", silent: "~", wrong: "⚠ WRONG", arrow: "→"}
)

// renderTick prints one second: packets per host and group with each
// host's membership, and the daemon's view.
func renderTick(w io.Writer, m labMarks, tk labTick, start time.Time, title string, view []snoop.GroupView, viewErr error) {
	fmt.Fprintf(w, "t=%2.0fs  %s\n", tk.end.Sub(start).Seconds(), title)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	hdr := "  HOST"
	for _, g := range labGroups {
		hdr += fmt.Sprintf("\t%s %v", strings.ToUpper(g.name), g.addr)
	}
	fmt.Fprintln(tw, hdr)
	listed := daemonPorts(view)
	for h := range tk.want {
		port := fmt.Sprintf("h%d", h+1)
		row := "  " + port
		for g := range labGroups {
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
				if listed[labGroups[g].addr.String()+"@"+port] {
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
	for g := range labGroups {
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
func describeView(m labMarks, view []snoop.GroupView) string {
	byGroup := map[string][]string{}
	var order []string
	for _, g := range labGroups {
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
		for _, lg := range labGroups {
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
	for _, lg := range labGroups {
		if lg.addr.String() == g {
			return true
		}
	}
	return false
}

// verdict prints what the measurements prove and returns an error if they
// show non-members receiving, or members not receiving, once the daemon
// had had the time its timers allow.
func (r *labRun) verdict() error {
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
func judgeTicks(ticks []labTick, events []labEvent, start time.Time) ([]string, error) {
	var problems, lines []string
	memberPackets, memberSeconds, quietSeconds := 0, 0, 0
	for _, tk := range ticks {
		for h := range tk.want {
			for g := range labGroups {
				n := tk.rx[h][g]
				when := fmt.Sprintf("t=%.0f-%.0fs", tk.start.Sub(start).Seconds(), tk.end.Sub(start).Seconds())
				switch tk.want[h][g] {
				case wantTraffic:
					memberSeconds++
					memberPackets += n
					if n == 0 {
						problems = append(problems, fmt.Sprintf("h%d, a member of %s, received nothing at %s", h+1, labGroups[g].name, when))
					}
				case wantNothing:
					quietSeconds++
					if n > 0 {
						problems = append(problems, fmt.Sprintf("h%d, not a member of %s, received %d packets at %s", h+1, labGroups[g].name, n, when))
					}
				}
			}
		}
	}
	routerPackets := 0
	for _, tk := range ticks {
		for g := range labGroups {
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
		what := fmt.Sprintf("h%d left %s", e.host+1, labGroups[e.group].name)
		limit := fmt.Sprintf("the last member query time is %v", labLMQT)
		if e.kind == silent {
			what = fmt.Sprintf("h%d went silent, still joined to %s", e.host+1, labGroups[e.group].name)
			limit = fmt.Sprintf("the group membership interval is %v", labGMI)
		}
		switch {
		case !judged:
			problems = append(problems, what+" too late in the script to judge: use a longer --step")
		case stopped == 0:
			lines = append(lines, fmt.Sprintf("%s: no packet reached it after that (%s).", what, limit))
		default:
			lines = append(lines, fmt.Sprintf("%s: its %s stopped within %.1fs (%s).", what, labGroups[e.group].name, stopped.Seconds(), limit))
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
func (r *labRun) waitKept(ctx context.Context, exe string) {
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
