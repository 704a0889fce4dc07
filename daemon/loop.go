package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// mdbCounters count MDB writes; read by metrics from other goroutines.
type mdbCounters struct {
	installs, installErrors, removes, removeErrors atomic.Uint64
}

// bridgeLoop snoops one bridge: one goroutine owns its engine and applies
// its actions. All fields but the channels and counters belong to it;
// other goroutines reach it through do.
type bridgeLoop struct {
	log      *zap.Logger
	name     string // the bridge's, as configured: read by other goroutines
	settings BridgeSettings
	proto    uint8
	hub      *eventHub
	k        Kernel
	br       bridge.Bridge
	kernel   *bridgeKernel
	engine   *snoop.Engine
	mdb      MDB
	// writer writes the engine's MDB changes (apply), a job per burst of
	// frames, or per apply outside one.
	writer  *mdbWriter
	inBurst bool // apply leaves the submitting to the burst's end
	sender  FrameWriter
	ports   *portSet
	relay   relay // the guards' relay of reports
	tx      *transmitter
	dec     *wire.Decoder
	msg     wire.Message

	links chan bridge.LinkEvent
	calls chan func()   // functions run on the loop's goroutine (do)
	done  chan struct{} // closed when run returns

	counters mdbCounters
	// observe, if set, is given how long the loop took for a frame, for
	// at most one frame every observeEvery; observedAt is the latest's.
	observe    func(time.Duration)
	observedAt time.Time
	// now is the clock; tests set their own.
	now func() time.Time

	warnQuerierAt time.Time
	checkAt       time.Time       // next MDB consistency check
	lastCheck     *snoop.MDBCheck // its latest result
	// started is set once the loop snoops; read by the goroutine that ran it.
	started bool
}

func newBridgeLoop(k Kernel, log *zap.Logger, set BridgeSettings, proto uint8, hub *eventHub, observe func(time.Duration)) *bridgeLoop {
	l := &bridgeLoop{
		log: log.With(zap.String("bridge", set.Name)), name: set.Name, settings: set, proto: proto, hub: hub, k: k, observe: observe, now: time.Now,
		dec: wire.NewDecoder(), links: make(chan bridge.LinkEvent, 256), calls: make(chan func()), done: make(chan struct{}),
	}
	l.kernel = &bridgeKernel{k: k, log: l.log, br: &l.br, settings: &l.settings}
	l.ports = newPortSet(k, l.log, l.kernel.releasePort)
	return l
}

// run snoops the bridge until ctx ends (nil) or the bridge goes (an
// error). ready gets nil once it is snooping, or the error that stopped
// it from starting.
func (l *bridgeLoop) run(ctx context.Context, ready chan<- error) (err error) {
	defer close(l.done)
	defer func() {
		if !l.started {
			ready <- err
		}
	}()
	if l.br, err = l.k.Lookup(l.settings.Name); err != nil {
		return err
	}
	// Subscribe before listing ports, so no port change falls between.
	watcher, err := l.k.WatchLinks(l.br.Index)
	if err != nil {
		return err
	}
	defer watcher.Close()
	opts, err := l.k.Options(l.br.Index)
	if err != nil {
		return err
	}
	if err := l.kernel.prepare(opts); err != nil {
		return err
	}
	cfg, err := l.kernel.engineConfig(l.settings)
	if err != nil {
		return err
	}
	if l.engine, err = snoop.New(cfg, l.now()); err != nil {
		return err
	}
	if l.mdb, err = l.k.OpenMDB(l.kernel.replace); err != nil {
		return err
	}
	defer l.mdb.Close()
	if !l.kernel.replace {
		l.mdb = refreshingMDB{l.mdb}
	}
	l.writer = newMDBWriter(l.mdb, l.mdbResult)
	defer l.writer.close()
	if l.sender, err = l.k.OpenSender(l.br.Index); err != nil {
		return err
	}
	defer l.sender.Close()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Cancel before waiting: the link watcher returns only once cancelled.
	defer func() {
		cancel()
		wg.Wait()
	}()
	// The ports as subscribed, read before the watcher runs: it updates
	// what Ports reads.
	ports := watcher.Ports()
	watchErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchErr <- watcher.Run(ctx, l.links)
	}()
	defer l.relay.close() // after the guards are gone
	if l.settings.GuardRelay {
		l.relay.open(l.k, l.engine, l.log)
	}
	defer l.ports.closeAll()
	l.tx = newTransmitter(l.log)
	defer l.tx.close() // before the ports close
	for _, link := range ports {
		if err := l.addPort(link); err != nil {
			return err
		}
	}
	if err := l.adopt(l.now()); err != nil {
		return err
	}
	l.kernel.followTimers(l.engine)
	now := l.now()
	l.apply(l.engine.Start(now))
	l.relay.sync(l.engine, l.ports.ports)
	if !cfg.Querier {
		l.warnQuerierAt = now.Add(cfg.QueryInterval + cfg.QueryResponseInterval)
	}
	l.log.Info("snooping", zap.Int("ports", len(l.ports.ports)), zap.Int("max_groups", cfg.Limits.MaxKeys),
		zap.Bool("source_lists", cfg.SourceLists), zap.Bool("querier", cfg.Querier))
	l.checkAt = now.Add(checkInterval(l.settings.Engine.QueryInterval))
	l.started = true
	ready <- nil
	err = l.loop(ctx, watchErr)
	l.shutdown()
	return err
}

