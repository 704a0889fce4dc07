package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
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

// rtprotKernel marks MDB entries the kernel learned itself.
const rtprotKernel = 2

type frameIn struct {
	port int
	buf  *[frameSize]byte
	n    int
}

type ctlIn struct {
	req   Request
	reply chan any
}

// portIO is what the daemon holds open on one bridge port.
type portIO struct {
	link  bridge.Link
	guard *bridge.Guard
	conn  *bridge.PortConn
	done  chan struct{}
}

// daemon runs one bridge. All fields but the channels belong to the loop
// goroutine.
type daemon struct {
	log    *zap.Logger
	opts   runOptions
	br     bridge.Bridge
	engine *snoop.Engine
	mdb    *bridge.MDB
	sender *bridge.Sender
	ports  map[int]*portIO
	dec    *wire.Decoder
	msg    wire.Message
	pool   sync.Pool

	frames chan frameIn
	links  chan bridge.LinkEvent
	ctl    chan ctlIn

	warnQuerierAt time.Time
}

func runDaemon(ctx context.Context, log *zap.Logger, o runOptions) error {
	br, _, err := bridge.Lookup(o.bridge)
	if err != nil {
		return err
	}
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
	if !opts.Snooping {
		return fmt.Errorf("multicast snooping is off on %s, so it cannot hold MDB entries; turn it on: ip link set %s type bridge mcast_snooping 1", br.Name, br.Name)
	}
	if o.cfg.Limits.MaxKeys == 0 && opts.HashMax > 0 {
		// Going over mcast_hash_max turns snooping off for the whole
		// bridge; keep room for entries the kernel adds (host joins, MLD).
		o.cfg.Limits.MaxKeys = int(opts.HashMax) * 3 / 4
	}
	if o.cfg.Limits.MaxKeys >= int(opts.HashMax) && opts.HashMax > 0 {
		return fmt.Errorf("--max-groups %d must be below the bridge's mcast_hash_max %d: over it the kernel turns snooping off", o.cfg.Limits.MaxKeys, opts.HashMax)
	}
	if want := o.cfg.BridgeMembershipInterval(); opts.MembershipInterval != want {
		// The kernel ages our temporary entries by this; it must outlast our
		// refresh cadence, and no more, so entries die soon after we do.
		if err := bridge.SetMembershipInterval(br.Index, want); err != nil {
			return fmt.Errorf("set mcast_membership_interval on %s: %w", br.Name, err)
		}
		log.Info("set bridge membership interval", zap.String("bridge", br.Name),
			zap.Duration("was", opts.MembershipInterval), zap.Duration("now", want))
	}
	if err := prepareBridge(log, br, opts, &o); err != nil {
		return err
	}
	engine, err := snoop.New(o.cfg)
	if err != nil {
		return err
	}
	mdb, err := bridge.OpenMDB()
	if err != nil {
		return err
	}
	defer mdb.Close()
	sender, err := bridge.OpenBridgeSender(br.Index)
	if err != nil {
		return err
	}
	defer sender.Close()

	d := &daemon{
		log: log.With(zap.String("bridge", br.Name)), opts: o, br: br, engine: engine, mdb: mdb, sender: sender,
		ports: make(map[int]*portIO), dec: wire.NewDecoder(),
		frames: make(chan frameIn, 1024), links: make(chan bridge.LinkEvent, 256), ctl: make(chan ctlIn),
	}
	d.pool.New = func() any { return new([frameSize]byte) }

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	watchErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchErr <- watcher.Run(ctx, d.links)
	}()

	defer d.closePorts()
	for _, l := range watcher.Ports() {
		if err := d.addPort(l); err != nil {
			return err
		}
	}
	if err := d.adoptMDB(time.Now()); err != nil {
		return err
	}
	ln, err := listenControl(o.socket)
	if err != nil {
		return err
	}
	defer os.Remove(o.socket)
	defer ln.Close()
	srv := &controlServer{ln: ln, log: d.log, ask: d.ask}
	wg.Add(1)
	go func() { defer wg.Done(); srv.serve(ctx) }()

	d.apply(engine.Start(time.Now()))
	if !o.cfg.Querier {
		d.warnQuerierAt = time.Now().Add(o.cfg.QueryInterval + o.cfg.QueryResponseInterval)
	}
	d.log.Info("snooping", zap.Int("ports", len(d.ports)), zap.String("socket", o.socket),
		zap.Int("max_groups", o.cfg.Limits.MaxKeys))
	err = d.loop(ctx, watchErr)
	d.shutdown()
	return err
}

