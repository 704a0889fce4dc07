package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

const containerID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// container is a docker container's eth0 behind a port.
var container = bridge.Peer{Ifindex: 2, Ifname: "eth0", NetnsID: 3, Pid: 4242, Comm: "nginx",
	Runtime: "docker", ContainerID: containerID}

// What is behind a port shows in `show ports`, `show groups` and the
// events of its memberships, with the container id in full; a port with
// nothing known behind it has no peer, and no "peer" in its JSON. The
// peer is looked up once, when the port appears, not per report.
func TestPeerShown(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	k.setPeer(10, container)
	h := startDaemon(t, k, testSettings(t, nil), nil)
	stream := events(t, h.settings.Socket, EventsRequest{})

	// The stream subscribes once its request is read: report new groups
	// until it has a record.
	var join EventRecord
	n := 0
	for join.Event == "" && n < 100 {
		n++
		h.feed(10, report(t, 10, fmt.Sprintf("239.1.2.%d", n), false))
		select {
		case r := <-stream:
			join = r
		case <-time.After(20 * time.Millisecond):
		}
	}
	if join.Event != "join" || join.Peer == nil || join.Peer.ContainerID != containerID || join.Peer.Ifname != "eth0" {
		t.Fatalf("join record = %+v (peer %+v), want the container behind p1", join, join.Peer)
	}
	if txt := join.Text(); !strings.Contains(txt, "peer=docker:0123456789ab/eth0") {
		t.Errorf("join line %q lacks the container", txt)
	}

	want := snoop.PeerView{Ifname: "eth0", NetnsID: 3, Pid: 4242, Comm: "nginx", Runtime: "docker", ContainerID: containerID}
	if p := h.port("p1"); p.Peer == nil || *p.Peer != want {
		t.Errorf("p1's peer = %+v, want %+v", p.Peer, want)
	}
	p2 := h.port("p2")
	if p2.Peer != nil {
		t.Errorf("p2's peer = %+v, want none", p2.Peer)
	}
	if b, _ := json.Marshal(p2); strings.Contains(string(b), `"peer"`) {
		t.Errorf("p2's JSON %s has a peer", b)
	}
	gs := h.ask(GroupsRequest{}).Groups
	if len(gs) == 0 || gs[0].Peer == nil || *gs[0].Peer != want {
		t.Fatalf("groups = %+v, want p1's with its container", gs)
	}

	for range 20 {
		h.feed(10, report(t, 10, "239.1.3.1", false))
	}
	eventually(t, "the reports", func() bool { return len(h.ask(GroupsRequest{}).Groups) == n+1 })
	if n := k.peerLookups(10); n != 1 {
		t.Errorf("p1's peer looked up %d times, want once", n)
	}
}

// The peer is looked up again when the port comes up (a container's end
// of a veth is moved into it after the host end joined the bridge) and
// when it is renamed; a port that appears later gets its own; a failed
// look-up leaves a port without a peer, snooped as any other.
func TestPeerFollowsPort(t *testing.T) {
	k := newFakeKernel("p1")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	if p := h.port("p1"); p.Peer != nil {
		t.Fatalf("p1's peer = %+v before any, want none", p.Peer)
	}

	// The host end was attached while its peer was still beside it.
	k.setPeer(10, container)
	k.events <- bridge.LinkEvent{Kind: bridge.PortDown, Link: downLink(10, "p1")}
	k.events <- bridge.LinkEvent{Kind: bridge.PortUp, Link: fakeLink(10, "p1")}
	eventually(t, "p1's container once up", func() bool {
		p := h.port("p1")
		return p.Peer != nil && p.Peer.ContainerID == containerID
	})

	k.setPeer(10, bridge.Peer{Ifindex: 2, Ifname: "eth0", NetnsID: 3, Netns: "web"})
	// Linux renames only links that are down.
	k.events <- bridge.LinkEvent{Kind: bridge.PortDown, Link: downLink(10, "p1")}
	k.events <- bridge.LinkEvent{Kind: bridge.PortRenamed, Link: downLink(10, "web0")}
	eventually(t, "the renamed port's peer", func() bool {
		p := h.port("web0")
		return p.Peer != nil && p.Peer.Netns == "web"
	})

	k.setPeer(12, bridge.Peer{Ifindex: 7, Ifname: "p3-peer", NetnsID: -1})
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(12, "p3")}
	eventually(t, "p3's peer", func() bool {
		p := h.port("p3")
		return p.Peer != nil && p.Peer.Short() == "local/p3-peer"
	})

	k.mu.Lock()
	k.peerErr = errors.New("no /proc")
	k.mu.Unlock()
	k.setPeer(13, container)
	k.events <- bridge.LinkEvent{Kind: bridge.PortAdded, Link: fakeLink(13, "p4")}
	eventually(t, "p4 snooped", func() bool { return h.port("p4").Port == "p4" })
	if p := h.port("p4"); p.Peer != nil {
		t.Errorf("p4's peer = %+v after a failed look-up, want none", p.Peer)
	}
	h.feed(13, report(t, 13, "239.1.2.5", false))
	eventually(t, "p4's join", func() bool { return h.hasEntry(13, "239.1.2.5") })
}
