package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CPU accounting for storms: each thread's time on CPU from
// /proc/.../schedstat, whose first field is nanoseconds run (utime and
// stime in /proc/<pid>/stat count 10 ms ticks, too coarse for a storm
// of tens of milliseconds).

// cpuUse is the CPU a storm took: the bench process (the storm's senders
// and the MDB notification reader), the daemon and the softirq threads.
type cpuUse struct{ bench, daemon, softirq time.Duration }

func (c cpuUse) total() time.Duration { return c.bench + c.daemon + c.softirq }

// parseSchedstat reads a schedstat file's first field: time on CPU.
func parseSchedstat(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return 0, fmt.Errorf("schedstat %q: want 3 fields", s)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("schedstat %q: bad time on CPU", s)
	}
	return time.Duration(ns), nil
}

// taskTimes is time on CPU by schedstat file, one per thread.
type taskTimes map[string]time.Duration

// since is the CPU the threads took from before to t. A thread missing
// from before, or whose time went down (a new thread that reused an old
// one's id), started meanwhile: all its time counts. A thread that ended
// meanwhile is not in t, and its time is lost: Go threads end only with
// a goroutine that locked them, which the storm path does not do.
func (t taskTimes) since(before taskTimes) time.Duration {
	var sum time.Duration
	for k, v := range t {
		if b, ok := before[k]; ok && b <= v {
			v -= b
		}
		sum += v
	}
	return sum
}

// readTimes reads the given schedstat files; a thread that ended since
// they were listed is left out.
func readTimes(paths []string) (taskTimes, error) {
	t := make(taskTimes, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if t[p], err = parseSchedstat(string(b)); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return t, nil
}

// processTimes reads every thread of process pid.
func processTimes(pid int) (taskTimes, error) {
	paths, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("process %d: no threads in /proc", pid)
	}
	return readTimes(paths)
}

// softirqThreads lists the schedstat files of the ksoftirqd threads, one
// per CPU, which run the softirq work that the context raising it left
// over (past its budget, or raised outside a process's context).
func softirqThreads() ([]string, error) {
	comms, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err == nil && strings.HasPrefix(string(b), "ksoftirqd/") {
			out = append(out, filepath.Join(filepath.Dir(c), "schedstat"))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no ksoftirqd threads in /proc")
	}
	return out, nil
}

// cpuProbe takes the snapshots a storm's cpuUse is the difference of.
type cpuProbe struct {
	self    int      // the bench's own pid
	softirq []string // ksoftirqd schedstat files
}

func newCPUProbe() (cpuProbe, error) {
	s, err := softirqThreads()
	if err != nil {
		return cpuProbe{}, fmt.Errorf("softirq threads: %w", err)
	}
	return cpuProbe{self: os.Getpid(), softirq: s}, nil
}

type cpuSnapshot struct{ bench, daemon, softirq taskTimes }

// begin and end read the bench's threads, the daemon's (pid 0: none) and
// the softirq threads at the start and the end of a storm. Reading costs
// the bench CPU, so begin reads the bench's own threads last and end
// reads them first: the other reads stay out of the window.
func (p cpuProbe) begin(daemon int) (cpuSnapshot, error) { return p.snapshot(daemon, false) }

func (p cpuProbe) end(daemon int) (cpuSnapshot, error) { return p.snapshot(daemon, true) }

func (p cpuProbe) snapshot(daemon int, benchFirst bool) (s cpuSnapshot, err error) {
	readBench := func() error {
		if s.bench, err = processTimes(p.self); err != nil {
			return fmt.Errorf("bench CPU: %w", err)
		}
		return nil
	}
	if benchFirst {
		if err := readBench(); err != nil {
			return s, err
		}
	}
	if daemon != 0 {
		if s.daemon, err = processTimes(daemon); err != nil {
			return s, fmt.Errorf("daemon CPU: %w", err)
		}
	}
	if s.softirq, err = readTimes(p.softirq); err != nil {
		return s, fmt.Errorf("softirq CPU: %w", err)
	}
	if !benchFirst {
		err = readBench()
	}
	return s, err
}

// since is the CPU used from before to s.
func (s cpuSnapshot) since(before cpuSnapshot) cpuUse {
	return cpuUse{bench: s.bench.since(before.bench), daemon: s.daemon.since(before.daemon), softirq: s.softirq.since(before.softirq)}
}
