//go:build linux

// Command e2e is igmpsnoop's end-to-end benchmark: in a namespaced lab
// (lab.New) it injects raw IGMPv2 reports from the host
// namespaces and times how the bridge's MDB follows, with the kernel's own
// snooping (no daemon: the bridge learns inline as frames arrive) and with
// igmpsnoop, in the same run, and prints them side by side with the
// ratio, and what CPU each took per join.
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
// notification. Each snooper (the kernel, then each daemon variant:
// -daemon-args, repeatable) runs -warmup uncounted rounds and -rounds
// counted ones; convergence is the median over rounds, latencies are
// pooled. Every round joins groups no earlier round did. One daemon runs
// all of a variant's rounds at a size; before each, the previous round's
// groups are left, through the daemon's own leave path. With -cold, every
// round starts a new daemon instead, and rounds alternate the snoopers.
//
// CPU: per storm, each thread's time on CPU (schedstat, ns) of the bench
// process (the senders and the MDB notification reader), the daemon and
// the ksoftirqd threads, from just before the first report to shortly
// after the last entry. From them, per join: total CPU with the daemon
// over total CPU with the kernel, and the daemon's CPU over the kernel's
// inline learning (the senders' CPU with the kernel learning in their
// context, minus theirs with the daemon): ratios that do not depend on
// how the two modes' work shared the CPUs.
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
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	var (
		sizes       = flag.String("sizes", "1000,10000", "storm sizes: (group, port) joins per storm, comma-separated")
		hosts       = flag.Int("hosts", 10, "sending hosts (bridge ports)")
		rounds      = flag.Int("rounds", 7, "counted rounds per size, for the kernel and each daemon variant")
		warmup      = flag.Int("warmup", 1, "uncounted rounds per size before the counted ones")
		bin         = flag.String("bin", "", "igmpsnoop binary (default: built from ./cmd/igmpsnoop)")
		prefix      = flag.String("prefix", "bnch", "lab namespace prefix (at most 8 characters)")
		idle        = flag.Duration("idle", 0, "also measure the daemon's CPU time while idle for this long (e.g. 60s)")
		idleMembers = flag.Int("idle-members", 10000, "memberships the daemon holds during -idle")
		timeout     = flag.Duration("timeout", 60*time.Second, "longest wait for a storm to converge")
		single      = flag.Int("single", 200, "single joins to time (0: none)")
		gap         = flag.Duration("gap", 5*time.Millisecond, "time between single joins")
		sendBatch   = flag.Int("send-batch", 16, "frames a storm's sender writes per system call (sendmmsg); 1: one per call")
		cold        = flag.Bool("cold", false, "start a new daemon for every round, rounds alternating the snoopers (default: one daemon per variant across its rounds)")
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
	if *rounds < 1 || *warmup < 0 {
		fatalf("bad -rounds %d or -warmup %d: need a counted round", *rounds, *warmup)
	}
	if big := slices.Max(append(ns, *single)); (*warmup+*rounds)*big > maxGroups {
		fatalf("%d rounds of %d joins: more than the %d groups a run has, each round joining new ones", *warmup+*rounds, big, maxGroups)
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
	printRounds(*warmup, *rounds, *cold)
	var results []sizeResult
	run := func(n int, gap time.Duration) {
		r, err := b.rounds(snoopers, n, gap, *warmup, *rounds, *cold)
		if err != nil {
			b.close()
			fatalf("%v", err)
		}
		results = append(results, r)
	}
	if *single > 0 {
		run(*single, *gap)
	}
	for _, n := range ns {
		run(n, 0)
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
