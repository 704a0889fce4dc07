package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// daemon runs every configured bridge, each in its own loop, and serves
// the control socket and metrics for all of them.
type daemon struct {
	log     *zap.Logger
	flags   *runFlags
	hub     *eventHub
	metrics *metrics

	mu      sync.Mutex // guards set and bridges: the control server reads them
	set     *settings
	bridges map[string]*runningBridge

	// reloads carries `igmpsnoop reload` to runDaemon's loop, so every
	// reload runs there, one at a time, with the daemon's context (a
	// bridge it starts lives as long as the daemon, not the request).
	reloads chan chan error

	wg sync.WaitGroup
}

type runningBridge struct {
	loop   *bridgeLoop
	cancel context.CancelFunc
	done   chan struct{}
}

// runDaemon runs until ctx ends (SIGINT/SIGTERM); SIGHUP reloads.
func runDaemon(ctx context.Context, log *zap.Logger, flags *runFlags, set *settings) error {
	d := &daemon{log: log, flags: flags, hub: newEventHub(), set: set, bridges: map[string]*runningBridge{}, reloads: make(chan chan error)}
	d.metrics = newMetrics(d.snapshots)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The socket first: a second daemon must stop before touching a bridge.
	ln, err := listenControl(set.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(set.Socket)
	defer ln.Close()
	// Cancel before waiting: every goroutine ends on cancellation.
	defer func() {
		cancel()
		d.wg.Wait()
	}()
	failed := make(chan string, 16)
	for _, bs := range set.Bridges {
		if err := d.startBridge(ctx, bs, failed); err != nil {
			return err
		}
	}
	srv := &controlServer{ln: ln, log: log, ask: d.ask, hub: d.hub, authorize: checkPeer}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); srv.serve(ctx) }()
	if set.MetricsAddress != "" {
		mln, err := net.Listen("tcp", set.MetricsAddress)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.metrics.serve(ctx, mln, log) }()
		log.Info("metrics", zap.String("address", mln.Addr().String()))
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			if err := d.reload(ctx, failed); err != nil {
				log.Error("reload refused: the running configuration stays", zap.Error(err))
			}
		case reply := <-d.reloads:
			reply <- d.reload(ctx, failed)
		case name := <-failed:
			// The bridge went (deleted, or its loop failed): wait for it to
			// come back and snoop it again, as configured.
			d.mu.Lock()
			delete(d.bridges, name)
			var bs *bridgeSettings
			for i := range d.set.Bridges {
				if d.set.Bridges[i].Name == name {
					bs = &d.set.Bridges[i]
				}
			}
			d.mu.Unlock()
			if bs != nil {
				d.wg.Add(1)
				go func(bs bridgeSettings) { defer d.wg.Done(); d.awaitBridge(ctx, bs, failed) }(*bs)
			}
		}
	}
}

// awaitBridge polls for a bridge that went away and snoops it again once
// it is back (and snooping), unless the configuration dropped it.
func (d *daemon) awaitBridge(ctx context.Context, bs bridgeSettings, failed chan<- string) {
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
		wanted := false
		for _, b := range d.set.Bridges {
			wanted = wanted || b.Name == bs.Name
		}
		d.mu.Unlock()
		if running || !wanted {
			return
		}
		if _, _, err := bridge.Lookup(bs.Name); err != nil {
			continue
		}
		if err := d.startBridge(ctx, bs, failed); err != nil {
			d.log.Debug("bridge not ready yet", zap.String("bridge", bs.Name), zap.Error(err))
			continue
		}
		d.log.Info("bridge back: snooping again", zap.String("bridge", bs.Name))
		return
	}
}

