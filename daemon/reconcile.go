package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// mdbDiff is how a bridge's MDB differs from the engine's table, on the
// ports the daemon snoops. Host joins (entries on the bridge itself) and
// the (S,G) entries the kernel derives from (*,G) ones are nobody's to
// judge, and neither are entries another program marked with its own
// rt_protocol.
type mdbDiff struct {
	entries int            // port entries looked at
	ours    []bridge.Entry // entries with our rt_protocol the table lacks
	kernel  []bridge.Entry // entries the kernel learned itself
	differ  []fdb.PortGroup
	missing []fdb.PortGroup
}

// reconcile compares the MDB dump of bridge br with the table's
// memberships. snooped tells which ports the daemon snoops on. Entries
// are compared by mode and sources only when the kernel holds source
// lists (sourceLists); else every entry is any-source.
func reconcile(dump []bridge.Entry, table []fdb.PortGroup, br int, proto uint8, snooped func(port int) bool, sourceLists bool) mdbDiff {
	type key struct {
		port  int
		group netip.Addr
		vid   uint16
	}
	want := make(map[key]fdb.PortGroup, len(table))
	// Every membership: a zero Installed only means "rewrite at the next
	// report", not that there is no entry.
	for _, pg := range table {
		want[key{pg.Port, pg.Key.Group, pg.Key.VLAN}] = pg
	}
	var d mdbDiff
	have := make(map[key]bool, len(table))
	for _, e := range dump {
		if e.Port == br || e.Source.IsValid() || !snooped(e.Port) {
			continue
		}
		d.entries++
		switch e.Proto {
		case bridge.ProtoKernel:
			d.kernel = append(d.kernel, e)
			continue
		case proto:
		default:
			continue // someone else's static entry
		}
		k := key{e.Port, e.Group, e.VID}
		pg, ok := want[k]
		if !ok {
			d.ours = append(d.ours, e)
			continue
		}
		have[k] = true
		if sourceLists && (toBridgeMode(pg.InstalledMode) != e.Mode || !slices.Equal(pg.InstalledSources, e.Sources)) {
			d.differ = append(d.differ, pg)
		}
	}
	for _, pg := range table {
		if !have[key{pg.Port, pg.Key.Group, pg.Key.VLAN}] {
			d.missing = append(d.missing, pg)
		}
	}
	return d
}

func toBridgeMode(m fdb.FilterMode) bridge.FilterMode {
	if m == fdb.Include {
		return bridge.ModeInclude
	}
	return bridge.ModeExclude
}

// removeOp is the write that deletes e.
func removeOp(e bridge.Entry) MDBOp { return MDBOp{Entry: e, Remove: true} }

// diff reads the bridge's MDB, once every write made is in, and compares
// it with the table.
func (l *bridgeLoop) diff() (mdbDiff, error) {
	l.writer.sync()
	dump, err := l.mdb.Dump(l.br.Index)
	if err != nil {
		return mdbDiff{}, fmt.Errorf("read MDB of %s: %w", l.br.Name, err)
	}
	snooped := func(port int) bool { return l.ports.ports[port] != nil }
	table, removeKernel := splitKernelPorts(l.engine, l.engine.Memberships())
	d := reconcile(dump, table, l.br.Index, l.kernel.entryProto(l.proto), snooped, l.kernel.sourceLists)
	d.kernel = slices.DeleteFunc(d.kernel, func(e bridge.Entry) bool { return !removeKernel(e) })
	return d, nil
}

// adopt takes over entries an earlier run installed (so a restart does
// not interrupt forwarding) and removes entries the kernel learned before
// our guards were up, so that every port entry is ours. Ports coming up
// may have queued static groups: diff reads the MDB with them in, or a
// kernel entry found here could be ours by the time it is deleted.
func (l *bridgeLoop) adopt(now time.Time) error {
	d, err := l.diff()
	if err != nil {
		return err
	}
	unsure := 0
	for _, e := range d.ours {
		if !l.kernel.replace && e.Permanent {
			// Without proto, an operator's static entry (ours are in the
			// table by now, from the configuration).
			unsure++
			continue
		}
		if l.engine.KernelLearns(e.Port) {
			// An earlier run's entry on a port where the kernel learns now.
			d.kernel = append(d.kernel, e)
			continue
		}
		mode := fdb.Exclude
		if e.Mode == bridge.ModeInclude {
			mode = fdb.Include
		}
		l.apply(l.engine.Adopt(now, e.Port, fdb.Key{VLAN: e.VID, Group: e.Group}, mode, e.Sources, e.Timer))
	}
	ops := make([]MDBOp, 0, len(d.kernel))
	for _, e := range d.kernel {
		ops = append(ops, removeOp(e))
	}
	cleaned := len(ops) - l.writer.write(ops)
	logNoProto(l.log, "adoption", unsure)
	l.log.Info("MDB taken over", zap.Int("adopted", len(d.ours)-unsure), zap.Int("kernel_entries_removed", cleaned))
	return nil
}

