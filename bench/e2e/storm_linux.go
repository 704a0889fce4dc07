package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/igmpsnoop/igmpsnoop/lab"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

type stormResult struct {
	convergence time.Duration
	latencies   []time.Duration // per learned report
	learned     int
	cpu         cpuUse
}

// settle is how long after the last entry is notified a storm's CPU is
// still counted, so that work of the storm done after it (a daemon's
// last relays) is in the figures. Nothing else runs in the lab then.
const settle = 50 * time.Millisecond

// storm runs round r of n joins against the kernel (d nil) or the running
// daemon d: every host sending as fast as it can, or with gap > 0 one join
// every gap, round-robin over the hosts. What the previous round learned
// is removed first: flushed from the kernel's MDB, or left through the
// daemon.
func (b *bench) storm(sn snooper, d *lab.Daemon, n int, gap time.Duration, r int) (stormResult, error) {
	var res stormResult
	forget, pid := b.flush, 0
	if d != nil {
		forget, pid = b.leaveAll, d.Pid()
	}
	if err := forget(); err != nil {
		return res, err
	}
	if err := b.query(); err != nil {
		return res, err
	}
	if d != nil {
		if err := waitRouter(d, b.lab.RouterPort); err != nil {
			return res, err
		}
	}
	time.Sleep(100 * time.Millisecond) // the query's and the clearing's work done

	per := n / b.hosts
	groups := roundGroups(r, b.hosts, per)
	frames, err := b.joins(groups)
	if err != nil {
		return res, err
	}
	b.watch.arm(groups)
	if d != nil && b.perf != "" {
		stop, err := b.record(pid)
		if err != nil {
			return res, err
		}
		defer stop()
	}
	sent := make([][]int64, b.hosts)
	for h := range sent {
		sent[h] = make([]int64, per)
	}
	// A collection now, not one started by the set-up's garbage that
	// runs on into the storm and is charged to the senders.
	runtime.GC()
	cpu0, err := b.cpu.begin(pid)
	if err != nil {
		return res, err
	}
	if gap > 0 {
		err = b.sendPaced(frames, sent, gap)
	} else {
		err = b.sendStorm(frames, sent)
	}
	if err != nil {
		return res, fmt.Errorf("send: %w", err)
	}
	seen := b.watch.wait(b.timeout)
	time.Sleep(settle)
	cpu1, err := b.cpu.end(pid)
	if err != nil {
		return res, err
	}
	res.cpu = cpu1.since(cpu0)
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
			printDrops(d)
		}
	}
	return res, nil
}

// joins encodes an IGMPv2 report for each join of groups, by host.
func (b *bench) joins(groups groupRange) ([][][]byte, error) {
	frames := make([][][]byte, b.hosts)
	for h := range b.hosts {
		frames[h] = make([][]byte, groups.per)
		for j := range groups.per {
			f, err := wire.EncodeReport(wire.Report{Version: 2, SrcMAC: b.macs[h], Src: b.lab.Hosts[h].Addr, Group: groups.group(h, j)})
			if err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
			frames[h][j] = f
		}
	}
	return frames, nil
}

// sendPaced sends one join every gap, round-robin over the hosts,
// stamping each in sent.
func (b *bench) sendPaced(frames [][][]byte, sent [][]int64, gap time.Duration) error {
	next := time.Now()
	for j := range frames[0] {
		for h := range b.hosts {
			time.Sleep(time.Until(next))
			next = next.Add(gap)
			sent[h][j] = time.Now().UnixNano()
			if err := b.senders[h].WriteFrame(frames[h][j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendStorm sends every host's joins at once, each host as fast as it
// can, stamping each in sent.
func (b *bench) sendStorm(frames [][][]byte, sent [][]int64) error {
	var wg sync.WaitGroup
	var sendErr atomic.Value
	start := make(chan struct{})
	for h := range b.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, per := b.senders[h], len(frames[h])
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
	err, _ := sendErr.Load().(error)
	return err
}

// record starts `perf record -g` on the daemon, returning what stops it.
func (b *bench) record(pid int) (stop func(), err error) {
	args := []string{"record", "-q", "-g", "-o", b.perf, "-p", strconv.Itoa(pid)}
	if ev := os.Getenv("E2E_PERF_EVENT"); ev != "" {
		args = append(args, "-e", ev) // e.g. sched:sched_switch, to see where it waits
	} else {
		args = append(args, "-F", "2000")
	}
	rec := exec.Command("perf", args...)
	if err := rec.Start(); err != nil {
		return nil, fmt.Errorf("perf: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	return func() {
		_ = rec.Process.Signal(os.Interrupt)
		_ = rec.Wait()
	}, nil
}

// printDrops prints where a daemon's frames were lost, for a storm it did
// not learn in full.
func printDrops(d *lab.Daemon) {
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
