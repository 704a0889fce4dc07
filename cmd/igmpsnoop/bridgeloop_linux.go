package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// frameSize bounds what a port reader accepts; IGMP frames are far smaller,
// and a larger one is truncated and then refused by the decoder.
const frameSize = 2048

// readBatch is how many frames a busy port's reader takes from its socket
// in one system call (and hands to the loop in one channel send). A
// reader reads one frame per batch while its port is quiet, so that a
// quiet port holds a few frame buffers at most (a container host may have
// a thousand ports); it moves to readBatch when it has to wait for the
// loop to give a batch back (frames are queueing), and back after
// quietReads reads of at most one frame.
const readBatch = 16

// quietReads is how many reads of one frame or none make a busy port's
// reader go back to one-frame batches.
const quietReads = 64

// batchesPerPort bounds the batches a port reader has in flight. When the
// loop falls behind, the reader waits for one to come back while frames
// queue on its socket, so its next read takes a full batch.
const batchesPerPort = 3

// frameIn is what a port reader hands the loop: the frames of one read,
// and where the batch goes back once handled.
type frameIn struct {
	port  int
	batch *bridge.FrameBatch
	free  chan<- *bridge.FrameBatch
}

type ctlIn struct {
	req   Request
	reply chan any
}

type reconfIn struct {
	set   bridgeSettings
	reply chan error
}

// portIO is what the daemon holds open on one bridge port.
type portIO struct {
	link  bridge.Link
	guard *bridge.Guard
	conn  *bridge.PortConn
	done  chan struct{} // closed when the reader has stopped
	stop  chan struct{} // closed to stop the reader
	// free brings the reader's batches back from the loop; it has room
	// for all of them, so the loop never waits to give one back.
	free chan *bridge.FrameBatch
}

// mdbCounters count MDB writes; read by metrics from other goroutines.
type mdbCounters struct {
	installs, installErrors, removes, removeErrors atomic.Uint64
}

// bridgeLoop snoops one bridge: one goroutine owns its engine and applies
// its actions. All fields but the channels and counters belong to it.
type bridgeLoop struct {
	log    *zap.Logger
	set    bridgeSettings
	proto  uint8
	hub    *eventHub
	br     bridge.Bridge
	engine *snoop.Engine
	mdb    *bridge.MDB
	// mdbw writes the engine's MDB changes (apply), a job per burst of
	// frames, or per apply outside one.
	mdbw    *mdbWriter
	inBurst bool // apply leaves the submitting to the burst's end
	sender  *bridge.Sender
	ports   map[int]*portIO
	dec     *wire.Decoder
	msg     wire.Message
	pool    sync.Pool // *[frameSize]byte, for frames to transmit

	// What the kernel and bridge allow, found at start.
	sourceLists bool
	hashMax     uint32
	snooping    bool // the bridge's mcast_snooping, as last seen
	// vlans is set when the bridge filters VLANs: only then are MDB
	// entries per VLAN, so only then are memberships kept per VLAN.
	vlans bool

	frames chan frameIn
	// tx carries frames to send out of ports to the transmitter goroutine
	// (transmitter), so the loop does not wait for them.
	tx chan []txFrame
	// txq gathers the frames to relay while a burst is handled, handed to
	// the transmitter as one job at its end (flushTx); txSpare brings the
	// jobs' slices back.
	txq     []txFrame
	txSpare chan []txFrame
	links   chan bridge.LinkEvent
	ctl     chan ctlIn
	reconf  chan reconfIn
	done    chan struct{} // closed when run returns

	counters mdbCounters
	// loopSeconds observes how long the loop takes per frame.
	loopSeconds func(time.Duration)

	warnQuerierAt time.Time
	checkAt       time.Time       // next MDB consistency check
	lastCheck     *snoop.MDBCheck // its latest result
	// started is set once the loop snoops; read by the goroutine that ran it.
	started bool
}

func newBridgeLoop(log *zap.Logger, set bridgeSettings, proto uint8, hub *eventHub, observe func(time.Duration)) *bridgeLoop {
	d := &bridgeLoop{
		log: log.With(zap.String("bridge", set.Name)), set: set, proto: proto, hub: hub, loopSeconds: observe,
		ports: make(map[int]*portIO), dec: wire.NewDecoder(),
		frames: make(chan frameIn, 1024), links: make(chan bridge.LinkEvent, 256), tx: make(chan []txFrame, txJobs), txSpare: make(chan []txFrame, txJobs),
		ctl: make(chan ctlIn), reconf: make(chan reconfIn), done: make(chan struct{}),
	}
	d.pool.New = func() any { return new([frameSize]byte) }
	return d
}

