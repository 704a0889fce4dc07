package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"text/tabwriter"
	"time"
)

// sizeResult is every snooper's rounds at one storm size.
type sizeResult struct {
	n    int
	gap  time.Duration   // 0: a storm
	runs [][]stormResult // by snooper, the counted rounds
}

// median is the middle value, or the mean of the two middle ones.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
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

// pct is the p-quantile of sorted s, nearest rank.
func pct(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// each is f of every round.
func each(rs []stormResult, f func(stormResult) time.Duration) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func convergence(r stormResult) time.Duration { return r.convergence }

// cpuFigures is a snooper's CPU per join in storms of n joins: each
// part's median over the rounds, and the median of the rounds' totals.
type cpuFigures struct{ bench, daemon, softirq, total time.Duration }

func perJoin(rs []stormResult, n int) cpuFigures {
	m := func(f func(cpuUse) time.Duration) time.Duration {
		return median(each(rs, func(r stormResult) time.Duration { return f(r.cpu) })) / time.Duration(n)
	}
	return cpuFigures{
		bench:   m(func(c cpuUse) time.Duration { return c.bench }),
		daemon:  m(func(c cpuUse) time.Duration { return c.daemon }),
		softirq: m(func(c cpuUse) time.Duration { return c.softirq }),
		total:   m(cpuUse.total),
	}
}

// cpuRatios are the daemon's CPU figures against the kernel's, neither
// depending on how the CPUs were shared: total CPU per join over the
// kernel's, and the daemon's CPU per join over the kernel's inline
// learning (what the senders' context spends per join with the kernel
// learning and not without: bench CPU per join in kernel mode minus in
// daemon mode). vsInline is NaN when inline is not positive (noise
// larger than the difference).
type cpuRatios struct {
	total    float64
	inline   time.Duration
	vsInline float64
}

func compareCPU(kernel, daemon cpuFigures) cpuRatios {
	r := cpuRatios{total: ratio(daemon.total, kernel.total), inline: kernel.bench - daemon.bench, vsInline: math.NaN()}
	if r.inline > 0 {
		r.vsInline = ratio(daemon.daemon, r.inline)
	}
	return r
}

// ratio is a/b, NaN for b == 0.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func us(d time.Duration) string { return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond)) }

func times(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x)
}

func (r sizeResult) what() string {
	if r.gap > 0 {
		return fmt.Sprintf("%d single, every %v", r.n, r.gap)
	}
	return fmt.Sprintf("%d storm", r.n)
}

func printTable(snoopers []snooper, results []sizeResult) {
	if len(results) == 0 {
		return
	}
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "joins\tsnooper\tlearned\tconvergence (median)\tjoins/s\tlatency p50\tp99\tmax\tvs kernel\t")
	for _, r := range results {
		kc := median(each(r.runs[0], convergence))
		kl, _ := pooled(r.runs[0])
		for k, sn := range snoopers {
			rs := r.runs[k]
			lat, learned := pooled(rs)
			c := median(each(rs, convergence))
			conv, rate, vs := ms(c), fmt.Sprintf("%.0f", float64(r.n)/c.Seconds()), ""
			if r.gap > 0 {
				conv, rate = "-", "-" // paced by the sender
			}
			switch {
			case !sn.daemon:
			case r.gap > 0:
				vs = "p99 " + times(ratio(pct(lat, 0.99), pct(kl, 0.99)))
			default:
				vs = times(ratio(c, kc))
			}
			fmt.Fprintf(w, "%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.what(), sn.name, learned, r.n*len(rs), conv,
				rate, ms(pct(lat, 0.50)), ms(pct(lat, 0.99)), ms(pct(lat, 1)), vs)
		}
	}
	w.Flush()
	fmt.Println("\nconvergence: first report sent to last MDB entry notified (RTNLGRP_MDB), median of the rounds; vs kernel: its ratio")
	fmt.Println("(single joins: the ratio of the p99 latencies). latency: per report, from its send to its MDB entry's notification,")
	fmt.Println("pooled over the rounds.")
	printCPU(snoopers, results)
}

// printCPU prints the storms' CPU per join and the daemon's ratios.
func printCPU(snoopers []snooper, results []sizeResult) {
	fmt.Println("\nCPU per join in storms (schedstat: ns on CPU, from before the first report to 50 ms after the last entry; median over the rounds)")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "joins\tsnooper\tsenders+reader\tdaemon\tsoftirq threads\ttotal\ttotal vs kernel\tkernel's inline learning\tdaemon vs inline\t")
	for _, r := range results {
		if r.gap > 0 {
			continue
		}
		kernel := perJoin(r.runs[0], r.n)
		for k, sn := range snoopers {
			f := perJoin(r.runs[k], r.n)
			daemon, vs, inline, vsInline := "-", "", "", ""
			if sn.daemon {
				c := compareCPU(kernel, f)
				daemon, vs, inline, vsInline = us(f.daemon), times(c.total), us(c.inline), times(c.vsInline)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.what(), sn.name, us(f.bench), daemon, us(f.softirq), us(f.total),
				vs, inline, vsInline)
		}
	}
	w.Flush()
	fmt.Println(`
senders+reader: the bench's own process, all its threads: the goroutines that write the storm's raw frames into the
hosts' ends of their veth pairs (sendmmsg), and the one reading the MDB notifications. daemon: all its threads.
softirq threads: ksoftirqd/N, one per CPU, machine-wide (other jobs' deferred softirq work counts too).
Softirq work done in a process's context is charged to that process, not to the softirq threads: a sender's transmit
runs the switch port's receive, and with it the bridge, the kernel's inline learning and its forwarding to the router
port (or, with the daemon, its guard and the copy to the daemon's socket); the daemon's relays run the router side's
receive in the daemon. total: the three. kernel's inline learning: senders+reader per join in kernel mode minus in
daemon mode; daemon vs inline: the daemon's CPU per join over it ("-": not positive, noise).`)
}
