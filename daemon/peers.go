package daemon

import (
	"go.uber.org/zap"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// What is behind a port (a container, a namespace) is looked up when the
// port appears, is renamed or comes up, and kept with the port: reports
// and `show` requests only read it. Coming up matters on container hosts:
// a runtime attaches the host end of a veth to the bridge before it moves
// the other end into the container, and the port comes up (gets carrier)
// only once that end is up in there.
//
// The engine knows ports by name only, so the daemon puts the peer into
// the engine's views when it answers, as it does the STP state. A
// PeerView, once made, is never changed: views share it.

// lookupPeer finds out what is behind port p and keeps it.
func (s *portSet) lookupPeer(p *portIO) {
	peer, err := s.kernel.Peer(p.link)
	if err != nil {
		// Not knowing the container behind a port changes no forwarding.
		s.log.Info("cannot tell what is behind the port", zap.String("port", p.link.Name), zap.Error(err))
		p.peer = nil
		return
	}
	v := peerView(peer)
	if v != nil && (p.peer == nil || *v != *p.peer) {
		s.log.Info("port peer", zap.String("port", p.link.Name), zap.String("peer", v.Short()),
			zap.String("netns", v.Netns), zap.Int("pid", v.Pid), zap.String("container", v.ContainerID))
	}
	p.peer = v
}

// peerView is a peer as the views show it: nil when there is none.
func peerView(p bridge.Peer) *snoop.PeerView {
	if !p.Known() {
		return nil
	}
	return &snoop.PeerView{Ifname: p.Ifname, NetnsID: p.NetnsID, Netns: p.Netns, Pid: p.Pid, Comm: p.Comm,
		Runtime: p.Runtime, ContainerID: p.ContainerID}
}

// peerOf is the peer of the port with ifindex, or nil.
func (s *portSet) peerOf(ifindex int) *snoop.PeerView {
	if p := s.ports[ifindex]; p != nil {
		return p.peer
	}
	return nil
}

// withPeers puts each row's port's peer into membership rows.
func (s *portSet) withPeers(gs []snoop.GroupView) []snoop.GroupView {
	byName := make(map[string]*snoop.PeerView, len(s.ports))
	for _, p := range s.ports {
		if p.peer != nil {
			byName[p.link.Name] = p.peer
		}
	}
	for i := range gs {
		gs[i].Peer = byName[gs[i].Port]
	}
	return gs
}
