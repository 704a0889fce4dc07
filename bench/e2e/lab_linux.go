package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// bench is the lab a run's storms are sent in, and what it times them with.
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
	cpu     cpuProbe
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
	if b.cpu, err = newCPUProbe(); err != nil {
		return err
	}
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

// startDaemon starts a daemon variant on an empty MDB and waits until it
// knows the router port.
func (b *bench) startDaemon(sn snooper) (*lab.Daemon, error) {
	if err := b.flush(); err != nil {
		return nil, err
	}
	_ = os.Remove(b.socket)
	d, err := b.lab.StartDaemon(b.bin, b.socket, sn.args...)
	if err != nil {
		return nil, err
	}
	if err := b.query(); err != nil {
		stopDaemon(d)
		return nil, err
	}
	if err := waitRouter(d, b.lab.RouterPort); err != nil {
		stopDaemon(d)
		return nil, err
	}
	return d, nil
}

// stopDaemon stops d, if any, printing its log if it did not stop cleanly.
func stopDaemon(d *lab.Daemon) {
	if d == nil {
		return
	}
	if err := d.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: daemon stop: %v\n%s", err, d.Log())
	}
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

// leaveAll empties the MDB of port entries through a running daemon's
// own leave path: each host sends an IGMPv2 leave for each of its groups
// there, and the daemon removes the entries when its last-member queries
// go unanswered. (Deleting them by netlink behind its back, as flush
// does, would make it add them back at its next check of the MDB.)
// Leaves lost on the way are sent again after resend.
func (b *bench) leaveAll() error {
	const resend, poll = 5 * time.Second, 200 * time.Millisecond
	deadline := time.Now().Add(b.timeout)
	var sent time.Time
	for {
		entries, err := b.mdb.Dump(b.brIndex)
		if err != nil {
			return fmt.Errorf("leave: %w", err)
		}
		entries = slices.DeleteFunc(entries, func(e bridge.Entry) bool {
			return e.Port == b.brIndex || e.Source.IsValid() // the bridge's own; (S,G) go with their (*,G)
		})
		switch {
		case len(entries) == 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("leave: %d MDB entries left %v after their hosts left them", len(entries), b.timeout)
		case time.Since(sent) >= resend:
			if err := b.leave(entries); err != nil {
				return fmt.Errorf("leave: %w", err)
			}
			sent = time.Now()
		}
		time.Sleep(poll)
	}
}

// leave sends an IGMPv2 leave for each entry from its port's host.
func (b *bench) leave(entries []bridge.Entry) error {
	frames := make([][][]byte, b.hosts)
	for _, e := range entries {
		h := slices.Index(b.ports, e.Port)
		if h < 0 {
			return fmt.Errorf("MDB entry %v on port %d, which no host is on", e.Group, e.Port)
		}
		f, err := wire.EncodeReport(wire.Report{Version: 2, Leave: true, SrcMAC: b.macs[h], Src: b.lab.Hosts[h].Addr, Group: e.Group})
		if err != nil {
			return err
		}
		frames[h] = append(frames[h], f)
	}
	return b.sendWave(frames)
}

// sendWave sends each host's frames at a pace the daemon keeps up with
// without dropping any: a wave, not a storm.
func (b *bench) sendWave(frames [][][]byte) error {
	const wave, pause = 256, 5 * time.Millisecond // frames between pauses
	for h, fs := range frames {
		for j := 0; j < len(fs); j += wave {
			batch := fs[j:min(j+wave, len(fs))]
			for k := 0; k < len(batch); k += b.sendBatch {
				if _, err := b.senders[h].WriteFrames(batch[k:min(k+b.sendBatch, len(batch))]); err != nil {
					return fmt.Errorf("send: %w", err)
				}
			}
			time.Sleep(pause)
		}
	}
	return nil
}
