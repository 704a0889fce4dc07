package daemon

import (
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// maxBurst bounds the frames handled before their MDB writes are handed
// to the writer.
const maxBurst = 256

// burst handles the frames of round f and those of the rounds already
// queued behind it, up to about maxBurst, then hands their MDB changes to
// the writer as one job, which the kernel gets in one batch: a join storm
// costs a few netlink system calls per burst, not two per entry, and a
// lone report is written at once.
func (l *bridgeLoop) burst(f *frameRound) {
	l.inBurst = true
	handled := l.handleBatch(f)
	for handled < maxBurst {
		select {
		case f := <-l.ports.frames:
			handled += l.handleBatch(f)
			continue
		default:
		}
		break
	}
	l.inBurst = false
	l.writer.submit()
	l.tx.flush()
}

// handleBatch handles the frames of one round, port by port, and gives
// the round back to the reader. It returns how many frames there were.
func (l *bridgeLoop) handleBatch(f *frameRound) int {
	defer f.giveBack()
	// One clock reading for the round: its frames arrived together.
	now := l.now()
	n := 0
	for _, r := range f.reads {
		for i := range r.batch.Len() {
			l.handleFrameAt(now, r.port, r.batch.Frame(i))
		}
		if r.batch.Len() < portQuota {
			l.relay.drained(r.port, f.readAt)
		}
		n += r.batch.Len()
	}
	return n
}

// observeEvery spaces the frames whose handling time is observed: at most
// one a millisecond is timed (two clock reads and a histogram update), so
// a storm's frames cost neither, and a quiet bridge's are all observed.
const observeEvery = time.Millisecond

// handleFrameAt handles a frame that arrived at now: the frames of one read
// may share one clock reading, taken when it returned.
func (l *bridgeLoop) handleFrameAt(now time.Time, port int, frame []byte) {
	if l.observe != nil && now.Sub(l.observedAt) >= observeEvery {
		l.observedAt = now
		start := l.now()
		defer func() { l.observe(l.now().Sub(start)) }()
	}
	l.dec.ND = l.engine.NDGuests(port) // the port's ND is read only then, but a frame may predate a reload
	if err := l.dec.Decode(frame, &l.msg); err != nil {
		reason := wire.ReasonOf(err)
		l.engine.Refused(port, reason)
		l.log.Debug("frame refused", zap.String("port", l.engine.PortName(port)), zap.Stringer("reason", reason), zap.Error(err))
		return
	}
	l.msg.Relayed = l.relay.relayed(port, frame)
	if ce := l.log.Check(zap.DebugLevel, "message"); ce != nil {
		ce.Write(zap.String("port", l.engine.PortName(port)), zap.Stringer("msg", &l.msg))
	}
	l.apply(l.engine.HandleMessage(now, port, &l.msg, frame))
}

// apply carries out the engine's actions. MDB writes go to the writer
// at the end, or at the end of the burst of frames being handled (burst);
// everything else is done at once.
func (l *bridgeLoop) apply(acts []snoop.Action) {
	defer func() {
		if !l.inBurst {
			l.writer.submit()
			l.tx.flush()
		}
	}()
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case snoop.ActInstall:
			e := mdbEntry(l.br.Index, l.proto, a.Port, a.Key)
			// The action's source list is ours to keep (snoop.Action).
			e.Mode, e.Sources, e.Permanent = toBridgeMode(a.Mode), a.Sources, a.Static
			l.counters.installs.Add(1)
			l.writer.queue(MDBOp{Entry: e})
		case snoop.ActRemove:
			l.counters.removes.Add(1)
			l.writer.queue(removeOp(mdbEntry(l.br.Index, l.proto, a.Port, a.Key)))
		case snoop.ActTransmit:
			if a.Port == snoop.ThroughBridge {
				if err := l.sender.WriteFrame(a.Frame); err != nil {
					l.log.Warn("query not sent", zap.Error(err))
				}
				continue
			}
			p := l.ports.ports[a.Port]
			if p == nil || !p.link.Up || !p.link.Forwarding() {
				continue // STP keeps blocking ports silent, and so do we
			}
			l.tx.add(p.conn, p.link.Name, a.Frame)
		case snoop.ActEvent:
			l.logEvent(a.Event)
		case snoop.ActRouterPort:
			if p := l.ports.ports[a.Port]; p != nil {
				l.kernel.setRouterPort(p.link, a.Router)
			}
		}
	}
}

// mdbResult handles the writes of a finished writer job that failed.
// Netlink errors are logged, not fatal: one refused entry must not stop
// snooping for the others.
func (l *bridgeLoop) mdbResult(r mdbDone) {
	for _, f := range r.failed {
		op := r.ops[f.op]
		port := l.engine.PortName(op.Entry.Port)
		if op.Remove {
			if errors.Is(f.err, bridge.ErrNotFound) {
				continue
			}
			l.counters.removeErrors.Add(1)
			l.log.Error("MDB remove failed", zap.String("port", port), zap.Stringer("group", op.Entry.Group), zap.Error(f.err))
			continue
		}
		l.counters.installErrors.Add(1)
		// E.g. a port still in the disabled STP state just after coming
		// up: the next report retries.
		l.engine.InstallFailed(op.Entry.Port, fdbKey(op.Entry))
		l.log.Error("MDB install failed", zap.String("port", port), zap.Stringer("group", op.Entry.Group), zap.Error(f.err))
	}
}

// logEvent streams, logs and acts on an engine event.
func (l *bridgeLoop) logEvent(ev snoop.Event) {
	// A storm makes an event per join: nothing is built for nobody.
	if l.hub.listening() {
		r := newEventRecord(l.now(), l.settings.Name, l.engine.PortName(ev.Port), ev)
		r.Peer = l.ports.peerOf(ev.Port)
		l.hub.publish(r)
	}
	switch ev.Kind {
	case snoop.EventTimersChanged, snoop.EventQuerierLost:
		l.kernel.followTimers(l.engine)
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
	if ce := l.log.Check(level, "snooping event"); ce != nil {
		fields := []zap.Field{zap.Stringer("event", ev.Kind), zap.String("port", l.engine.PortName(ev.Port))}
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
	if ev.Kind == snoop.EventQuerierLost && !l.settings.Engine.Querier {
		l.log.Warn("querier gone: the bridge floods multicast until a querier is heard again")
	}
}

// newEventRecord turns an engine event on a bridge into an events-stream
// record; port is the name of the event's port.
func newEventRecord(now time.Time, bridge, port string, ev snoop.Event) EventRecord {
	r := EventRecord{Time: now, Bridge: bridge, Event: ev.Kind.String(), Detail: ev.Detail}
	if ev.Port != 0 {
		r.Port = port
	}
	if ev.Key.Group.IsValid() {
		r.Group, r.VLAN = ev.Key.Group.String(), ev.Key.VLAN
	}
	if ev.Addr.IsValid() {
		r.Addr = ev.Addr.String()
	}
	return r
}