// run snoops the bridge until ctx ends (nil) or the bridge goes (an
// error). ready gets nil once it is snooping, or the error that stopped
// it from starting.
func (d *bridgeLoop) run(ctx context.Context, ready chan<- error) (err error) {
	defer close(d.done)
	defer func() {
		if !d.started {
			ready <- err
		}
	}()
	br, _, err := bridge.Lookup(d.set.Name)
	if err != nil {
		return err
	}
	d.br = br
	// Subscribe before listing ports, so no port change falls between.
	watcher, err := bridge.SubscribeLinks(br.Index)
	if err != nil {
		return err
	}
	defer watcher.Close()
	opts, err := bridge.ReadOptions(br.Index)
	if err != nil {
		return err
	}
	if err := d.prepare(opts); err != nil {
		return err
	}
	cfg, err := d.engineConfig(d.set)
	if err != nil {
		return err
	}
	if d.engine, err = snoop.New(cfg, time.Now()); err != nil {
		return err
	}
	if d.mdb, err = bridge.OpenMDB(); err != nil {
		return err
	}
	defer d.mdb.Close()
	batch, err := bridge.OpenMDBBatch()
	if err != nil {
		return err
	}
	defer batch.Close()
	d.mdbw = newMDBWriter(batch)
	defer d.mdbw.close(d.mdbResult)
	if d.sender, err = bridge.OpenBridgeSender(br.Index); err != nil {
		return err
	}
	defer d.sender.Close()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Cancel before waiting: the link watcher returns only once cancelled.
	defer func() {
		cancel()
		wg.Wait()
	}()
	watchErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchErr <- watcher.Run(ctx, d.links)
	}()
	defer d.closePorts()
	txDone := make(chan struct{})
	go d.transmitter(txDone)
	defer func() { // before the ports close
		close(d.tx)
		<-txDone
	}()
	for _, l := range watcher.Ports() {
		if err := d.addPort(l); err != nil {
			return err
		}
	}
	if err := d.adoptMDB(time.Now()); err != nil {
		return err
	}
	d.followTimers()
	d.apply(d.engine.Start(time.Now()))
	if !cfg.Querier {
		d.warnQuerierAt = time.Now().Add(cfg.QueryInterval + cfg.QueryResponseInterval)
	}
	d.log.Info("snooping", zap.Int("ports", len(d.ports)), zap.Int("max_groups", cfg.Limits.MaxKeys),
		zap.Bool("source_lists", cfg.SourceLists), zap.Bool("querier", cfg.Querier))
	d.checkAt = time.Now().Add(d.checkInterval())
	d.started = true
	ready <- nil
	err = d.loop(ctx, watchErr)
	d.shutdown()
	return err
}

// ask hands a control request to the loop and waits for its answer.
func (d *bridgeLoop) ask(ctx context.Context, req Request) (any, error) {
	in := ctlIn{req: req, reply: make(chan any, 1)}
	select {
	case d.ctl <- in:
	case <-d.done:
		return nil, fmt.Errorf("bridge %s is not snooped any more", d.set.Name)
	case <-ctx.Done():
		return nil, fmt.Errorf("bridge %s: %w", d.set.Name, ctx.Err())
	}
	select {
	case r := <-in.reply:
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("bridge %s: %w", d.set.Name, ctx.Err())
	}
}

