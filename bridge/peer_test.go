package bridge

import (
	"strings"
	"testing"
)

// Container ids come out of the cgroup paths docker, containerd (CRI),
// CRI-O, Kubernetes and podman put a container's processes in, with
// either cgroup driver and either cgroup version; paths that only look
// alike name none.
func TestContainerFromCgroup(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const inner = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	for _, c := range []struct {
		name, text, runtime, id string
	}{
		{"docker cgroupfs v1", "12:memory:/docker/" + id + "\n11:cpu,cpuacct:/docker/" + id + "\n", "docker", id},
		{"docker systemd v2", "0::/system.slice/docker-" + id + ".scope\n", "docker", id},
		{"docker systemd v1 named", "1:name=systemd:/system.slice/docker-" + id + ".scope\n0::/\n", "docker", id},
		{"containerd CRI systemd", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice/cri-containerd-" + id + ".scope", "containerd", id},
		{"CRI-O systemd", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9.slice/crio-" + id + ".scope", "cri-o", id},
		{"kubepods cgroupfs", "0::/kubepods/burstable/pod4c6a1b52-0000-4000-8000-000000000000/" + id, "cri", id},
		{"kubepods guaranteed cgroupfs v1", "4:memory:/kubepods/pod4c6a/" + id + "\n", "cri", id},
		{"podman systemd", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope", "podman", id},
		{"podman rootful machine slice", "0::/machine.slice/libpod-" + id + ".scope/container", "podman", id},
		{"podman cgroupfs", "0::/libpod_parent/libpod-" + id, "podman", id},
		{"podman cgroupfs bare", "0::/libpod_parent/" + id, "podman", id},
		{"nested: innermost wins", "0::/docker/" + id + "/docker/" + inner, "docker", inner},
		{"path with a colon", "0::/odd:dir/docker-" + id + ".scope", "docker", id},

		{"host process", "0::/init.scope\n", "", ""},
		{"root", "0::/\n", "", ""},
		{"user session", "0::/user.slice/user-0.slice/session-3.scope", "", ""},
		{"podman conmon", "0::/machine.slice/libpod-conmon-" + id + ".scope", "", ""},
		{"short id", "0::/docker/" + id[:12], "", ""},
		{"upper-case hex", "0::/docker/" + strings.ToUpper(id), "", ""},
		{"65 digits", "0::/docker-" + id + "0.scope", "", ""},
		{"bare id under an unknown parent", "0::/somewhere/" + id, "", ""},
		{"bare id at the top", "0::" + id, "", ""},
		{"not a cgroup file", "hello\n" + id + "\n", "", ""},
		{"empty", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, i := ContainerFromCgroup(c.text)
			if r != c.runtime || i != c.id {
				t.Errorf("ContainerFromCgroup(%q) = %q, %q; want %q, %q", c.text, r, i, c.runtime, c.id)
			}
		})
	}
}
