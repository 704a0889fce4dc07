package bridge

import (
	"strings"
	"testing"
)

// allFound is a kernel with every feature, as the development kernel.
func allFound() Features {
	y := Probe{Found: true}
	return Features{Kernel: "6.18.0", Probed: true, Isolated: true, Programs: y, Maps: y, TCX: y, ClsBPF: y, MDB: y,
		MDBReplace: y, MDBProto: y, SourceLists: y, MaxGroups: y, VLANFiltering: y, ToUnicast: y}
}

// TestFeaturesReport: each kernel gets the modes its features allow, and
// the daemon runs unless it lacks a guard, BPF, the MDB, privileges or a
// snooping bridge, each named as the reason.
func TestFeaturesReport(t *testing.T) {
	no := func(why string) Probe { return Probe{Detail: why} }
	tests := []struct {
		name   string
		change func(*Features)
		guard  GuardMode
		modes  map[string]string // feature -> its mode
		reason string            // "" when the daemon can run
	}{
		{"6.6 and later", func(*Features) {}, "tcx",
			map[string]string{"tcx": "guard: tcx (detached by the kernel when the daemon dies)", "cls_bpf": "unused: tcx is there",
				"mdb_replace": "refresh: replace", "mdb_proto": "entries: proto 77 (--proto)", "mdb_source_lists": "source lists: per-source",
				"mcast_max_groups": "kernel's per-port limit available"}, ""},
		{"6.2-6.5: no TCX", func(f *Features) { f.TCX = no("not supported") }, "tc",
			map[string]string{"tcx": "guard cannot use tcx (Linux 6.6)", "cls_bpf": "guard: tc (heartbeat fail-safe)"}, ""},
		{"5.15 and 6.1", func(f *Features) {
			f.TCX, f.MDBReplace, f.MDBProto, f.SourceLists, f.MaxGroups = no("x"), no("EEXIST"), no("EINVAL"), no(""), no("")
		}, "tc", map[string]string{"mdb_replace": "refresh: delete+add", "mdb_proto": "entries: told apart by the daemon's table",
			"mdb_source_lists": "source lists: any-source", "mcast_max_groups": "kernel's per-port limit unavailable",
			"cls_bpf": "guard: tc (heartbeat fail-safe)"}, ""},
		{"no vlan_filtering, no mcast_to_unicast", func(f *Features) { f.VLANFiltering, f.ToUnicast = no(""), no("") }, "tcx",
			map[string]string{"vlan_filtering": "VLAN 0 only: the kernel cannot filter VLANs", "mcast_to_unicast": "not reported: every port guarded"}, ""},
		{"neither TCX nor cls_bpf", func(f *Features) { f.TCX, f.ClsBPF = no("a"), no("b") }, "",
			map[string]string{"cls_bpf": "no tc fallback for the guard"}, "neither TCX (Linux 6.6) nor clsact with cls_bpf"},
		{"no BPF programs", func(f *Features) { f.Programs = no("function not implemented") }, "",
			map[string]string{"bpf_programs": "cannot run: no guard without BPF programs"}, "BPF programs cannot be loaded (bpf syscall or sched_cls unavailable): function not implemented"},
		{"no array maps", func(f *Features) { f.Maps = no("EPERM") }, "", nil, "BPF array maps cannot be created: EPERM"},
		{"no MDB", func(f *Features) { f.MDB = no("EOPNOTSUPP") }, "tcx", nil, "the bridge takes no MDB entries: EOPNOTSUPP"},
		{"not privileged", func(f *Features) { *f = Features{Kernel: "6.1.0", MissingCaps: []string{"CAP_NET_ADMIN", "CAP_BPF"}} }, "",
			nil, "missing CAP_NET_ADMIN, CAP_BPF: run as root"},
		{"only CAP_NET_RAW missing", func(f *Features) { f.MissingCaps = []string{"CAP_NET_RAW"} }, "tcx", nil, "missing CAP_NET_RAW"},
		{"bridge not snooping", func(f *Features) { f.Bridge = &BridgeCheck{Name: "br0"} }, "tcx", nil, "multicast snooping is off on br0"},
		{"no such bridge", func(f *Features) { f.Bridge = &BridgeCheck{Name: "br9", Err: "link not found"} }, "tcx", nil, "bridge br9: link not found"},
		{"a snooping bridge", func(f *Features) { f.Bridge = &BridgeCheck{Name: "br0", Snooping: true} }, "tcx", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := allFound()
			tt.change(&f)
			r := f.Report()
			if g := f.GuardMode(); g != tt.guard {
				t.Errorf("guard %q, want %q", g, tt.guard)
			}
			if r.CanRun != (tt.reason == "") || tt.reason != "" && !strings.Contains(strings.Join(r.Reasons, "\n"), tt.reason) {
				t.Errorf("can run %v, reasons %q; want reason %q", r.CanRun, r.Reasons, tt.reason)
			}
			modes := map[string]string{}
			for _, row := range r.Features {
				modes[row.Feature] = row.Mode
			}
			for feat, want := range tt.modes {
				if modes[feat] != want {
					t.Errorf("%s: mode %q, want %q", feat, modes[feat], want)
				}
			}
			if f.Probed && len(r.Features) != 11 {
				t.Errorf("%d rows, want one per feature (11)", len(r.Features))
			}
		})
	}
}