// reconfigureFrom hands new settings to the loop and waits for the verdict.
func (d *bridgeLoop) reconfigureFrom(ctx context.Context, set bridgeSettings) error {
	in := reconfIn{set: set, reply: make(chan error, 1)}
	select {
	case d.reconf <- in:
	case <-d.done:
		return fmt.Errorf("bridge %s is not snooped any more", d.set.Name)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-in.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reconfigure applies new settings without losing learned state, and
// brings the kernel's per-port router settings in line.
func (d *bridgeLoop) reconfigure(set bridgeSettings) error {
	if set.AnySource != d.set.AnySource && !set.AnySource && !d.sourceLists {
		d.log.Warn("any_source off, but this kernel cannot hold source lists: still any-source")
	}
	cfg, err := d.engineConfig(set)
	if err != nil {
		return err
	}
	old := d.set
	acts, err := d.engine.Reconfigure(time.Now(), cfg)
	if err != nil {
		return err
	}
	d.set = set
	d.apply(acts)
	for i, p := range d.ports {
		oldMode, oldFixed := old.kernelRouterMode(p.link.Name)
		mode, fixed := set.kernelRouterMode(p.link.Name)
		if fixed && (!oldFixed || mode != oldMode) || !fixed && oldFixed {
			if err := bridge.SetPortRouter(i, mode); err != nil {
				d.log.Warn("cannot set the port's router mode", zap.String("port", p.link.Name), zap.Uint8("mode", mode), zap.Error(err))
			}
		}
		if err := p.guard.Update(bridge.GuardOptions{DropQueries: set.policy(p.link.Name).RefuseQueries}); err != nil {
			d.log.Warn("cannot update the port's guard", zap.String("port", p.link.Name), zap.Error(err))
		}
	}
	d.followTimers()
	d.log.Info("configuration reloaded")
	return nil
}

// answer builds the reply to a control request from the engine.
func (d *bridgeLoop) answer(now time.Time, req Request) any {
	switch req.Command {
	case "groups":
		return filterGroups(d.engine.Groups(now), req)
	case "routers":
		return d.engine.Routers(now)
	case "querier":
		return d.engine.Queriers(now)
	case "stats":
		s := d.engine.Stats()
		s.MDBCheck = d.lastCheck
		return s
	case "check":
		c := d.checkMDB(now)
		d.lastCheck = &c
		return c
	case "ports":
		return d.portViews()
	case "snapshot":
		return d.snapshot(now)
	}
	return fmt.Errorf("unknown command %q", req.Command)
}

// record turns an engine event into an events-stream record.
func (d *bridgeLoop) record(ev snoop.Event) eventRecord {
	r := eventRecord{Time: time.Now(), Bridge: d.set.Name, Event: ev.Kind.String(), Detail: ev.Detail}
	if ev.Port != 0 {
		r.Port = d.engine.PortName(ev.Port)
	}
	if ev.Key.Group.IsValid() {
		r.Group, r.VLAN = ev.Key.Group.String(), ev.Key.VLAN
	}
	if ev.Addr.IsValid() {
		r.Addr = ev.Addr.String()
	}
	return r
}

func (d *bridgeLoop) observe(start time.Time) {
	if d.loopSeconds != nil {
		d.loopSeconds(time.Since(start))
	}
}

// prepare checks the bridge and sets what the daemon depends on: the
// bridge's membership interval, and IGMPv3/MLDv2 processing where the
// kernel can hold source lists.
func (d *bridgeLoop) prepare(opts bridge.Options) error {
	d.snooping, d.vlans = opts.Snooping, opts.VLANFiltering
	if !opts.Snooping {
		return fmt.Errorf("multicast snooping is off on %s, so it cannot hold MDB entries; turn it on: ip link set %s type bridge mcast_snooping 1", d.br.Name, d.br.Name)
	}
	d.hashMax = opts.HashMax
	if !d.set.AnySource {
		ok, err := bridge.ProbeSourceLists(d.br.Index)
		if err != nil {
			return err
		}
		if !ok {
			d.log.Warn("this kernel cannot hold source lists in MDB entries (needs Linux 6.2): installing any-source entries, a superset")
		}
		d.sourceLists = ok
	}
	if d.sourceLists {
		// The bridge looks up (S,G) entries, which source lists create,
		// only when it runs IGMPv3 and MLDv2 itself.
		if opts.IGMPVersion != 3 {
			if err := bridge.SetIGMPVersion(d.br.Index, 3); err != nil {
				return err
			}
			d.log.Info("set bridge mcast_igmp_version 3 for source-specific forwarding", zap.Uint8("was", opts.IGMPVersion))
		}
		if opts.MLDVersion != 2 {
			if err := bridge.SetMLDVersion(d.br.Index, 2); err != nil {
				return err
			}
			d.log.Info("set bridge mcast_mld_version 2 for source-specific forwarding", zap.Uint8("was", opts.MLDVersion))
		}
	}
	if !d.br.IPv6.IsLinkLocalUnicast() {
		d.log.Warn("the bridge has no IPv6 link-local address yet: no MLD queries can be sent (hosts ignore others) until it has one")
	}
	cfg, err := d.engineConfig(d.set)
	if err != nil {
		return err
	}
	if want := cfg.BridgeMembershipInterval(); opts.MembershipInterval != want {
		// The kernel ages our temporary entries by this; it must outlast our
		// refresh cadence, and no more, so entries die soon after we do.
		if err := bridge.SetMembershipInterval(d.br.Index, want); err != nil {
			return fmt.Errorf("set mcast_membership_interval on %s: %w", d.br.Name, err)
		}
		d.log.Info("set bridge membership interval", zap.Duration("was", opts.MembershipInterval), zap.Duration("now", want))
	}
	return nil
}

// engineConfig completes a bridge's configured engine settings with what
// the bridge itself says: its addresses, what the kernel can hold, and a
// group limit safely under mcast_hash_max.
func (d *bridgeLoop) engineConfig(bs bridgeSettings) (snoop.Config, error) {
	c := bs.Engine
	c.QuerySourceMAC = d.br.MAC
	if !c.QuerierAddr4.IsValid() && d.br.IPv4.IsValid() {
		c.QuerierAddr4 = d.br.IPv4
	}
	if d.br.IPv6.IsLinkLocalUnicast() {
		c.QuerierAddr6 = d.br.IPv6
	}
	c.SourceLists = d.sourceLists && !bs.AnySource
	c.VLANFiltering = d.vlans
	if hm := int(d.hashMax); hm > 0 {
		if !bs.MaxGroupsSet {
			// Going over mcast_hash_max turns snooping off for the whole
			// bridge; keep room for entries the kernel adds (host joins).
			c.Limits.MaxKeys = hm * 3 / 4
		} else if c.Limits.MaxKeys >= hm {
			return c, fmt.Errorf("bridge %s: max_groups %d must be below the bridge's mcast_hash_max %d: over it the kernel turns snooping off", bs.Name, c.Limits.MaxKeys, hm)
		}
	}
	return c, c.Validate()
}

func (d *bridgeLoop) loop(ctx context.Context, watchErr <-chan error) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.armTimer(timer)
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("link monitor stopped: %w", err)
		case f := <-d.frames:
			d.burst(f)
		case r := <-d.mdbw.done:
			d.mdbw.finish(r, d.mdbResult)
		case ev := <-d.links:
			if err := d.handleLink(ev); err != nil {
				return err
			}
		case c := <-d.ctl:
			c.reply <- d.answer(time.Now(), c.req)
		case r := <-d.reconf:
			r.reply <- d.reconfigure(r.set)
		case <-timer.C:
			now := time.Now()
			d.apply(d.engine.Tick(now))
			d.checkQuerier(now)
			if !now.Before(d.checkAt) {
				c := d.checkMDB(now)
				d.lastCheck = &c
				d.checkAt = now.Add(d.checkInterval())
			}
		}
	}
}

func (d *bridgeLoop) armTimer(t *time.Timer) {
	next := d.checkAt
	if !d.warnQuerierAt.IsZero() && d.warnQuerierAt.Before(next) {
		next = d.warnQuerierAt
	}
	if at, ok := d.engine.NextDeadline(); ok && (next.IsZero() || at.Before(next)) {
		next = at
	}
	wait := time.Hour
	if !next.IsZero() {
		wait = max(time.Until(next), 0)
	}
	t.Reset(wait)
}

// checkQuerier warns when no querier has been heard: without one the bridge
// ignores the MDB and floods (DESIGN.md, fact 2).
func (d *bridgeLoop) checkQuerier(now time.Time) {
	if d.warnQuerierAt.IsZero() || now.Before(d.warnQuerierAt) {
		return
	}
	d.warnQuerierAt = time.Time{}
	if !d.engine.QuerierPresent() {
		d.log.Warn("no querier heard: the bridge floods multicast to every port until one is; run igmpsnoop with --querier, or a multicast router",
			zap.Duration("waited", d.set.Engine.QueryInterval+d.set.Engine.QueryResponseInterval))
	}
}

