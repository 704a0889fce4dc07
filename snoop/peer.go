package snoop

import (
	"fmt"
	"strconv"
)

// PeerView is what is behind a port, the other end of a veth (a
// container's or namespace's interface), as `show ports`, `show groups`
// and `events` print it. The engine knows ports by name only: the daemon
// fills it in. Empty fields are unknown. The JSON names are part of the
// CLI's contract.
type PeerView struct {
	// Ifname is the peer interface's name in its namespace.
	Ifname string `json:"ifname,omitempty"`
	// NetnsID is the peer namespace's id as the bridge's namespace sees it
	// (`ip link` shows it as link-netnsid); -1: the bridge's own namespace.
	NetnsID int `json:"netnsid"`
	// Netns is the namespace's name under /run/netns.
	Netns string `json:"netns,omitempty"`
	// Pid and Comm are a process in the namespace (the lowest pid).
	Pid  int    `json:"pid,omitempty"`
	Comm string `json:"comm,omitempty"`
	// Runtime ("docker", "containerd", "cri-o", "cri", "podman") and
	// ContainerID (all 64 digits) name that process's container.
	Runtime     string `json:"runtime,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
}

// shortID is how many digits of a container id are shown, as docker ps
// shows them.
const shortID = 12

// Short sums a peer up in one word for tables and event lines, its most
// telling name first: docker:0123abcd4567/eth0, ns:web/eth0,
// pid:1234(nginx)/eth0, local/veth1 (a peer in the bridge's namespace).
func (p *PeerView) Short() string {
	if p == nil {
		return ""
	}
	var who string
	switch {
	case p.ContainerID != "":
		who = p.Runtime + ":" + p.ContainerID[:min(len(p.ContainerID), shortID)]
	case p.Netns != "":
		who = "ns:" + p.Netns
	case p.Pid != 0:
		who = fmt.Sprintf("pid:%d(%s)", p.Pid, p.Comm)
	case p.NetnsID < 0:
		who = "local"
	default:
		who = "nsid:" + strconv.Itoa(p.NetnsID)
	}
	if p.Ifname == "" {
		return who
	}
	return who + "/" + p.Ifname
}