// prepareBridge checks the bridge, sets what the daemon depends on, and
// completes the engine's configuration from it.
func prepareBridge(log *zap.Logger, br bridge.Bridge, opts bridge.Options, o *runOptions) error {
	log = log.With(zap.String("bridge", br.Name))
	o.cfg.QuerySourceMAC = br.MAC
	if !o.cfg.QuerierAddr4.IsValid() && br.IPv4.IsValid() {
		o.cfg.QuerierAddr4 = br.IPv4
	}
	if br.IPv6.IsLinkLocalUnicast() {
		o.cfg.QuerierAddr6 = br.IPv6
	} else {
		log.Warn("the bridge has no IPv6 link-local address: no MLD queries can be sent (hosts ignore others), so MLD leaves wait for the membership interval")
	}
	sourceLists := false
	if !o.anySource {
		ok, err := bridge.ProbeSourceLists(br.Index)
		if err != nil {
			return err
		}
		if !ok {
			log.Warn("this kernel cannot hold source lists in MDB entries (needs Linux 6.2): installing any-source entries, a superset")
		}
		sourceLists = ok
	}
	o.cfg.SourceLists = sourceLists
	if sourceLists {
		// The bridge looks up (S,G) entries, which source lists create,
		// only when it runs IGMPv3 and MLDv2 itself.
		if opts.IGMPVersion != 3 {
			if err := bridge.SetIGMPVersion(br.Index, 3); err != nil {
				return err
			}
			log.Info("set bridge mcast_igmp_version 3 for source-specific forwarding", zap.Uint8("was", opts.IGMPVersion))
		}
		if opts.MLDVersion != 2 {
			if err := bridge.SetMLDVersion(br.Index, 2); err != nil {
				return err
			}
			log.Info("set bridge mcast_mld_version 2 for source-specific forwarding", zap.Uint8("was", opts.MLDVersion))
		}
	}
	return nil
}

func (d *daemon) ask(ctx context.Context, req Request) (any, error) {
	in := ctlIn{req: req, reply: make(chan any, 1)}
	select {
	case d.ctl <- in:
	case <-ctx.Done():
		return nil, errors.New("daemon is stopping")
	}
	select {
	case r := <-in.reply:
		return r, nil
	case <-ctx.Done():
		return nil, errors.New("daemon is stopping")
	}
}

func (d *daemon) loop(ctx context.Context, watchErr <-chan error) error {
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
			d.handleFrame(f)
		case ev := <-d.links:
			if err := d.handleLink(ev); err != nil {
				return err
			}
		case c := <-d.ctl:
			c.reply <- answer(d.engine, time.Now(), c.req)
		case <-timer.C:
			now := time.Now()
			d.apply(d.engine.Tick(now))
			d.checkQuerier(now)
		}
	}
}