// portReadBuffer is each port socket's receive queue: room for a join
// storm of some 3 500 reports per port while the loop catches up.
const portReadBuffer = 2 << 20

// maxBurst bounds the frames handled before their MDB writes are handed
// to the writer.
const maxBurst = 256

// burst handles the frames of f and those already queued behind it, up to
// about maxBurst, then hands their MDB changes to the writer as one job,
// which the kernel gets in one batch: a join storm costs a few netlink
// system calls per burst, not two per entry, and a lone report is
// written at once.
func (d *bridgeLoop) burst(f frameIn) {
	d.inBurst = true
	handled := d.handleBatch(f)
	for handled < maxBurst {
		select {
		case f := <-d.frames:
			handled += d.handleBatch(f)
			continue
		default:
		}
		break
	}
	d.inBurst = false
	d.mdbw.submit(d.mdbResult)
	d.flushTx()
}

// handleBatch handles the frames of one read and gives its batch back to
// the readers. It returns how many frames there were.
func (d *bridgeLoop) handleBatch(f frameIn) int {
	defer func() { f.free <- f.batch }()
	for i := range f.batch.Len() {
		d.handleFrame(f.port, f.batch.Frame(i))
	}
	return f.batch.Len()
}

func (d *bridgeLoop) handleFrame(port int, frame []byte) {
	start := time.Now()
	defer d.observe(start)
	if err := d.dec.Decode(frame, &d.msg); err != nil {
		reason := wire.ReasonOf(err)
		d.engine.Refused(port, reason)
		d.log.Debug("frame refused", zap.String("port", d.engine.PortName(port)), zap.Stringer("reason", reason), zap.Error(err))
		return
	}
	if ce := d.log.Check(zap.DebugLevel, "message"); ce != nil {
		ce.Write(zap.String("port", d.engine.PortName(port)), zap.Stringer("msg", &d.msg))
	}
	d.apply(d.engine.HandleMessage(start, port, &d.msg, frame))
}

func (d *bridgeLoop) entry(port int, key fdb.Key) bridge.Entry {
	return bridge.Entry{Bridge: d.br.Index, Port: port, Group: key.Group, VID: key.VLAN, Proto: d.proto}
}

func toBridgeMode(m fdb.FilterMode) bridge.FilterMode {
	if m == fdb.Include {
		return bridge.ModeInclude
	}
	return bridge.ModeExclude
}

// apply carries out the engine's actions. MDB writes go to the writer
// at the end, or at the end of the burst of frames being handled (burst);
// everything else is done at once.
func (d *bridgeLoop) apply(acts []snoop.Action) {
	defer func() {
		if !d.inBurst {
			d.mdbw.submit(d.mdbResult)
			d.flushTx()
		}
	}()
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case snoop.ActInstall:
			e := d.entry(a.Port, a.Key)
			// The engine reuses its source lists: the writer gets a copy.
			e.Mode, e.Sources, e.Permanent = toBridgeMode(a.Mode), slices.Clone(a.Sources), a.Static
			d.counters.installs.Add(1)
			d.mdbw.queue(mdbOp{entry: e})
		case snoop.ActRemove:
			d.counters.removes.Add(1)
			d.mdbw.queue(removeOp(d.entry(a.Port, a.Key)))
		case snoop.ActTransmit:
			if a.Port == snoop.ThroughBridge {
				if err := d.sender.WriteFrame(a.Frame); err != nil {
					d.log.Warn("query not sent", zap.Error(err))
				}
				continue
			}
			p := d.ports[a.Port]
			if p == nil || !p.link.Up || !p.link.Forwarding() {
				continue // STP keeps blocking ports silent, and so do we
			}
			d.transmit(p, a.Frame)
		case snoop.ActEvent:
			d.logEvent(a.Event)
		case snoop.ActRouterPort:
			d.setRouterPort(a.Port, a.Router)
		}
	}
}

// txFrame is a frame for the transmitter: buf[:n] out of conn.
type txFrame struct {
	conn *bridge.PortConn
	port string
	buf  *[frameSize]byte
	n    int
}

// txJobs bounds the relay jobs queued for the transmitter; with at most
// maxBurst frames per job and router port, it bounds the frames waiting.
const txJobs = 8

// transmit queues frame to go out of port p. The transmitter goroutine
// does the writing, so relaying a join storm to the router ports runs
// beside the loop rather than in it; the frames of a burst go to it as one
// job (flushTx), and keep their order. frame is copied (the engine's
// frames alias the reader's buffer).
func (d *bridgeLoop) transmit(p *portIO, frame []byte) {
	buf := d.pool.Get().(*[frameSize]byte)
	n := copy(buf[:], frame)
	d.txq = append(d.txq, txFrame{conn: p.conn, port: p.link.Name, buf: buf, n: n})
}

// flushTx hands the queued frames to the transmitter. When it is a full
// queue behind, the loop waits for it (it never waits on the loop): the
// frames must not overtake those queued before them, a join its leave.
func (d *bridgeLoop) flushTx() {
	if len(d.txq) == 0 {
		return
	}
	d.tx <- d.txq
	select {
	case d.txq = <-d.txSpare:
	default:
		d.txq = nil
	}
}

