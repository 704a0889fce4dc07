package daemon

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// fdbKey is the membership an MDB entry holds.
func fdbKey(e bridge.Entry) fdb.Key { return fdb.Key{VLAN: e.VID, Group: e.Group} }

// handleLink follows a link event: ports added, removed, renamed, going
// up or down or changing STP state, and the bridge changing or going.
func (l *bridgeLoop) handleLink(ev bridge.LinkEvent) error {
	now := l.now()
	switch ev.Kind {
	case bridge.PortAdded:
		if err := l.addPort(ev.Link); err != nil {
			l.log.Error("cannot snoop on new port", zap.String("port", ev.Link.Name), zap.Error(err))
		}
	case bridge.PortUp, bridge.PortDown, bridge.PortState:
		// The engine learns on a port only while it is up and STP lets it
		// learn: frames a blocking port reads would make loops of state.
		p := l.ports.ports[ev.Link.Index]
		if p == nil {
			break
		}
		was := p.link.Up && p.link.Learning()
		p.link = ev.Link
		if ev.Kind == bridge.PortUp {
			l.ports.lookupPeer(p) // a container's end of a veth may have moved since
		}
		switch active := ev.Link.Up && ev.Link.Learning(); {
		case active && !was:
			l.apply(l.engine.PortUp(now, ev.Link.Index, ev.Link.Name))
			l.log.Info("port active", zap.String("port", ev.Link.Name), zap.Stringer("stp", ev.Link.State))
		case !active && was:
			l.apply(l.engine.PortDown(now, ev.Link.Index))
			l.log.Info("port inactive", zap.String("port", ev.Link.Name), zap.Bool("up", ev.Link.Up), zap.Stringer("stp", ev.Link.State))
		}
	case bridge.PortMulticastToUnicast:
		l.setMcastToUnicast(ev.Link)
	case bridge.PortRenamed:
		if p := l.ports.ports[ev.Link.Index]; p != nil {
			l.log.Info("port renamed", zap.String("from", p.link.Name), zap.String("port", ev.Link.Name))
			p.link = ev.Link
			l.ports.lookupPeer(p)
			l.engine.PortAdded(ev.Link.Index, ev.Link.Name) // down: listed under its new name
		}
	case bridge.PortRemoved:
		l.log.Info("port removed", zap.String("port", ev.Link.Name))
		l.apply(l.engine.PortRemoved(now, ev.Link.Index))
		l.ports.close(ev.Link.Index)
	case bridge.BridgeChanged:
		if o := ev.Options; o != nil && o.Snooping != l.kernel.snooping {
			l.kernel.snooping = o.Snooping
			if !o.Snooping {
				l.log.Error("multicast snooping was switched off on the bridge: it floods all multicast and holds no MDB entries until it is switched back on")
			} else {
				// The kernel dropped our temporary entries with it.
				l.log.Info("multicast snooping switched back on: reinstalling the MDB")
				l.apply(l.engine.Resync(now))
			}
		}
		// The bridge's link-local address appears once it has carrier.
		if _, v6, err := l.k.Addresses(l.br.Index); err == nil && v6.IsLinkLocalUnicast() && v6 != l.engine.Config().QuerierAddr6 {
			l.log.Info("MLD queries from the bridge's link-local address", zap.Stringer("addr", v6))
			l.br.IPv6 = v6
			l.apply(l.engine.SetQuerierAddr6(now, v6))
		}
	case bridge.BridgeGone:
		return fmt.Errorf("bridge %s was deleted", l.br.Name)
	}
	return nil
}

// addPort starts snooping on a port.
func (l *bridgeLoop) addPort(link bridge.Link) error {
	if _, ok := l.ports.ports[link.Index]; ok {
		return nil
	}
	if err := l.ports.open(link, guardOptions(l.settings, link, l.relay.guard()), l.kernel.fixPortRouter); err != nil {
		return fmt.Errorf("port %s: %w", link.Name, err)
	}
	l.ports.lookupPeer(l.ports.ports[link.Index])
	l.engine.PortAdded(link.Index, link.Name)
	if link.MulticastToUnicast {
		l.apply(l.engine.SetKernelLearns(l.now(), link.Index, true))
		l.log.Info("port has mcast_to_unicast on: the kernel learns its memberships", zap.String("port", link.Name))
	}
	l.ports.followND(l.ports.ports[link.Index], l.settings.policy(link.Name).NDGuests, false)
	if link.Up && link.Learning() {
		l.apply(l.engine.PortUp(l.now(), link.Index, link.Name))
	}
	l.log.Info("snooping on port", zap.String("port", link.Name), zap.Int("ifindex", link.Index), zap.Bool("up", link.Up))
	return nil
}
