package daemon

import (
	"net/netip"
	"slices"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// Ports with mcast_to_unicast on (OpenWrt's Wi-Fi ports) deliver a group
// as one copy per reporting host, addressed to its MAC, but only for the
// port groups the kernel learned itself: an entry of ours carries no MAC,
// and its copy goes out addressed to the group, which an access point
// sends to every station. So on those ports the kernel learns: the guard
// passes reports and leaves, the engine still learns from them (views,
// counts, profile and limits) but writes no entries of its own there, and
// the reconciliation leaves the kernel's entries there alone, except
// groups the port's profile denies.

// guardOptions is what the guard of port link drops under settings set,
// and the bridge's relay (nil: none).
func guardOptions(set BridgeSettings, link bridge.Link, relay bridge.Relay) bridge.GuardOptions {
	return bridge.GuardOptions{DropQueries: set.policy(link.Name).RefuseQueries, PassReports: link.MulticastToUnicast, Relay: relay}
}

// setMcastToUnicast follows a port's mcast_to_unicast flag at run time.
// On: the guard passes reports first, so that the kernel learns from the
// next one, then our entries go. Off: the guard drops reports first, the
// kernel's entries go (each is one host's; a delete takes one per call),
// then ours are installed for what the engine knows.
func (l *bridgeLoop) setMcastToUnicast(link bridge.Link) {
	p := l.ports.ports[link.Index]
	if p == nil {
		return
	}
	p.link = link
	on := link.MulticastToUnicast
	if on == l.engine.KernelLearns(link.Index) {
		return
	}
	if err := l.ports.updateGuard(p, guardOptions(l.settings, link, l.relay.guard())); err != nil {
		l.log.Error("cannot update the port's guard: mode unchanged", zap.String("port", link.Name), zap.Error(err))
		return
	}
	removed := 0
	if !on {
		var err error
		if removed, err = l.writer.removeKernelEntries(l.br.Index, l.kernel.entryProto(l.proto), link.Index); err != nil {
			l.log.Warn("cannot read the MDB: the kernel's entries on the port stay until they age", zap.Error(err))
		}
	}
	l.apply(l.engine.SetKernelLearns(l.now(), link.Index, on))
	if on {
		l.log.Info("mcast_to_unicast switched on: the kernel learns the port's memberships", zap.String("port", link.Name))
	} else {
		l.log.Info("mcast_to_unicast switched off: the daemon learns the port's memberships", zap.String("port", link.Name),
			zap.Int("kernel_entries_removed", removed))
	}
}

// removeKernelEntries deletes the entries the kernel learned on a port,
// and returns how many went. There is one per station, but the dump shows
// one per group and a delete takes one per call: the deletes are repeated
// until none finds anything. A group with an entry of ours there (a
// static one, marked proto) is left alone, as a delete could take ours.
func (w *mdbWriter) removeKernelEntries(br int, proto uint8, port int) (int, error) {
	w.sync()
	dump, err := w.mdb.Dump(br)
	if err != nil {
		return 0, err
	}
	var ops []MDBOp
	for _, e := range dump {
		if e.Port == port && e.Proto == bridge.ProtoKernel && !e.Source.IsValid() &&
			!slices.ContainsFunc(dump, func(o bridge.Entry) bool {
				return o.Port == port && o.Group == e.Group && o.VID == e.VID && o.Proto == proto
			}) {
			ops = append(ops, removeOp(e))
		}
	}
	removed := 0
	for range maxStationsPerGroup {
		n := len(ops) - w.write(ops)
		if n == 0 {
			break
		}
		removed += n
	}
	return removed, nil
}

// maxStationsPerGroup bounds the rounds of removeKernelEntries.
const maxStationsPerGroup = 1024

// splitKernelPorts prepares a reconciliation for ports where the kernel
// learns: it returns the table without their learned memberships (so that
// an entry of ours there counts as one to remove, and none as missing),
// and a filter telling which kernel entries are still to remove there:
// those of groups the engine has no membership for and the port's
// profile denies. Other kernel entries there are the kernel's to keep; a
// group the engine lacks for another reason (a report it has not read
// yet) must not lose its stations' traffic.
func splitKernelPorts(e *snoop.Engine, table []fdb.PortGroup) ([]fdb.PortGroup, func(bridge.Entry) bool) {
	type key struct {
		port  int
		group netip.Addr
		vid   uint16
	}
	ours := table[:0:0]
	learned := make(map[key]bool)
	for _, pg := range table {
		if !pg.Static && e.KernelLearns(pg.Port) {
			learned[key{pg.Port, pg.Key.Group, pg.Key.VLAN}] = true
			continue
		}
		ours = append(ours, pg)
	}
	remove := func(en bridge.Entry) bool {
		if !e.KernelLearns(en.Port) {
			return true
		}
		return !learned[key{en.Port, en.Group, en.VID}] && e.ProfileDenies(en.Port, en.Group)
	}
	return ours, remove
}