// transmitter writes the jobs flushTx hands it until d.tx is closed.
func (d *bridgeLoop) transmitter(done chan<- struct{}) {
	defer close(done)
	var scratch [][]byte
	for q := range d.tx {
		scratch = d.write(q, scratch)
		select {
		case d.txSpare <- q[:0]:
		default:
		}
	}
}

// write sends the frames of q, in order for each port, each port's in one
// WriteFrames (relays to several router ports interleave them); a frame
// the port refuses is logged and skipped. It returns scratch, grown, for
// the next call.
func (d *bridgeLoop) write(q []txFrame, scratch [][]byte) [][]byte {
	slices.SortStableFunc(q, func(a, b txFrame) int { return strings.Compare(a.port, b.port) })
	for len(q) > 0 {
		run := 1
		for run < len(q) && q[run].conn == q[0].conn {
			run++
		}
		scratch = scratch[:0]
		for _, f := range q[:run] {
			scratch = append(scratch, f.buf[:f.n])
		}
		for done := 0; done < run; {
			sent, err := q[0].conn.WriteFrames(scratch[done:])
			done += sent
			if err == nil {
				continue
			}
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
				d.log.Warn("transmit failed", zap.String("port", q[0].port), zap.Error(err))
			}
			done++ // skip the refused frame
		}
		for _, f := range q[:run] {
			d.pool.Put(f.buf)
		}
		q = q[run:]
	}
	return scratch
}

// mdbResult handles the writes of a finished writer job that failed.
func (d *bridgeLoop) mdbResult(r mdbDone) {
	for _, f := range r.failed {
		d.mdbFailed(r.ops[f.op], f.err)
	}
}

// mdbFailed handles an MDB write the kernel refused. Netlink errors are
// logged, not fatal: one refused entry must not stop snooping for the
// others.
func (d *bridgeLoop) mdbFailed(op mdbOp, err error) {
	port := op.entry.Port
	if op.remove {
		if errors.Is(err, bridge.ErrNotFound) {
			return
		}
		d.counters.removeErrors.Add(1)
		d.log.Error("MDB remove failed", zap.String("port", d.engine.PortName(port)), zap.Stringer("group", op.entry.Group), zap.Error(err))
		return
	}
	d.counters.installErrors.Add(1)
	// E.g. a port still in the disabled STP state just after coming up:
	// the next report retries.
	d.engine.InstallFailed(port, op.key())
	d.log.Error("MDB install failed", zap.String("port", d.engine.PortName(port)), zap.Stringer("group", op.entry.Group), zap.Error(err))
}

func (d *bridgeLoop) logEvent(ev snoop.Event) {
	// A storm makes an event per join: nothing is built for nobody.
	if d.hub.listening() {
		d.hub.publish(d.record(ev))
	}
	switch ev.Kind {
	case snoop.EventTimersChanged, snoop.EventQuerierLost:
		d.followTimers()
	}
	level := zap.InfoLevel
	switch ev.Kind {
	case snoop.EventLimit, snoop.EventFilterDeny, snoop.EventJoin, snoop.EventLeave, snoop.EventExpire, snoop.EventFlush, snoop.EventAdopt:
		// One per report or membership: a storm makes thousands, and a
		// synchronous log line each was a third of the daemon's work. They
		// are counted, streamed (`igmpsnoop events`) and shown; the log
		// gets them at debug level.
		level = zap.DebugLevel
	case snoop.EventQuerierLost, snoop.EventQueryFailed, snoop.EventQueryClamped:
		level = zap.WarnLevel
	}
	if ce := d.log.Check(level, "snooping event"); ce != nil {
		fields := []zap.Field{zap.Stringer("event", ev.Kind), zap.String("port", d.engine.PortName(ev.Port))}
		if ev.Key.Group.IsValid() {
			fields = append(fields, zap.Stringer("group", ev.Key.Group))
		}
		if ev.Addr.IsValid() {
			fields = append(fields, zap.Stringer("addr", ev.Addr))
		}
		if ev.Detail != "" {
			fields = append(fields, zap.String("detail", ev.Detail))
		}
		ce.Write(fields...)
	}
	if ev.Kind == snoop.EventQuerierLost && !d.set.Engine.Querier {
		d.log.Warn("querier gone: the bridge floods multicast until a querier is heard again")
	}
}

// setRouterPort mirrors a dynamic router port into the kernel as a
// temporary one: it lasts the bridge's mcast_querier_interval unless
// renewed, so it lapses on its own if the daemon dies.
func (d *bridgeLoop) setRouterPort(port int, on bool) {
	p := d.ports[port]
	if p == nil || d.fixedRouterPort(p.link.Name) {
		return
	}
	mode := uint8(bridge.PortRouterLearned)
	if on {
		mode = bridge.PortRouterTemporary
	}
	if err := bridge.SetPortRouter(port, mode); err != nil {
		d.log.Warn("cannot set router port", zap.String("port", p.link.Name), zap.Bool("router", on), zap.Error(err))
	}
}

// fixedRouterPort tells whether configuration fixes the port's router
// mode in the kernel (router, flood, snooping off, refuse queries).
func (d *bridgeLoop) fixedRouterPort(name string) bool {
	_, fixed := d.set.kernelRouterMode(name)
	return fixed
}