// startBridge starts one bridge's loop and waits until it snoops.
func (d *daemon) startBridge(ctx context.Context, bs bridgeSettings, failed chan<- string) error {
	bctx, cancel := context.WithCancel(ctx)
	loop := newBridgeLoop(d.log, bs, d.set.Proto, d.hub, d.metrics.loopObserver(bs.Name))
	rb := &runningBridge{loop: loop, cancel: cancel, done: make(chan struct{})}
	ready := make(chan error, 1)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(rb.done)
		if err := loop.run(bctx, ready); err != nil && bctx.Err() == nil && loop.started {
			d.log.Error("bridge stopped", zap.String("bridge", bs.Name), zap.Error(err))
			failed <- bs.Name
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

// reload re-reads the configuration (file and flags) and applies it:
// bridges added, removed or reconfigured in place, keeping what they
// learned. A bad file changes nothing.
func (d *daemon) reload(ctx context.Context, failed chan<- string) error {
	if d.flags.config == "" {
		return errors.New("no configuration file to reload (the daemon runs from flags only)")
	}
	_, set, err := d.flags.settings()
	if err != nil {
		return err
	}
	d.mu.Lock()
	old := d.set
	d.mu.Unlock()
	if set.Socket != old.Socket || set.MetricsAddress != old.MetricsAddress || set.Proto != old.Proto {
		return errors.New("socket, metrics_address and proto cannot change on reload: restart the daemon")
	}
	want := map[string]bridgeSettings{}
	for _, bs := range set.Bridges {
		want[bs.Name] = bs
	}
	var errs []error
	for name, rb := range d.snapshotBridges() {
		bs, keep := want[name]
		if !keep {
			d.log.Info("bridge removed from the configuration", zap.String("bridge", name))
			rb.cancel()
			<-rb.done
			d.mu.Lock()
			delete(d.bridges, name)
			d.mu.Unlock()
			continue
		}
		if err := rb.loop.reconfigureFrom(ctx, bs); err != nil {
			errs = append(errs, fmt.Errorf("bridge %s: %w", name, err))
		}
		delete(want, name)
	}
	for _, bs := range want {
		if err := d.startBridge(ctx, bs, failed); err != nil {
			errs = append(errs, err)
		}
	}
	d.mu.Lock()
	d.set = set
	d.mu.Unlock()
	d.log.Info("reloaded", zap.Int("bridges", len(set.Bridges)), zap.Errors("errors", errs))
	return errors.Join(errs...)
}

func (d *daemon) snapshotBridges() map[string]*runningBridge {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]*runningBridge, len(d.bridges))
	for k, v := range d.bridges {
		out[k] = v
	}
	return out
}

// loops returns the running bridge loops, in name order, optionally only one.
func (d *daemon) loops(only string) ([]*bridgeLoop, error) {
	bs := d.snapshotBridges()
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

// ask answers a control request, from every bridge or the one named.
func (d *daemon) ask(ctx context.Context, req Request) (any, error) {
	if req.Command == "reload" {
		reply := make(chan error, 1)
		select {
		case d.reloads <- reply:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := <-reply; err != nil {
			return nil, err
		}
		return okReply{OK: true}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if req.Command == "config" {
		d.mu.Lock()
		defer d.mu.Unlock()
		return configReply{Config: d.set.effective()}, nil
	}
	loops, err := d.loops(req.Bridge)
	if err != nil {
		return nil, err
	}
	var merged reply
	for _, l := range loops {
		r, err := l.ask(ctx, req)
		if err != nil {
			return nil, err
		}
		if err, ok := r.(error); ok {
			return nil, err
		}
		merged.add(r)
	}
	return merged.forCommand(req.Command)
}

// snapshots collects every bridge's figures for metrics.
func (d *daemon) snapshots(ctx context.Context) ([]bridgeSnapshot, error) {
	loops, err := d.loops("")
	if err != nil {
		return nil, err
	}
	out := make([]bridgeSnapshot, 0, len(loops))
	for _, l := range loops {
		r, err := l.ask(ctx, Request{Command: "snapshot"})
		if err != nil {
			return nil, err
		}
		out = append(out, r.(bridgeSnapshot))
	}
	return out, nil
}

// listenControl opens the control socket, readable by root only. A stale
// socket from a dead daemon is replaced; a live one is an error.
func listenControl(path string) (net.Listener, error) {
	// Its directory (under /run by default) may not exist when run by
	// hand; systemd's RuntimeDirectory= makes it otherwise.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
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

// checkPeer refuses any user but the daemon's own (root): the socket's
// mode already says so, and SO_PEERCRED makes sure even if someone
// loosens it or passes the descriptor on.
func checkPeer(conn net.Conn) error {
	c, ok := conn.(*net.UnixConn)
	if !ok {
		return nil
	}
	uid := uint32(os.Geteuid())
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("control socket: peer credentials: %w", cerr)
	}
	if cred.Uid != uid && cred.Uid != 0 {
		return fmt.Errorf("permission denied: the control socket is for uid %d (root) only, not uid %d", uid, cred.Uid)
	}
	return nil
}
