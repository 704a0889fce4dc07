package bridge

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Probe is what one feature probe found: whether the kernel has the
// feature, and what it said when it has not (or why it could not tell).
type Probe struct {
	Found  bool   `json:"found"`
	Detail string `json:"detail,omitempty"`
}

// Features is what ProbeFeatures found out about the running kernel: each
// feature the daemon uses or falls back from. It is plain data, built
// anywhere, so that the command and the runtime can decide modes and the
// tests can inject any kernel.
type Features struct {
	// Kernel is the release (uname -r).
	Kernel string `json:"kernel"`
	// MissingCaps are the capabilities the daemon needs that this process
	// lacks; when CAP_NET_ADMIN or CAP_BPF is among them, nothing else was
	// probed (Probed is false).
	MissingCaps []string `json:"missing_caps,omitempty"`
	Probed      bool     `json:"probed"`
	// Isolated says the probes ran in a network namespace of their own
	// (unsharing one needs CAP_SYS_ADMIN; without it they ran beside the
	// host's links, on links of their own, removed after).
	Isolated bool `json:"isolated"`
	// JIT is net.core.bpf_jit_enable ("" if unreadable); for information:
	// the interpreter runs the guard too, only slower.
	JIT string `json:"bpf_jit,omitempty"`

	Programs      Probe `json:"bpf_programs"`     // bpf(2) loads a sched_cls program
	Maps          Probe `json:"bpf_maps"`         // array and per-CPU array maps
	TCX           Probe `json:"tcx"`              // TCX links (6.6)
	ClsBPF        Probe `json:"cls_bpf"`          // clsact qdisc + cls_bpf direct-action
	MDB           Probe `json:"mdb"`              // the bridge takes MDB entries over rtnetlink
	MDBReplace    Probe `json:"mdb_replace"`      // NLM_F_REPLACE on RTM_NEWMDB (6.2)
	MDBProto      Probe `json:"mdb_proto"`        // MDBE_ATTR_RTPROT (6.2)
	SourceLists   Probe `json:"mdb_source_lists"` // MDBE_ATTR_SRC_LIST, filter modes (6.2)
	MaxGroups     Probe `json:"mcast_max_groups"` // IFLA_BRPORT_MCAST_MAX_GROUPS (6.3)
	VLANFiltering Probe `json:"vlan_filtering"`   // CONFIG_BRIDGE_VLAN_FILTERING
	ToUnicast     Probe `json:"mcast_to_unicast"` // IFLA_BRPORT_MCAST_TO_UCAST (4.11)

	// Bridge is the bridge the operator named, looked at without being
	// changed; nil when none was named.
	Bridge *BridgeCheck `json:"bridge,omitempty"`
}

// BridgeCheck is what the daemon will find on one existing bridge.
type BridgeCheck struct {
	Name string `json:"name"`
	// Err says why the bridge cannot be used (not found, not a bridge,
	// unreadable); the fields below are then zero.
	Err           string `json:"error,omitempty"`
	Snooping      bool   `json:"mcast_snooping"`
	VLANFiltering bool   `json:"vlan_filtering"`
	// SourceLists is ProbeSourceLists on this bridge (which changes nothing).
	SourceLists Probe    `json:"mdb_source_lists"`
	Ports       []string `json:"ports"`
	// ToUnicast are the ports with mcast_to_unicast on: the kernel learns there.
	ToUnicast []string `json:"mcast_to_unicast_ports,omitempty"`
}

// GuardMode is how the daemon keeps reports from the kernel on this
// kernel: GuardTCX, GuardTC (clsact + cls_bpf, with the heartbeat
// fail-safe, as a tc filter outlives the process), or "" when it cannot.
func (f Features) GuardMode() GuardMode {
	switch {
	case !f.Programs.Found || !f.Maps.Found:
		return ""
	case f.TCX.Found:
		return GuardTCX
	case f.ClsBPF.Found:
		return GuardTC
	}
	return ""
}

// Row is one line of the doctor's report: a feature, whether the kernel has
// it, and what the daemon does because of that.
type Row struct {
	Feature string `json:"feature"`
	Found   bool   `json:"found"`
	Mode    string `json:"mode"`
	Detail  string `json:"detail,omitempty"`
}

// Report is the doctor's verdict on Features: one row per feature, and
// whether the daemon can run here, with the reasons when it cannot.
type Report struct {
	Kernel   string       `json:"kernel"`
	Isolated bool         `json:"probed_in_own_namespace"`
	JIT      string       `json:"bpf_jit,omitempty"`
	CanRun   bool         `json:"can_run"`
	Reasons  []string     `json:"reasons"`
	Features []Row        `json:"features"`
	Bridge   *BridgeCheck `json:"bridge,omitempty"`
}