// followTimers keeps the bridge's membership interval, the life of our
// temporary entries, above the membership interval the querier's timers
// give: else the kernel would drop entries we still hold.
func (d *bridgeLoop) followTimers() {
	opts, err := bridge.ReadOptions(d.br.Index)
	if err != nil {
		return
	}
	if want := d.engine.BridgeMembershipInterval(); opts.MembershipInterval != want {
		if err := bridge.SetMembershipInterval(d.br.Index, want); err != nil {
			d.log.Error("cannot follow the querier's timers", zap.Error(err))
		} else {
			d.log.Info("set bridge membership interval", zap.Duration("was", opts.MembershipInterval), zap.Duration("now", want))
		}
	}
	// The kernel must stop believing in a querier when we do: else, once it
	// is gone, it keeps pruning by entries we have aged out, instead of
	// flooding.
	if want := d.engine.OtherQuerierPresentInterval(); opts.QuerierInterval != want {
		if err := bridge.SetQuerierInterval(d.br.Index, want); err != nil {
			d.log.Error("cannot set the bridge's querier interval", zap.Error(err))
		} else {
			d.log.Info("set bridge querier interval", zap.Duration("was", opts.QuerierInterval), zap.Duration("now", want))
		}
	}
}

func (d *bridgeLoop) handleLink(ev bridge.LinkEvent) error {
	now := time.Now()
	switch ev.Kind {
	case bridge.PortAdded:
		if err := d.addPort(ev.Link); err != nil {
			d.log.Error("cannot snoop on new port", zap.String("port", ev.Link.Name), zap.Error(err))
		}
	case bridge.PortUp, bridge.PortDown, bridge.PortState:
		// The engine learns on a port only while it is up and STP lets it
		// learn: frames a blocking port reads would make loops of state.
		p := d.ports[ev.Link.Index]
		if p == nil {
			break
		}
		was := p.link.Up && p.link.Learning()
		p.link = ev.Link
		switch active := ev.Link.Up && ev.Link.Learning(); {
		case active && !was:
			d.apply(d.engine.PortUp(time.Now(), ev.Link.Index, ev.Link.Name))
			d.log.Info("port active", zap.String("port", ev.Link.Name), zap.Stringer("stp", ev.Link.State))
		case !active && was:
			d.apply(d.engine.PortDown(time.Now(), ev.Link.Index))
			d.log.Info("port inactive", zap.String("port", ev.Link.Name), zap.Bool("up", ev.Link.Up), zap.Stringer("stp", ev.Link.State))
		}
	case bridge.PortRenamed:
		if p := d.ports[ev.Link.Index]; p != nil {
			d.log.Info("port renamed", zap.String("from", p.link.Name), zap.String("port", ev.Link.Name))
			p.link = ev.Link
			d.engine.PortAdded(ev.Link.Index, ev.Link.Name) // down: listed under its new name
		}
	case bridge.PortRemoved:
		d.log.Info("port removed", zap.String("port", ev.Link.Name))
		d.apply(d.engine.PortRemoved(now, ev.Link.Index))
		d.closePort(ev.Link.Index)
	case bridge.BridgeChanged:
		if o := ev.Options; o != nil && o.Snooping != d.snooping {
			d.snooping = o.Snooping
			if !o.Snooping {
				d.log.Error("multicast snooping was switched off on the bridge: it floods all multicast and holds no MDB entries until it is switched back on")
			} else {
				// The kernel dropped our temporary entries with it.
				d.log.Info("multicast snooping switched back on: reinstalling the MDB")
				d.apply(d.engine.Resync(now))
			}
		}
		// The bridge's link-local address appears once it has carrier.
		if _, v6, err := bridge.Addresses(d.br.Index); err == nil && v6.IsLinkLocalUnicast() && v6 != d.engine.Config().QuerierAddr6 {
			d.log.Info("MLD queries from the bridge's link-local address", zap.Stringer("addr", v6))
			d.br.IPv6 = v6
			d.apply(d.engine.SetQuerierAddr6(now, v6))
		}
	case bridge.BridgeGone:
		return fmt.Errorf("bridge %s was deleted", d.br.Name)
	}
	return nil
}

// addPort starts snooping on a port: the guard first, so the kernel learns
// nothing from it from now on, then our socket.
func (d *bridgeLoop) addPort(l bridge.Link) error {
	if _, ok := d.ports[l.Index]; ok {
		return nil
	}
	guard, err := bridge.AttachGuardWith(l.Index, bridge.GuardOptions{DropQueries: d.set.policy(l.Name).RefuseQueries})
	if err != nil {
		return fmt.Errorf("port %s: %w", l.Name, err)
	}
	conn, err := bridge.ListenPort(l.Index)
	if err != nil {
		guard.Close()
		return fmt.Errorf("port %s: %w", l.Name, err)
	}
	if err := conn.SetReadBuffer(portReadBuffer); err != nil {
		d.log.Warn("join storms on this port may lose reports", zap.String("port", l.Name), zap.Error(err))
	}
	if mode, fixed := d.set.kernelRouterMode(l.Name); fixed {
		// Permanent: the kernel forwards every group there; disabled: it
		// never becomes a router port, whatever a host sends.
		if err := bridge.SetPortRouter(l.Index, mode); err != nil {
			conn.Close()
			guard.Close()
			return fmt.Errorf("port %s: %w", l.Name, err)
		}
	}
	p := &portIO{link: l, guard: guard, conn: conn, done: make(chan struct{}), stop: make(chan struct{}),
		free: make(chan *bridge.FrameBatch, batchesPerPort)}
	d.ports[l.Index] = p
	go d.read(p, l.Index, l.Name)
	d.engine.PortAdded(l.Index, l.Name)
	if l.Up && l.Learning() {
		d.apply(d.engine.PortUp(time.Now(), l.Index, l.Name))
	}
	d.log.Info("snooping on port", zap.String("port", l.Name), zap.Int("ifindex", l.Index), zap.Bool("up", l.Up))
	return nil
}

