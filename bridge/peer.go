package bridge

import (
	"strings"
)

// Peer is what is behind a veth port: the other end of the pair and the
// network namespace it lives in, named as well as the host allows. Every
// field but Ifindex may be unknown (zero).
type Peer struct {
	// Ifindex and Ifname are the peer interface's index and name in its own
	// namespace (e.g. eth0 inside a container).
	Ifindex int
	Ifname  string
	// NetnsID is the peer namespace's id as seen from the bridge's
	// namespace (IFLA_LINK_NETNSID); -1 when the peer is in the bridge's
	// own namespace.
	NetnsID int
	// Netns is the namespace's name under /run/netns, if it has one.
	Netns string
	// Pid and Comm are a process in the namespace (the lowest pid), if any.
	Pid  int
	Comm string
	// Runtime and ContainerID name the container that process belongs to,
	// read from its cgroup path ("docker", "containerd", "cri-o", "cri"
	// for a Kubernetes pod's container under another runtime, "podman";
	// the full 64-digit id).
	Runtime     string
	ContainerID string
}

// Known reports whether the port has a peer at all (it is a veth).
func (p Peer) Known() bool { return p.Ifindex != 0 }

// ContainerFromCgroup finds a container id in the text of a process's
// /proc/PID/cgroup (cgroup v1 or v2 lines, "ID:CONTROLLERS:PATH"): it
// returns the runtime's name and the full 64-digit id, or two empty
// strings when the path names no container. Of nested containers, the
// innermost wins.
func ContainerFromCgroup(text string) (runtime, id string) {
	for _, line := range strings.Split(text, "\n") {
		path, ok := cgroupPath(line)
		if !ok {
			continue
		}
		if r, i := containerInPath(path); i != "" {
			// A container's processes sit in its cgroup in every
			// hierarchy that names one: the first line that does says it.
			return r, i
		}
	}
	return "", ""
}

// cgroupPath is the path of a /proc/PID/cgroup line
// ("ID:CONTROLLERS:PATH"; the path may itself hold colons).
func cgroupPath(line string) (string, bool) {
	_, rest, ok := strings.Cut(line, ":")
	if !ok {
		return "", false
	}
	_, path, ok := strings.Cut(rest, ":")
	return path, ok
}

// containerInPath finds the innermost container in a cgroup path.
func containerInPath(path string) (runtime, id string) {
	// The cgroup directories runtimes put a container's processes in,
	// each a prefix and a suffix around the container id.
	patterns := [...]struct{ runtime, prefix, suffix string }{
		{"docker", "docker-", ".scope"},             // systemd cgroup driver
		{"containerd", "cri-containerd-", ".scope"}, // CRI, systemd driver
		{"cri-o", "crio-", ".scope"},                // CRI-O, systemd driver
		{"podman", "libpod-", ".scope"},             // podman, systemd driver
		{"podman", "libpod-", ""},                   // podman, cgroupfs driver
	}
	elems := strings.Split(path, "/")
	for i := len(elems) - 1; i >= 0; i-- {
		e := elems[i]
		for _, p := range patterns {
			if rest, ok := strings.CutPrefix(e, p.prefix); ok {
				if hex, ok := strings.CutSuffix(rest, p.suffix); ok && isContainerID(hex) {
					return p.runtime, hex
				}
			}
		}
		if !isContainerID(e) || i == 0 {
			continue
		}
		// A bare id (cgroupfs drivers): its parent says whose, or an
		// ancestor is Kubernetes' (the CRI runtime is not named then).
		switch elems[i-1] {
		case "docker":
			return "docker", e
		case "libpod_parent":
			return "podman", e
		}
		for _, a := range elems[:i] {
			if a == "kubepods" || strings.HasPrefix(a, "kubepods.") || strings.HasPrefix(a, "kubepods-") {
				return "cri", e
			}
		}
	}
	return "", ""
}

// isContainerID tells whether s is 64 lower-case hex digits, the form of
// docker, containerd, CRI-O and podman container ids.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
