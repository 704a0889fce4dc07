package snoop

import "testing"

// A peer is summed up by its most telling name: its container, else its
// namespace's name, else a process in it, else where it is.
func TestPeerViewShort(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		p    *PeerView
		want string
	}{
		{&PeerView{Ifname: "eth0", NetnsID: 2, Netns: "web", Pid: 7, Comm: "nginx", Runtime: "docker", ContainerID: id}, "docker:0123456789ab/eth0"},
		{&PeerView{Ifname: "eth0", NetnsID: 2, Netns: "web", Pid: 7, Comm: "nginx"}, "ns:web/eth0"},
		{&PeerView{Ifname: "c0", NetnsID: 0, Pid: 1234, Comm: "sleep"}, "pid:1234(sleep)/c0"},
		{&PeerView{Ifname: "eth1", NetnsID: 5}, "nsid:5/eth1"},
		{&PeerView{Ifname: "veth1", NetnsID: -1}, "local/veth1"},
		{&PeerView{NetnsID: 0, Runtime: "podman", ContainerID: "abc"}, "podman:abc"},
		{nil, ""},
	} {
		if got := c.p.Short(); got != c.want {
			t.Errorf("%+v.Short() = %q, want %q", c.p, got, c.want)
		}
	}
}