// read copies frames from one port to the loop until the socket closes.
// It keeps its own copy of the port's index and name: the loop updates
// p.link. A port going down makes the socket fail with ENETDOWN once;
// that is not the end of the port, so the reader carries on.
func (d *bridgeLoop) read(p *portIO, index int, name string) {
	defer close(p.done)
	src := batchSource{size: 1}
	for {
		b, ok := src.next(p)
		if !ok {
			return
		}
		err := p.conn.ReadBatch(b)
		if err == nil {
			src.read(b.Len())
		}
		if err != nil {
			p.free <- b
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			d.log.Debug("port read failed; retrying", zap.String("port", name), zap.Error(err))
			select {
			case <-p.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case d.frames <- frameIn{port: index, batch: b, free: p.free}:
		case <-p.stop:
			return
		}
	}
}

// batchSource hands a port reader the batches to fill: those the loop
// gave back, or new ones while the reader has fewer than batchesPerPort,
// sized for how busy the port is (see readBatch).
type batchSource struct {
	made  int // batches allocated and not dropped
	size  int // frames per batch the reader wants now
	quiet int // reads in a row of at most one frame
}

// next returns a batch of s.size frames: one given back, a new one, or
// else the next one given back; having to wait for that means the loop is
// behind and frames are queueing, so from then on batches are larger.
// Batches of another size are dropped on their way back. It returns false
// if the port stops first.
func (s *batchSource) next(p *portIO) (*bridge.FrameBatch, bool) {
	for {
		var b *bridge.FrameBatch
		select {
		case b = <-p.free:
		default:
			if s.made < batchesPerPort {
				s.made++
				return bridge.NewFrameBatch(s.size, frameSize), true
			}
			s.size, s.quiet = readBatch, 0
			select {
			case b = <-p.free:
			case <-p.stop:
				return nil, false
			}
		}
		if b.Cap() == s.size {
			return b, true
		}
		s.made--
	}
}

// read notes how many frames a read took, and goes back to one-frame
// batches after quietReads reads of at most one.
func (s *batchSource) read(n int) {
	if n > 1 {
		s.quiet = 0
		return
	}
	if s.quiet++; s.quiet >= quietReads {
		s.size, s.quiet = 1, 0
	}
}

func (d *bridgeLoop) closePort(ifindex int) {
	p := d.ports[ifindex]
	if p == nil {
		return
	}
	delete(d.ports, ifindex)
	if d.fixedRouterPort(p.link.Name) {
		// Back to the kernel's default; the port may be gone already.
		_ = bridge.SetPortRouter(ifindex, bridge.PortRouterLearned)
	}
	// The stop channel frees a reader blocked on a full frames channel
	// without throwing away other ports' frames.
	close(p.stop)
	p.conn.Close()
	p.guard.Close()
	<-p.done
}

func (d *bridgeLoop) closePorts() {
	for i := range d.ports {
		d.closePort(i)
	}
}

// adoptMDB takes over entries an earlier run installed (so a restart does
// not interrupt forwarding) and removes entries the kernel learned before
// our guards were up, so that every port entry is ours.
func (d *bridgeLoop) adoptMDB(now time.Time) error {
	// Ports coming up may have queued static groups: read the MDB with
	// them in, or a kernel entry found here could be ours by the time it
	// is deleted.
	d.mdbw.sync(d.mdbResult)
	entries, err := d.mdb.Dump(d.br.Index)
	if err != nil {
		return fmt.Errorf("read MDB of %s: %w", d.br.Name, err)
	}
	adopted := 0
	var kernel []mdbOp
	for _, e := range entries {
		if e.Port == d.br.Index || e.Source.IsValid() || d.ports[e.Port] == nil {
			continue // host joins, and (S,G) entries the kernel derives from (*,G) ones
		}
		switch {
		case e.Proto == d.proto:
			mode := fdb.Exclude
			if e.Mode == bridge.ModeInclude {
				mode = fdb.Include
			}
			d.apply(d.engine.Adopt(now, e.Port, fdb.Key{VLAN: e.VID, Group: e.Group}, mode, e.Sources, e.Timer))
			adopted++
		case e.Proto == bridge.ProtoKernel:
			kernel = append(kernel, removeOp(e))
		}
	}
	cleaned := len(kernel) - d.writeMDB(kernel)
	d.log.Info("MDB taken over", zap.Int("adopted", adopted), zap.Int("kernel_entries_removed", cleaned))
	return nil
}

// shutdown ends snooping. By default it removes every entry it
// installed, as promised to operators who stop it; with handover the
// guards go first and the entries stay, so forwarding goes on while the
// kernel's own snooping takes over (it refreshes them from reports and
// ages them), and a restarted daemon adopts them.
func (d *bridgeLoop) shutdown() {
	d.mdbw.sync(d.mdbResult) // what the engine installed is in the kernel
	if d.set.Handover {
		n := len(d.engine.Memberships())
		d.closePorts()
		// Static groups are permanent entries: they go with the daemon
		// that was configured to hold them.
		var static []mdbOp
		for _, m := range d.engine.Memberships() {
			if m.Static {
				static = append(static, removeOp(d.entry(m.Port, m.Key)))
			}
		}
		d.writeMDB(static)
		d.log.Info("stopped: entries handed over to the kernel's snooping", zap.Int("mdb_entries", n))
		return
	}
	ms := d.engine.Memberships()
	ops := make([]mdbOp, 0, len(ms))
	for _, m := range ms {
		ops = append(ops, removeOp(d.entry(m.Port, m.Key)))
	}
	removed := len(ops) - d.writeMDB(ops)
	for _, r := range d.engine.Routers(time.Now()) {
		if r.Via != fdb.ViaStatic {
			if p := d.portByName(r.Port); p != nil && !d.fixedRouterPort(r.Port) {
				_ = bridge.SetPortRouter(p.link.Index, bridge.PortRouterLearned)
			}
		}
	}
	d.log.Info("stopped", zap.Int("mdb_entries_removed", removed))
}

func (d *bridgeLoop) portByName(name string) *portIO {
	for _, p := range d.ports {
		if p.link.Name == name {
			return p
		}
	}
	return nil
}

// portViews is the engine's view of the ports, with what only the daemon
// knows: STP state and the kernel's drop counters.
func (d *bridgeLoop) portViews() []snoop.PortView {
	views := d.engine.Ports()
	byName := make(map[string]*portIO, len(d.ports))
	for _, p := range d.ports {
		byName[p.link.Name] = p
	}
	for i := range views {
		p := byName[views[i].Port]
		if p == nil {
			continue
		}
		views[i].STP = p.link.State.String()
		if n, err := p.guard.Dropped(); err == nil {
			views[i].GuardDropped = n
		}
		if _, n, err := p.conn.Stats(); err == nil {
			views[i].SocketDropped = n
		}
	}
	return views
}

// snapshot gathers the bridge's figures for metrics.
func (d *bridgeLoop) snapshot(now time.Time) bridgeSnapshot {
	s := bridgeSnapshot{Bridge: d.set.Name, Stats: d.engine.Stats(), Routers: len(d.engine.Routers(now)), Queriers: d.engine.Queriers(now)}
	s.Ports = d.portViews()
	s.MDB.Installs, s.MDB.InstallErrors = d.counters.installs.Load(), d.counters.installErrors.Load()
	s.MDB.Removes, s.MDB.RemoveErrors = d.counters.removes.Load(), d.counters.removeErrors.Load()
	return s
}

// checkMDB compares the kernel's MDB with the engine's table and repairs
// what differs: entries of ours the kernel lost (snooping toggled, a
// netlink message dropped), entries of ours the table no longer has, and
// entries the kernel learned itself on our ports. The result shows in
// `show stats`.
func (d *bridgeLoop) checkMDB(now time.Time) snoop.MDBCheck {
	c := snoop.MDBCheck{At: now}
	// Compare with every write made, not with some still on their way.
	d.mdbw.sync(d.mdbResult)
	dump, err := d.mdb.Dump(d.br.Index)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	type key struct {
		port  int
		group netip.Addr
		vid   uint16
	}
	want := map[key]fdb.PortGroup{}
	// Every membership: a zero Installed only means "rewrite at the next
	// report", not that there is no entry.
	for _, pg := range d.engine.Memberships() {
		want[key{pg.Port, pg.Key.Group, pg.Key.VLAN}] = pg
	}
	have := map[key]bool{}
	var repairs []mdbOp
	for _, e := range dump {
		if e.Port == d.br.Index || e.Source.IsValid() || d.ports[e.Port] == nil {
			continue
		}
		c.Entries++
		k := key{e.Port, e.Group, e.VID}
		switch {
		case e.Proto == bridge.ProtoKernel:
			c.Kernel++
			repairs = append(repairs, removeOp(e))
		case e.Proto != d.proto:
			// Someone else's static entry: not ours to judge.
		default:
			pg, ok := want[k]
			if !ok {
				c.Extra++
				repairs = append(repairs, removeOp(e))
				continue
			}
			have[k] = true
			if d.sourceLists && (toBridgeMode(pg.InstalledMode) != e.Mode || !slices.Equal(pg.InstalledSources, e.Sources)) {
				c.Different++
				repairs = append(repairs, d.reinstallOp(pg))
			}
		}
	}
	for k, pg := range want {
		if !have[k] {
			c.Missing++
			repairs = append(repairs, d.reinstallOp(pg))
		}
	}
	c.Repaired = len(repairs) - d.writeMDB(repairs)
	if !c.Consistent() {
		d.log.Warn("MDB differed from the table; repaired", zap.Int("missing", c.Missing), zap.Int("extra", c.Extra),
			zap.Int("different", c.Different), zap.Int("kernel_learned", c.Kernel), zap.Int("repaired", c.Repaired))
	}
	return c
}

// reinstallOp writes a membership's entry as the engine last installed it.
func (d *bridgeLoop) reinstallOp(pg fdb.PortGroup) mdbOp {
	e := d.entry(pg.Port, pg.Key)
	e.Mode, e.Sources, e.Permanent = toBridgeMode(pg.InstalledMode), slices.Clone(pg.InstalledSources), pg.Static
	d.counters.installs.Add(1)
	return mdbOp{entry: e}
}

// removeOp deletes e.
func removeOp(e bridge.Entry) mdbOp {
	return mdbOp{entry: e, remove: true}
}

// writeMDB has the writer apply ops, waits for the kernel's answers and
// returns how many it refused (each handled as any write's failure is;
// an entry already gone counts as refused, not as removed).
func (d *bridgeLoop) writeMDB(ops []mdbOp) (failed int) {
	d.mdbw.sync(d.mdbResult) // earlier writes' failures are not these
	for _, op := range ops {
		d.mdbw.queue(op)
	}
	d.mdbw.sync(func(r mdbDone) {
		failed += len(r.failed)
		d.mdbResult(r)
	})
	return failed
}

// checkInterval is how often the MDB is compared with the table.
func (d *bridgeLoop) checkInterval() time.Duration {
	return min(max(d.set.Engine.QueryInterval, 10*time.Second), time.Minute)
}
