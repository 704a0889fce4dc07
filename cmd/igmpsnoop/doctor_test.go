package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// kernel61 is what the probes find on Linux 6.1: no TCX, no MDB replace,
// proto, source lists or mcast_max_groups.
func kernel61() bridge.Features {
	y := bridge.Probe{Found: true}
	return bridge.Features{Kernel: "6.1.0-18-amd64", JIT: "1", Probed: true, Isolated: true, Programs: y, Maps: y,
		TCX: bridge.Probe{Detail: "not supported"}, ClsBPF: y, MDB: y, MDBReplace: bridge.Probe{Detail: "file exists"},
		MDBProto: bridge.Probe{Detail: "invalid argument"}, SourceLists: bridge.Probe{}, MaxGroups: bridge.Probe{Detail: "the kernel does not report IFLA_BRPORT_MCAST_MAX_GROUPS"},
		VLANFiltering: y, ToUnicast: y,
		Bridge: &bridge.BridgeCheck{Name: "br0", Snooping: true, Ports: []string{"eth1", "wlan0"}, ToUnicast: []string{"wlan0"}}}
}

// doctor runs `igmpsnoop doctor args` over probe and returns its output
// and error (an error is exit status 1).
func doctor(probe func(string) (bridge.Features, error), args ...string) (string, error) {
	var out bytes.Buffer
	cmd := doctorCommand(&out, probe)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), err
}

func fixed(f bridge.Features) func(string) (bridge.Features, error) {
	return func(string) (bridge.Features, error) { return f, nil }
}

// TestDoctorTable: each feature on a line with its mode, why those missing
// are, the bridge, and the verdict; the bridge asked for reaches the probe.
func TestDoctorTable(t *testing.T) {
	asked := ""
	out, err := doctor(func(b string) (bridge.Features, error) { asked = b; return kernel61(), nil }, "--bridge", "br0")
	if err != nil || asked != "br0" {
		t.Fatalf("err %v, probe asked for %q", err, asked)
	}
	for _, want := range []string{
		"kernel 6.1.0-18-amd64, bpf_jit_enable 1, probed in a network namespace of its own\n",
		"FEATURE           FOUND  MODE\n",
		"tcx               no     guard cannot use tcx (Linux 6.6)\n",
		"cls_bpf           yes    guard: tc (heartbeat fail-safe)\n",
		"mdb_replace       no     refresh: delete+add\n",
		"mdb_proto         no     entries: told apart by the daemon's table\n",
		"mdb_source_lists  no     source lists: any-source\n",
		"mcast_max_groups  no     kernel's per-port limit unavailable\n",
		"not found:\n  tcx: not supported\n  mdb_replace: file exists\n  mdb_proto: invalid argument\n  mcast_max_groups: the kernel does not report",
		"bridge br0: mcast_snooping on, vlan_filtering off, source lists off, ports eth1 wlan0, mcast_to_unicast on wlan0\n",
		"\nthe daemon can run here\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDoctorJSON: one object under "doctor", with stable names.
func TestDoctorJSON(t *testing.T) {
	out, err := doctor(fixed(kernel61()), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Doctor struct {
			Kernel   string
			CanRun   bool     `json:"can_run"`
			Reasons  []string `json:"reasons"`
			Isolated bool     `json:"probed_in_own_namespace"`
			Features []struct {
				Feature, Mode, Detail string
				Found                 bool
			}
			Bridge struct {
				Name      string
				Snooping  bool     `json:"mcast_snooping"`
				ToUnicast []string `json:"mcast_to_unicast_ports"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	d := got.Doctor
	if d.Kernel != "6.1.0-18-amd64" || !d.CanRun || d.Reasons == nil || !d.Isolated || len(d.Features) != 11 ||
		d.Bridge.Name != "br0" || !d.Bridge.Snooping || strings.Join(d.Bridge.ToUnicast, ",") != "wlan0" {
		t.Fatalf("%+v\n%s", d, out)
	}
	if f := d.Features[2]; f.Feature != "tcx" || f.Found || f.Detail != "not supported" {
		t.Errorf("tcx row %+v", f)
	}
}

// TestDoctorCannotRun: a kernel the daemon cannot run on gives an error
// (exit status 1) naming the reason, after the report, in both forms; so
// does a probe that fails.
func TestDoctorCannotRun(t *testing.T) {
	f := kernel61()
	f.ClsBPF = bridge.Probe{Detail: "Specified qdisc kind is unknown"}
	for _, args := range [][]string{nil, {"--json"}} {
		out, err := doctor(fixed(f), args...)
		const why = "neither TCX (Linux 6.6) nor clsact with cls_bpf"
		if err == nil || !strings.Contains(err.Error(), "the daemon cannot run here: "+why) || !strings.Contains(out, why) {
			t.Errorf("%q: err %v, output %s", args, err, out)
		}
	}
	out, err := doctor(fixed(bridge.Features{Kernel: "6.1.0", MissingCaps: []string{"CAP_NET_ADMIN"}}))
	if err == nil || !strings.Contains(err.Error(), "missing CAP_NET_ADMIN") || !strings.Contains(out, "not probed") || strings.Contains(out, "FEATURE") {
		t.Errorf("unprivileged: err %v, output %s", err, out)
	}
	_, err = doctor(func(string) (bridge.Features, error) {
		return bridge.Features{}, errors.New("create probe bridge: EPERM")
	})
	if err == nil || !strings.Contains(err.Error(), "doctor: create probe bridge: EPERM") {
		t.Errorf("probe failure: %v", err)
	}
}

// TestDoctorCommandLine: help exits 0, mistakes exit 2.
func TestDoctorCommandLine(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"doctor", "--help"}, 0, "--bridge NAME"},
		{[]string{"doctor", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"doctor", "--bogus"}, 2, "unknown flag: --bogus"},
	} {
		var out bytes.Buffer
		if code := realMain(tt.args, &out, &out); code != tt.code || !strings.Contains(out.String(), tt.want) {
			t.Errorf("%q: exit %d, output %q; want %d and %q", tt.args, code, out.String(), tt.code, tt.want)
		}
	}
}