// check compares the kernel's MDB with the engine's table and repairs
// what differs: entries of ours the kernel lost (snooping toggled, a
// netlink message dropped), entries of ours the table no longer has, and
// entries the kernel learned itself on our ports. The result shows in
// `show stats`.
func (l *bridgeLoop) check(now time.Time) snoop.MDBCheck {
	c := snoop.MDBCheck{Bridge: l.name, At: now}
	defer func() { l.lastCheck = &c }()
	d, err := l.diff()
	if err != nil {
		c.Error = err.Error()
		return c
	}
	if !l.kernel.replace {
		// Without proto, ours the table lacks cannot be told from an
		// operator's: they are left to age out (temporary ones within a
		// membership interval).
		logNoProto(l.log, "check", len(d.ours))
		d.ours = nil
	}
	c.Entries, c.Kernel, c.Extra, c.Different, c.Missing = d.entries, len(d.kernel), len(d.ours), len(d.differ), len(d.missing)
	var repairs []MDBOp
	for _, e := range slices.Concat(d.kernel, d.ours) {
		repairs = append(repairs, removeOp(e))
	}
	for _, pg := range slices.Concat(d.differ, d.missing) {
		repairs = append(repairs, reinstallOp(mdbEntry(l.br.Index, l.proto, pg.Port, pg.Key), pg))
		l.counters.installs.Add(1)
	}
	c.Repaired = len(repairs) - l.writer.write(repairs)
	if !c.Consistent() {
		l.log.Warn("MDB differed from the table; repaired", zap.Int("missing", c.Missing), zap.Int("extra", c.Extra),
			zap.Int("different", c.Different), zap.Int("kernel_learned", c.Kernel), zap.Int("repaired", c.Repaired))
	}
	return c
}

// reinstallOp builds the write of a membership's entry as the engine last
// installed it.
func reinstallOp(e bridge.Entry, pg fdb.PortGroup) MDBOp {
	e.Mode, e.Sources, e.Permanent = toBridgeMode(pg.InstalledMode), slices.Clone(pg.InstalledSources), pg.Static
	return MDBOp{Entry: e}
}

// shutdown ends snooping. By default it removes every entry it
// installed, as promised to operators who stop it; with handover the
// guards go first and the entries stay, so forwarding goes on while the
// kernel's own snooping takes over (it refreshes them from reports and
// ages them), and a restarted daemon adopts them.
func (l *bridgeLoop) shutdown() {
	l.writer.sync() // what the engine installed is in the kernel
	if l.settings.Handover {
		n := len(l.engine.Memberships())
		l.ports.closeAll()
		// Static groups are permanent entries: they go with the daemon
		// that was configured to hold them.
		var static []MDBOp
		for _, m := range l.engine.Memberships() {
			if m.Static {
				static = append(static, removeOp(mdbEntry(l.br.Index, l.proto, m.Port, m.Key)))
			}
		}
		l.writer.write(static)
		l.log.Info("stopped: entries handed over to the kernel's snooping", zap.Int("mdb_entries", n))
		return
	}
	ms := l.engine.Memberships()
	ops := make([]MDBOp, 0, len(ms))
	for _, m := range ms {
		ops = append(ops, removeOp(mdbEntry(l.br.Index, l.proto, m.Port, m.Key)))
	}
	removed := len(ops) - l.writer.write(ops)
	for _, r := range l.engine.Routers(time.Now()) {
		if r.Via != fdb.ViaStatic {
			if p := l.ports.byName(r.Port); p != nil {
				l.kernel.setRouterPort(p.link, false)
			}
		}
	}
	l.log.Info("stopped", zap.Int("mdb_entries_removed", removed))
}

// mdbEntry is the MDB entry of a membership on bridge br, marked proto.
func mdbEntry(br int, proto uint8, port int, key fdb.Key) bridge.Entry {
	return bridge.Entry{Bridge: br, Port: port, Group: key.Group, VID: key.VLAN, Proto: proto}
}
