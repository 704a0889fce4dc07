package main

import (
	"fmt"
	"os"
	"time"

	"github.com/igmpsnoop/igmpsnoop/lab"
)

// rounds runs warmup uncounted and then rounds counted storms of n joins
// (one every gap if gap > 0) for every snooper. Each round joins groups
// of its own (roundGroups). Unless cold, each daemon variant runs all its
// rounds in one process, after the kernel's rounds; cold starts a new
// daemon for every round, and rounds alternate the snoopers.
func (b *bench) rounds(snoopers []snooper, n int, gap time.Duration, warmup, rounds int, cold bool) (sizeResult, error) {
	r := sizeResult{n: n, gap: gap, runs: make([][]stormResult, len(snoopers))}
	one := func(k, i int, d *lab.Daemon) error {
		sn := snoopers[k]
		s, err := b.storm(sn, d, n, gap, i)
		if err != nil {
			return fmt.Errorf("%d joins, round %d, %s: %w", n, i+1, sn.name, err)
		}
		round := "warm-up"
		if i >= warmup {
			r.runs[k] = append(r.runs[k], s)
			round = fmt.Sprintf("round %d", i+1-warmup)
		}
		c, daemon := s.cpu, "-"
		if d != nil {
			daemon = us(c.daemon / time.Duration(n))
		}
		fmt.Fprintf(os.Stderr, "  %6d joins (gap %v), %-9s %-20s converged in %v (%d/%d entries); CPU per join: senders+reader %s, daemon %s, softirq %s\n",
			n, gap, round, sn.name, s.convergence.Round(time.Microsecond), s.learned, n,
			us(c.bench/time.Duration(n)), daemon, us(c.softirq/time.Duration(n)))
		return nil
	}
	total := warmup + rounds
	if cold {
		for i := range total {
			for k, sn := range snoopers {
				if err := b.withDaemon(sn, func(d *lab.Daemon) error { return one(k, i, d) }); err != nil {
					return r, err
				}
			}
		}
		return r, nil
	}
	for k, sn := range snoopers {
		err := b.withDaemon(sn, func(d *lab.Daemon) error {
			for i := range total {
				if err := one(k, i, d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// withDaemon runs f with sn's daemon started for it, or nil for the
// kernel.
func (b *bench) withDaemon(sn snooper, f func(*lab.Daemon) error) error {
	if !sn.daemon {
		return f(nil)
	}
	d, err := b.startDaemon(sn)
	if err != nil {
		return err
	}
	defer stopDaemon(d)
	return f(d)
}

// printRounds says how rounds are run, so a reader knows what a figure is.
func printRounds(warmup, rounds int, cold bool) {
	fmt.Printf("rounds: %d warm-up, %d counted per size; each round joins groups no earlier round joined (239.1.0.0 up).\n", warmup, rounds)
	fmt.Println("kernel: its MDB's port entries deleted by netlink before each round (its querier state kept).")
	if cold {
		fmt.Println("igmpsnoop (-cold): each round starts cold, a new daemon on an empty MDB; rounds alternate the kernel and each variant.")
		return
	}
	fmt.Println("igmpsnoop: one daemon per size and variant, across its rounds, after the kernel's rounds; before each round the")
	fmt.Println("previous round's groups are left (IGMPv2 leaves) and the daemon's own leave path empties the MDB, nothing deleted")
	fmt.Println("behind its back (it would add them back).")
}
