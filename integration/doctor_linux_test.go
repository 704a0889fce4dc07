package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/lab"
)

// runDoctor runs `igmpsnoop doctor args` in namespace ns, prefixed by the
// command pre (e.g. setpriv and its options), and returns its stdout,
// stderr and exit status.
func runDoctor(t *testing.T, ns string, pre []string, args ...string) (string, string, int) {
	t.Helper()
	argv := append(append([]string{"netns", "exec", ns}, pre...), append([]string{daemonBin, "doctor"}, args...)...)
	cmd := exec.Command("ip", argv...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("doctor %q: %v", args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// linkNames lists the links in ns, by name.
func linkNames(t *testing.T, l *lab.Lab, ns string) string {
	t.Helper()
	out, err := l.Exec(ns, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	return strings.Join(names, " ")
}

// TestDoctor: on the development kernel doctor finds every feature (vlan_filtering
// as iproute2 finds it) and exits 0, as root (probing in a namespace of its
// own) and with only the service's capabilities (probing beside the host's
// links); without capabilities it exits 1 naming them. No run leaves a link
// behind, and the bridge named is not changed.
func TestDoctor(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	vlans := l.Run(l.Switch, "ip", "link", "add", "vfprobe", "type", "bridge", "vlan_filtering", "1") == nil
	if vlans {
		if err := l.Run(l.Switch, "ip", "link", "del", "vfprobe"); err != nil {
			t.Fatal(err)
		}
	}
	before := linkNames(t, l, l.Switch)
	mdbBefore, err := l.Exec(l.Switch, "bridge", "-d", "mdb", "show")
	if err != nil {
		t.Fatal(err)
	}
	service := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all,+net_admin,+net_raw,+bpf", "--ambient-caps=+net_admin,+net_raw,+bpf"}
	for _, run := range []struct {
		name     string
		pre      []string
		isolated bool
	}{{"root", nil, true}, {"service capabilities", service, false}} {
		out, errOut, code := runDoctor(t, l.Switch, run.pre, "--json", "--bridge", l.Bridge)
		var got struct {
			Doctor struct {
				CanRun   bool `json:"can_run"`
				Isolated bool `json:"probed_in_own_namespace"`
				Features []struct {
					Feature, Detail string
					Found           bool
				}
				Bridge struct {
					Snooping bool     `json:"mcast_snooping"`
					Ports    []string `json:"ports"`
				}
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
			t.Fatalf("%s: exit %d, %v: %s\n%s", run.name, code, err, out, errOut)
		}
		d := got.Doctor
		if !d.CanRun || d.Isolated != run.isolated || !d.Bridge.Snooping || !strings.Contains(strings.Join(d.Bridge.Ports, " "), "h1") || len(d.Features) != 11 {
			t.Errorf("%s: %s", run.name, out)
		}
		for _, f := range d.Features {
			if want := f.Feature != "vlan_filtering" || vlans; f.Found != want {
				t.Errorf("%s: %s found %v (%s), want %v", run.name, f.Feature, f.Found, f.Detail, want)
			}
		}
		if after := linkNames(t, l, l.Switch); after != before {
			t.Errorf("%s: links before %s, after %s", run.name, before, after)
		}
	}
	out, _, code := runDoctor(t, l.Switch, nil)
	if code != 0 || !strings.Contains(out, "tcx               yes    guard: tcx") || !strings.Contains(out, "\nthe daemon can run here\n") {
		t.Errorf("table: exit %d:\n%s", code, out)
	}
	out, errOut, code := runDoctor(t, l.Switch, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"})
	if code != 1 || !strings.Contains(errOut, "the daemon cannot run here: missing CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF") || !strings.Contains(out, "not probed") {
		t.Errorf("no capabilities: exit %d:\n%s%s", code, out, errOut)
	}
	if after := linkNames(t, l, l.Switch); after != before {
		t.Errorf("links before %s, after %s", before, after)
	}
	if mdb, _ := l.Exec(l.Switch, "bridge", "-d", "mdb", "show"); mdb != mdbBefore {
		t.Errorf("MDB before %q, after %q", mdbBefore, mdb)
	}
}