// Report decides, from f, the mode of each feature and whether the daemon
// can run.
func (f Features) Report() Report {
	r := Report{Kernel: f.Kernel, Isolated: f.Isolated, JIT: f.JIT, Bridge: f.Bridge, Reasons: []string{}}
	if len(f.MissingCaps) > 0 {
		r.Reasons = append(r.Reasons, fmt.Sprintf("missing %s: run as root, or with the capabilities packaging/igmpsnoop.service gives (CAP_NET_ADMIN CAP_NET_RAW CAP_BPF)", strings.Join(f.MissingCaps, ", ")))
	}
	if !f.Probed {
		if len(r.Reasons) == 0 {
			r.Reasons = append(r.Reasons, "the kernel was not probed")
		}
		return r
	}
	guard := f.GuardMode()
	row := func(name string, p Probe, found, missing string) {
		mode := missing
		if p.Found {
			mode = found
		}
		r.Features = append(r.Features, Row{Feature: name, Found: p.Found, Mode: mode, Detail: p.Detail})
	}
	row("bpf_programs", f.Programs, "loads the guard's sched_cls program", "cannot run: no guard without BPF programs")
	row("bpf_maps", f.Maps, "guard's drop counters and heartbeat", "cannot run: the guard needs array maps")
	row("tcx", f.TCX, "guard: tcx (detached by the kernel when the daemon dies)", "guard cannot use tcx (Linux 6.6)")
	clsBPF := "unused: tcx is there"
	if guard == GuardTC {
		clsBPF = "guard: tc (heartbeat fail-safe)"
	}
	row("cls_bpf", f.ClsBPF, clsBPF, "no tc fallback for the guard")
	row("mdb", f.MDB, "entries over rtnetlink", "cannot run: the bridge takes no MDB entries (CONFIG_BRIDGE_IGMP_SNOOPING)")
	row("mdb_replace", f.MDBReplace, "refresh: replace", "refresh: delete+add")
	row("mdb_proto", f.MDBProto, "entries: proto 77 (--proto)", "entries: told apart by the daemon's table")
	row("mdb_source_lists", f.SourceLists, "source lists: per-source", "source lists: any-source")
	row("mcast_max_groups", f.MaxGroups, "kernel's per-port limit available", "kernel's per-port limit unavailable")
	row("vlan_filtering", f.VLANFiltering, "per-VLAN state on vlan_filtering bridges", "VLAN 0 only: the kernel cannot filter VLANs")
	row("mcast_to_unicast", f.ToUnicast, "the kernel learns on such ports", "not reported: every port guarded")

	switch {
	case !f.Programs.Found:
		r.Reasons = append(r.Reasons, "BPF programs cannot be loaded (bpf syscall or sched_cls unavailable): "+f.Programs.Detail)
	case !f.Maps.Found:
		r.Reasons = append(r.Reasons, "BPF array maps cannot be created: "+f.Maps.Detail)
	case guard == "":
		r.Reasons = append(r.Reasons, "neither TCX (Linux 6.6) nor clsact with cls_bpf: no guard can keep reports from the bridge")
	}
	if !f.MDB.Found {
		r.Reasons = append(r.Reasons, "the bridge takes no MDB entries: "+f.MDB.Detail)
	}
	if b := f.Bridge; b != nil {
		switch {
		case b.Err != "":
			r.Reasons = append(r.Reasons, fmt.Sprintf("bridge %s: %s", b.Name, b.Err))
		case !b.Snooping:
			r.Reasons = append(r.Reasons, snoopingOffReason(b.Name))
		}
	}
	r.CanRun = len(r.Reasons) == 0
	return r
}

// snoopingOffReason is why the daemon refuses a bridge that does not snoop.
func snoopingOffReason(name string) string {
	return fmt.Sprintf("multicast snooping is off on %s, so it cannot hold MDB entries; turn it on: ip link set %s type bridge mcast_snooping 1", name, name)
}

// WriteText renders the report for a terminal (igmpsnoop doctor): the
// features, what was not found and why, the bridge, and the verdict.
func (r Report) WriteText(w io.Writer) error {
	where := "not probed"
	switch {
	case r.Isolated:
		where = "probed in a network namespace of its own"
	case len(r.Features) > 0:
		where = "probed on links of its own beside the host's"
	}
	jit := "" // net.core sysctls are unreadable outside the host's namespace
	if r.JIT != "" {
		jit = ", bpf_jit_enable " + r.JIT
	}
	fmt.Fprintf(w, "kernel %s%s, %s\n", r.Kernel, jit, where)
	if len(r.Features) > 0 {
		if err := printFeatures(w, r.Features); err != nil {
			return err
		}
	}
	if b := r.Bridge; b != nil && b.Err == "" {
		fmt.Fprintf(w, "\nbridge %s: mcast_snooping %s, vlan_filtering %s, source lists %s, ports %s, mcast_to_unicast on %s\n",
			b.Name, onOff(b.Snooping), onOff(b.VLANFiltering), onOff(b.SourceLists.Found), orNone(b.Ports), orNone(b.ToUnicast))
	}
	if r.CanRun {
		fmt.Fprintln(w, "\nthe daemon can run here")
		return nil
	}
	fmt.Fprintf(w, "\nthe daemon cannot run here:\n  %s\n", strings.Join(r.Reasons, "\n  "))
	return nil
}

// printFeatures prints the table of features, then why those not found
// are not.
func printFeatures(w io.Writer, rows []Row) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tFOUND\tMODE")
	var why []string
	for _, row := range rows {
		found := "no"
		if row.Found {
			found = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row.Feature, found, row.Mode)
		if !row.Found && row.Detail != "" {
			why = append(why, fmt.Sprintf("  %s: %s\n", row.Feature, row.Detail))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(why) > 0 {
		fmt.Fprintf(w, "\nnot found:\n%s", strings.Join(why, ""))
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, " ")
}