func (d *daemon) armTimer(t *time.Timer) {
	next := d.warnQuerierAt
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
func (d *daemon) checkQuerier(now time.Time) {
	if d.warnQuerierAt.IsZero() || now.Before(d.warnQuerierAt) {
		return
	}
	d.warnQuerierAt = time.Time{}
	if !d.engine.QuerierPresent() {
		d.log.Warn("no IGMP querier heard: the bridge floods multicast to every port until one is; run a querier (e.g. ip link set BRIDGE type bridge mcast_querier 1) or a multicast router",
			zap.Duration("waited", d.opts.cfg.QueryInterval+d.opts.cfg.QueryResponseInterval))
	}
}

func (d *daemon) handleFrame(f frameIn) {
	defer d.pool.Put(f.buf)
	frame := f.buf[:f.n]
	if err := d.dec.Decode(frame, &d.msg); err != nil {
		reason := wire.ReasonOf(err)
		d.engine.Refused(f.port, reason)
		d.log.Debug("frame refused", zap.String("port", d.engine.PortName(f.port)), zap.Stringer("reason", reason), zap.Error(err))
		return
	}
	if ce := d.log.Check(zap.DebugLevel, "message"); ce != nil {
		ce.Write(zap.String("port", d.engine.PortName(f.port)), zap.Stringer("msg", &d.msg))
	}
	d.apply(d.engine.HandleMessage(time.Now(), f.port, &d.msg, frame))
}

func (d *daemon) entry(port int, key fdb.Key) bridge.Entry {
	return bridge.Entry{Bridge: d.br.Index, Port: port, Group: key.Group, VID: key.VLAN, Proto: uint8(d.opts.proto)}
}

func toBridgeMode(m fdb.FilterMode) bridge.FilterMode {
	if m == fdb.Include {
		return bridge.ModeInclude
	}
	return bridge.ModeExclude
}

// apply carries out the engine's actions. Netlink errors are logged, not
// fatal: one refused entry must not stop snooping for the others.
func (d *daemon) apply(acts []snoop.Action) {
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case snoop.ActInstall:
			e := d.entry(a.Port, a.Key)
			e.Mode, e.Sources = toBridgeMode(a.Mode), a.Sources
			if err := d.mdb.Replace(e); err != nil {
				// E.g. a port still in the disabled STP state just after
				// coming up: the next report retries.
				d.engine.InstallFailed(a.Port, a.Key)
				d.log.Error("MDB install failed", zap.String("port", d.engine.PortName(a.Port)), zap.Stringer("group", a.Key.Group), zap.Error(err))
			}
		case snoop.ActRemove:
			if err := d.mdb.Delete(d.entry(a.Port, a.Key)); err != nil && !errors.Is(err, bridge.ErrNotFound) {
				d.log.Error("MDB remove failed", zap.String("port", d.engine.PortName(a.Port)), zap.Stringer("group", a.Key.Group), zap.Error(err))
			}
		case snoop.ActTransmit:
			if a.Port == snoop.ThroughBridge {
				if err := d.sender.WriteFrame(a.Frame); err != nil {
					d.log.Warn("query not sent", zap.Error(err))
				}
				continue
			}
			p := d.ports[a.Port]
			if p == nil {
				continue
			}
			if err := p.conn.WriteFrame(a.Frame); err != nil {
				d.log.Warn("transmit failed", zap.String("port", p.link.Name), zap.Error(err))
			}
		case snoop.ActEvent:
			d.logEvent(a.Event)
		case snoop.ActRouterPort:
			d.setRouterPort(a.Port, a.Router)
		}
	}
}

func (d *daemon) logEvent(ev snoop.Event) {
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
	switch ev.Kind {
	case snoop.EventTimersChanged:
		d.followTimers()
	}
	switch ev.Kind {
	case snoop.EventQuerierLost, snoop.EventLimit, snoop.EventQueryFailed:
		d.log.Warn("snooping event", fields...)
		if ev.Kind == snoop.EventQuerierLost && !d.opts.cfg.Querier {
			d.log.Warn("querier gone: the bridge floods multicast until a querier is heard again")
		}
	default:
		d.log.Info("snooping event", fields...)
	}
}

