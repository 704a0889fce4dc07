package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// Options are what Run needs.
type Options struct {
	Kernel   Kernel
	Log      *zap.Logger
	Settings *Settings
	// Load reads the configuration again, for a reload; nil refuses
	// reloads (the daemon runs from flags only).
	Load func() (*Settings, error)
	// Reload delivers SIGHUP: each reloads the configuration.
	Reload <-chan os.Signal
	// authorize vets a control client before it is answered; nil means
	// checkPeer, which lets only the daemon's own user (root) in. Tests
	// set their own.
	authorize func(net.Conn) error
}

// daemon runs every configured bridge, each in its own loop, and serves
// the control socket and metrics for all of them.
type daemon struct {
	o       Options
	log     *zap.Logger
	hub     *eventHub
	metrics *metrics

	// guard is the guard mode in force, set before the bridges start.
	guard bridge.GuardMode

	mu       sync.Mutex // guards settings and bridges: the control server reads them
	settings *Settings
	bridges  map[string]*runningBridge

	// reloads carries `igmpsnoop reload` to Run's loop, so every reload
	// runs there, one at a time, with the daemon's context (a bridge it
	// starts lives as long as the daemon, not the request).
	reloads chan chan error
	// failed names bridges whose loop stopped on its own (deleted).
	failed chan string

	wg sync.WaitGroup
}

type runningBridge struct {
	loop   *bridgeLoop
	cancel context.CancelFunc
	done   chan struct{}
}

// Run runs the daemon until ctx ends: it snoops every configured bridge,
// serves the control socket and, if configured, metrics.
func Run(ctx context.Context, o Options) error {
	if o.authorize == nil {
		o.authorize = checkPeer
	}
	d := &daemon{o: o, log: o.Log, hub: newEventHub(), settings: o.Settings, bridges: map[string]*runningBridge{},
		reloads: make(chan chan error), failed: make(chan string, 16)}
	d.metrics = newMetrics(d.snapshots)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Nothing is created and no bridge touched before the configuration
	// is known to work: a second daemon on the socket is refused first,
	// then every bridge is looked up and checked against its settings, and
	// the metrics address taken; only then the socket's directory and the
	// socket (listenControl refuses a daemon that came up meanwhile).
	if err := socketInUse(d.settings.Socket); err != nil {
		return err
	}
	if err := validateBridges(o.Kernel, d.log, d.settings.Bridges); err != nil {
		return err
	}
	if err := d.chooseGuard(); err != nil {
		return err
	}
	var mln net.Listener
	if d.settings.MetricsAddress != "" {
		var err error
		if mln, err = net.Listen("tcp", d.settings.MetricsAddress); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer mln.Close()
	}
	ln, err := listenControl(d.settings.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(d.settings.Socket)
	defer ln.Close()
	// Cancel before waiting: every goroutine ends on cancellation.
	defer func() {
		cancel()
		d.wg.Wait()
	}()
	for _, bs := range d.settings.Bridges {
		if err := d.startBridge(ctx, bs); err != nil {
			return err
		}
	}
	srv := &controlServer{ln: ln, log: d.log, d: d, authorize: o.authorize}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); srv.serve(ctx) }()
	if mln != nil {
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.metrics.serve(ctx, mln, d.log) }()
		d.log.Info("metrics", zap.String("address", mln.Addr().String()))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-o.Reload:
			if err := d.reload(ctx); err != nil {
				d.log.Error("reload refused: the running configuration stays", zap.Error(err))
			}
		case reply := <-d.reloads:
			reply <- d.reload(ctx)
		case name := <-d.failed:
			d.bridgeFailed(ctx, name)
		}
	}
}

// bridgeFailed follows a bridge that went (deleted, or its loop failed):
// it waits for it to come back and snoops it again, as configured.
func (d *daemon) bridgeFailed(ctx context.Context, name string) {
	d.mu.Lock()
	delete(d.bridges, name)
	bs, ok := d.settings.bridge(name)
	d.mu.Unlock()
	if ok {
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.awaitBridge(ctx, bs) }()
	}
}

// bridge returns a bridge's settings by name.
func (s *Settings) bridge(name string) (BridgeSettings, bool) {
	for _, b := range s.Bridges {
		if b.Name == name {
			return b, true
		}
	}
	return BridgeSettings{}, false
}

// awaitBridge polls for a bridge that went away and snoops it again once
// it is back (and snooping), unless the configuration dropped it.
func (d *daemon) awaitBridge(ctx context.Context, bs BridgeSettings) {
	d.log.Warn("waiting for the bridge to come back", zap.String("bridge", bs.Name))
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		_, running := d.bridges[bs.Name]
		_, wanted := d.settings.bridge(bs.Name)
		d.mu.Unlock()
		if running || !wanted {
			return
		}
		if _, err := d.o.Kernel.Lookup(bs.Name); err != nil {
			continue
		}
		if err := d.startBridge(ctx, bs); err != nil {
			d.log.Debug("bridge not ready yet", zap.String("bridge", bs.Name), zap.Error(err))
			continue
		}
		d.log.Info("bridge back: snooping again", zap.String("bridge", bs.Name))
		return
	}
}

