package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

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
	dm, err := b.startDaemon(sn)
	if err != nil {
		return err
	}
	defer stopDaemon(dm)
	per := members / b.hosts
	groups := roundGroups(0, b.hosts, per)
	frames, err := b.joins(groups)
	if err != nil {
		return err
	}
	b.watch.arm(groups)
	if err := b.sendWave(frames); err != nil {
		return err
	}
	seen := b.watch.wait(b.timeout)
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