// setRouterPort mirrors a dynamic router port into the kernel as a
// temporary one: it lasts the bridge's mcast_querier_interval unless
// renewed, so it lapses on its own if the daemon dies.
func (d *daemon) setRouterPort(port int, on bool) {
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

// fixedRouterPort tells whether a port is made a permanent router port by
// configuration (--static-router, --flood).
func (d *daemon) fixedRouterPort(name string) bool {
	return d.opts.cfg.StaticRouters[name] || slices.Contains(d.opts.floodPorts, name)
}

// followTimers keeps the bridge's membership interval, the life of our
// temporary entries, above the membership interval the querier's timers
// give: else the kernel would drop entries we still hold.
func (d *daemon) followTimers() {
	want := d.engine.BridgeMembershipInterval()
	opts, err := bridge.ReadOptions(d.br.Index)
	if err != nil || opts.MembershipInterval == want {
		return
	}
	if err := bridge.SetMembershipInterval(d.br.Index, want); err != nil {
		d.log.Error("cannot follow the querier's timers", zap.Error(err))
		return
	}
	d.log.Info("set bridge membership interval", zap.Duration("was", opts.MembershipInterval), zap.Duration("now", want))
}

func (d *daemon) handleLink(ev bridge.LinkEvent) error {
	now := time.Now()
	switch ev.Kind {
	case bridge.PortAdded:
		if err := d.addPort(ev.Link); err != nil {
			d.log.Error("cannot snoop on new port", zap.String("port", ev.Link.Name), zap.Error(err))
		}
	case bridge.PortUp:
		if p := d.ports[ev.Link.Index]; p != nil {
			p.link = ev.Link
			d.engine.PortUp(ev.Link.Index, ev.Link.Name)
			d.log.Info("port up", zap.String("port", ev.Link.Name))
		}
	case bridge.PortDown:
		d.log.Info("port down", zap.String("port", ev.Link.Name))
		d.apply(d.engine.PortDown(now, ev.Link.Index))
	case bridge.PortRemoved:
		d.log.Info("port removed", zap.String("port", ev.Link.Name))
		d.apply(d.engine.PortRemoved(now, ev.Link.Index))
		d.closePort(ev.Link.Index)
	case bridge.BridgeChanged:
		if ev.Options != nil && !ev.Options.Snooping {
			d.log.Error("multicast snooping was switched off on the bridge: it floods all multicast and holds no MDB entries until it is switched back on")
		}
		// The bridge's link-local address appears once it has carrier.
		if _, v6, err := bridge.Addresses(d.br.Index); err == nil && v6.IsLinkLocalUnicast() && v6 != d.engine.Config().QuerierAddr6 {
			d.log.Info("MLD queries from the bridge's link-local address", zap.Stringer("addr", v6))
			d.apply(d.engine.SetQuerierAddr6(now, v6))
		}
	case bridge.BridgeGone:
		return fmt.Errorf("bridge %s was deleted", d.br.Name)
	}
	return nil
}

// addPort starts snooping on a port: the guard first, so the kernel learns
// nothing from it from now on, then our socket.
func (d *daemon) addPort(l bridge.Link) error {
	if _, ok := d.ports[l.Index]; ok {
		return nil
	}
	guard, err := bridge.AttachGuard(l.Index)
	if err != nil {
		return fmt.Errorf("port %s: %w", l.Name, err)
	}
	conn, err := bridge.ListenPort(l.Index)
	if err != nil {
		guard.Close()
		return fmt.Errorf("port %s: %w", l.Name, err)
	}
	if d.fixedRouterPort(l.Name) {
		// The kernel forwards every group to a permanent router port.
		if err := bridge.SetPortRouter(l.Index, bridge.PortRouterPermanent); err != nil {
			conn.Close()
			guard.Close()
			return fmt.Errorf("port %s: %w", l.Name, err)
		}
	}
	p := &portIO{link: l, guard: guard, conn: conn, done: make(chan struct{})}
	d.ports[l.Index] = p
	go d.read(p)
	if l.Up {
		d.engine.PortUp(l.Index, l.Name)
	}
	d.log.Info("snooping on port", zap.String("port", l.Name), zap.Int("ifindex", l.Index), zap.Bool("up", l.Up))
	return nil
}

// read copies frames from one port to the loop until the socket closes.
func (d *daemon) read(p *portIO) {
	defer close(p.done)
	for {
		buf := d.pool.Get().(*[frameSize]byte)
		n, err := p.conn.ReadFrame(buf[:])
		if err != nil {
			d.pool.Put(buf)
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
				d.log.Debug("port reader stopped", zap.String("port", p.link.Name), zap.Error(err))
			}
			return
		}
		d.frames <- frameIn{port: p.link.Index, buf: buf, n: n}
	}
}