// startBridge starts one bridge's loop and waits until it snoops.
func (d *daemon) startBridge(ctx context.Context, bs BridgeSettings) error {
	bctx, cancel := context.WithCancel(ctx)
	loop := newBridgeLoop(d.o.Kernel, d.log, bs, d.settings.Proto, d.hub, d.metrics.loopObserver(bs.Name))
	loop.kernel.mdbReplace = d.settings.MDBReplace
	rb := &runningBridge{loop: loop, cancel: cancel, done: make(chan struct{})}
	ready := make(chan error, 1)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(rb.done)
		if err := loop.run(bctx, ready); err != nil && bctx.Err() == nil && loop.started {
			d.log.Error("bridge stopped", zap.String("bridge", bs.Name), zap.Error(err))
			d.failed <- bs.Name
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			cancel()
			<-rb.done
			return fmt.Errorf("bridge %s: %w", bs.Name, err)
		}
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	}
	d.mu.Lock()
	d.bridges[bs.Name] = rb
	d.mu.Unlock()
	return nil
}

// reload re-reads the configuration and applies it: bridges added,
// removed or reconfigured in place, keeping what they learned. A bad
// configuration changes nothing.
func (d *daemon) reload(ctx context.Context) error {
	if d.o.Load == nil {
		return errors.New("no configuration file to reload (the daemon runs from flags only)")
	}
	set, err := d.o.Load()
	if err != nil {
		return err
	}
	d.mu.Lock()
	old := d.settings
	d.mu.Unlock()
	if set.Socket != old.Socket || set.MetricsAddress != old.MetricsAddress || set.Proto != old.Proto || set.MDBReplace != old.MDBReplace {
		return errors.New("socket, metrics_address, proto and mdb_replace cannot change on reload: restart the daemon")
	}
	if err := sameGuard(old, set); err != nil {
		return err
	}
	want := map[string]BridgeSettings{}
	for _, bs := range set.Bridges {
		want[bs.Name] = bs
	}
	var errs []error
	for name, rb := range d.running() {
		bs, keep := want[name]
		delete(want, name)
		if !keep {
			d.log.Info("bridge removed from the configuration", zap.String("bridge", name))
			rb.cancel()
			<-rb.done
			d.mu.Lock()
			delete(d.bridges, name)
			d.mu.Unlock()
			continue
		}
		var rerr error
		if err := rb.loop.do(ctx, func() { rerr = rb.loop.reconfigure(bs) }); err != nil {
			rerr = err
		}
		if rerr != nil {
			errs = append(errs, fmt.Errorf("bridge %s: %w", name, rerr))
		}
	}
	for _, bs := range want {
		if err := d.startBridge(ctx, bs); err != nil {
			errs = append(errs, err)
		}
	}
	d.mu.Lock()
	d.settings = set
	d.mu.Unlock()
	d.log.Info("reloaded", zap.Int("bridges", len(set.Bridges)), zap.Errors("errors", errs))
	return errors.Join(errs...)
}

// running returns the running bridges, by name.
func (d *daemon) running() map[string]*runningBridge {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]*runningBridge, len(d.bridges))
	for k, v := range d.bridges {
		out[k] = v
	}
	return out
}

// loops returns the running bridge loops, in name order, or only the one
// named.
func (d *daemon) loops(only string) ([]*bridgeLoop, error) {
	bs := d.running()
	if only != "" {
		rb, ok := bs[only]
		if !ok {
			return nil, fmt.Errorf("no bridge %q is snooped", only)
		}
		return []*bridgeLoop{rb.loop}, nil
	}
	names := make([]string, 0, len(bs))
	for n := range bs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*bridgeLoop, 0, len(names))
	for _, n := range names {
		out = append(out, bs[n].loop)
	}
	return out, nil
}

// eachLoop runs f on the loop goroutine of every bridge (or the one
// named), one after the other, with a deadline for all.
func (d *daemon) eachLoop(ctx context.Context, only string, f func(l *bridgeLoop, now time.Time)) error {
	loops, err := d.loops(only)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, l := range loops {
		if err := l.do(ctx, func() { f(l, l.now()) }); err != nil {
			return err
		}
	}
	return nil
}

// snapshots collects every bridge's figures for metrics.
func (d *daemon) snapshots(ctx context.Context) ([]bridgeSnapshot, error) {
	var out []bridgeSnapshot
	err := d.eachLoop(ctx, "", func(l *bridgeLoop, now time.Time) {
		out = append(out, l.snapshot(now))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