// do runs f on the loop's goroutine and waits for it: control requests,
// metrics snapshots and reconfiguration reach the engine this way.
func (l *bridgeLoop) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	call := func() { defer close(ran); f() }
	select {
	case l.calls <- call:
	case <-l.done:
		return fmt.Errorf("bridge %s is not snooped any more", l.name)
	case <-ctx.Done():
		return fmt.Errorf("bridge %s: %w", l.name, ctx.Err())
	}
	// The loop runs f as soon as it takes it: waiting is bounded by f,
	// and f's results are not read while it writes them.
	<-ran
	return nil
}

// reconfigure applies new settings without losing learned state, and
// brings the kernel's per-port settings in line.
func (l *bridgeLoop) reconfigure(set BridgeSettings) error {
	if set.AnySource != l.settings.AnySource && !set.AnySource && !l.kernel.sourceLists {
		l.log.Warn("any_source off, but this kernel cannot hold source lists: still any-source")
	}
	cfg, err := l.kernel.engineConfig(set)
	if err != nil {
		return err
	}
	old := l.settings
	acts, err := l.engine.Reconfigure(l.now(), cfg)
	if err != nil {
		return err
	}
	l.settings = set
	l.apply(acts)
	// A new relay, for the SSM ranges may have changed: the guards move to
	// it, then the old one goes.
	oldRelay := l.relay
	l.relay = relay{}
	if set.GuardRelay {
		l.relay.open(l.k, l.engine, l.log)
	}
	defer oldRelay.close()
	for _, p := range l.ports.ports {
		l.kernel.refixPortRouter(old, p.link)
		if err := l.ports.updateGuard(p, guardOptions(set, p.link, l.relay.guard())); err != nil {
			l.log.Warn("cannot update the port's guard", zap.String("port", p.link.Name), zap.Error(err))
		}
		l.ports.followND(p, set.policy(p.link.Name).NDGuests, old.policy(p.link.Name).NDGuests)
	}
	l.kernel.followTimers(l.engine)
	l.log.Info("configuration reloaded")
	return nil
}

func (l *bridgeLoop) loop(ctx context.Context, watchErr <-chan error) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.armTimer(timer)
		select {
		case <-ctx.Done():
			return nil
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("link monitor stopped: %w", err)
		case f := <-l.ports.frames:
			l.burst(f)
		case r := <-l.writer.done:
			l.writer.finish(r)
		case ev := <-l.links:
			if err := l.handleLink(ev); err != nil {
				return err
			}
		case f := <-l.calls:
			f()
		case <-timer.C:
			l.tick(l.now())
		}
		l.relay.sync(l.engine, l.ports.ports)
	}
}

// tick runs what is due: the engine's timers, the querier warning and
// the MDB check.
func (l *bridgeLoop) tick(now time.Time) {
	l.apply(l.engine.Tick(now))
	if !l.warnQuerierAt.IsZero() && !now.Before(l.warnQuerierAt) {
		l.warnQuerierAt = time.Time{}
		if !l.engine.QuerierPresent() {
			// Without a querier the bridge ignores the MDB and floods.
			l.log.Warn("no querier heard: the bridge floods multicast to every port until one is; run igmpsnoop with --querier, or a multicast router",
				zap.Duration("waited", l.settings.Engine.QueryInterval+l.settings.Engine.QueryResponseInterval))
		}
	}
	if !now.Before(l.checkAt) {
		l.check(now)
		l.checkAt = now.Add(checkInterval(l.settings.Engine.QueryInterval))
	}
}

func (l *bridgeLoop) armTimer(t *time.Timer) {
	next := l.checkAt
	if !l.warnQuerierAt.IsZero() && l.warnQuerierAt.Before(next) {
		next = l.warnQuerierAt
	}
	if at, ok := l.engine.NextDeadline(); ok && (next.IsZero() || at.Before(next)) {
		next = at
	}
	wait := time.Hour
	if !next.IsZero() {
		wait = max(next.Sub(l.now()), 0)
	}
	t.Reset(wait)
}

// checkInterval is how often the MDB is compared with the table, for a
// query interval.
func checkInterval(queryInterval time.Duration) time.Duration {
	return min(max(queryInterval, 10*time.Second), time.Minute)
}

// snapshot gathers the bridge's figures for metrics.
func (l *bridgeLoop) snapshot(now time.Time) bridgeSnapshot {
	s := bridgeSnapshot{Bridge: l.settings.Name, Stats: l.engine.Stats(), Routers: len(l.engine.Routers(now)), Queriers: l.engine.Queriers(now)}
	s.Ports = l.ports.views(l.engine.Ports())
	if l.settings.GroupMetrics {
		s.Groups = l.engine.GroupCounts(now)
	}
	s.MDB.Installs, s.MDB.InstallErrors = l.counters.installs.Load(), l.counters.installErrors.Load()
	s.MDB.Removes, s.MDB.RemoveErrors = l.counters.removes.Load(), l.counters.removeErrors.Load()
	return s
}