func (d *daemon) closePort(ifindex int) {
	p := d.ports[ifindex]
	if p == nil {
		return
	}
	delete(d.ports, ifindex)
	if d.fixedRouterPort(p.link.Name) {
		// Back to the kernel's default; the port may be gone already.
		_ = bridge.SetPortRouter(ifindex, bridge.PortRouterLearned)
	}
	p.conn.Close()
	p.guard.Close()
	// Drain so a reader blocked on a full channel can see the close.
	for {
		select {
		case <-p.done:
			return
		case f := <-d.frames:
			d.pool.Put(f.buf)
		}
	}
}

func (d *daemon) closePorts() {
	for i := range d.ports {
		d.closePort(i)
	}
}

// adoptMDB takes over entries an earlier run installed (so a restart does
// not interrupt forwarding) and removes entries the kernel learned before
// our guards were up, so that every port entry is ours.
func (d *daemon) adoptMDB(now time.Time) error {
	entries, err := d.mdb.Dump(d.br.Index)
	if err != nil {
		return fmt.Errorf("read MDB of %s: %w", d.br.Name, err)
	}
	adopted, cleaned := 0, 0
	for _, e := range entries {
		if e.Port == d.br.Index || e.Source.IsValid() || d.ports[e.Port] == nil {
			continue // host joins, and (S,G) entries the kernel derives from (*,G) ones
		}
		switch {
		case e.Proto == uint8(d.opts.proto):
			mode := fdb.Exclude
			if e.Mode == bridge.ModeInclude {
				mode = fdb.Include
			}
			d.apply(d.engine.Adopt(now, e.Port, fdb.Key{VLAN: e.VID, Group: e.Group}, mode, e.Sources, e.Timer))
			adopted++
		case e.Proto == rtprotKernel:
			if err := d.mdb.Delete(e); err != nil && !errors.Is(err, bridge.ErrNotFound) {
				d.log.Warn("cannot remove kernel-learned entry", zap.Stringer("group", e.Group), zap.Error(err))
				continue
			}
			cleaned++
		}
	}
	d.log.Info("MDB taken over", zap.Int("adopted", adopted), zap.Int("kernel_entries_removed", cleaned))
	return nil
}

// shutdown removes every entry we installed: without the daemon nobody
// ages them, and the kernel's own snooping takes over once the guards go.
func (d *daemon) shutdown() {
	removed := 0
	for _, m := range d.engine.Memberships() {
		if err := d.mdb.Delete(d.entry(m.Port, m.Key)); err == nil {
			removed++
		} else if !errors.Is(err, bridge.ErrNotFound) {
			d.log.Warn("MDB remove at exit failed", zap.Stringer("group", m.Key.Group), zap.Error(err))
		}
	}
	d.log.Info("stopped", zap.Int("mdb_entries_removed", removed))
}

// listenControl opens the control socket, readable by root only. A stale
// socket from a dead daemon is replaced; a live one is an error.
func listenControl(path string) (net.Listener, error) {
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another daemon is listening there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	// The umask keeps the socket private from the moment it exists.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}
