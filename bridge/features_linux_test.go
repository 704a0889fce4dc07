package bridge

import (
	"os/exec"
	"strings"
	"testing"
)

// kernelHasVLANFiltering asks iproute2, independently of the probe, whether
// this kernel can switch vlan_filtering on.
func kernelHasVLANFiltering(t *testing.T, n *testNS) bool {
	t.Helper()
	n.IP("link", "add", "vfprobe", "type", "bridge")
	defer n.IP("link", "del", "vfprobe")
	return exec.Command("ip", "netns", "exec", n.Name, "ip", "link", "set", "vfprobe", "type", "bridge", "vlan_filtering", "1").Run() == nil
}

// linkNames lists the names of the links in n.
func linkNames(n *testNS) string {
	var names []string
	for _, line := range strings.Split(n.IP("-o", "link", "show"), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	return strings.Join(names, " ")
}

// TestProbeFeatures: on the development kernel (6.6+) every probe finds
// its feature, vlan_filtering as iproute2 finds it; a bridge named is only
// read; and no link is left behind, whether the probes ran in a namespace
// of their own or beside the caller's links.
func TestProbeFeatures(t *testing.T) {
	needRoot(t)
	l := newLab(t, 1)
	l.br.IP("link", "set", "p1", "type", "bridge_slave", "mcast_to_unicast", "on")
	vlans := kernelHasVLANFiltering(t, l.br)
	before := linkNames(l.br)
	mdbBefore := l.br.Exec("bridge", "mdb", "show")

	var f Features
	var err error
	l.br.Do(func() { f, err = ProbeFeatures("br0") })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", f)
	if !f.Probed || !f.Isolated || len(f.MissingCaps) != 0 || !strings.HasPrefix(f.Kernel, "6.") {
		t.Fatalf("probed %v isolated %v missing %v kernel %q", f.Probed, f.Isolated, f.MissingCaps, f.Kernel)
	}
	for name, p := range map[string]Probe{"programs": f.Programs, "maps": f.Maps, "tcx": f.TCX, "cls_bpf": f.ClsBPF,
		"mdb": f.MDB, "replace": f.MDBReplace, "proto": f.MDBProto, "source lists": f.SourceLists,
		"max groups": f.MaxGroups, "to unicast": f.ToUnicast} {
		if !p.Found {
			t.Errorf("%s not found: %s", name, p.Detail)
		}
	}
	if f.VLANFiltering.Found != vlans {
		t.Errorf("vlan_filtering found %v (%s), iproute2 says %v", f.VLANFiltering.Found, f.VLANFiltering.Detail, vlans)
	}
	b := f.Bridge
	if b == nil || b.Err != "" || !b.Snooping || !b.SourceLists.Found || strings.Join(b.Ports, ",") != "p1" || strings.Join(b.ToUnicast, ",") != "p1" {
		t.Errorf("bridge check %+v", b)
	}
	if r := f.Report(); !r.CanRun || f.GuardMode() != GuardTCX {
		t.Errorf("can run %v (%v), guard %q", r.CanRun, r.Reasons, f.GuardMode())
	}
	if after := linkNames(l.br); after != before {
		t.Errorf("links changed:\nbefore %s\nafter %s", before, after)
	}
	if after := l.br.Exec("bridge", "mdb", "show"); after != mdbBefore {
		t.Errorf("MDB changed:\nbefore %s\nafter %s", mdbBefore, after)
	}

	// Beside the caller's links, as without CAP_SYS_ADMIN.
	l.br.Do(func() { f, err = probeFeatures("", false) })
	if err != nil || f.Isolated || !f.TCX.Found || !f.ClsBPF.Found || !f.MDBReplace.Found || f.Bridge != nil {
		t.Errorf("not isolated: %+v, %v", f, err)
	}
	if after := linkNames(l.br); after != before {
		t.Errorf("links changed:\nbefore %s\nafter %s", before, after)
	}

	// A bridge that is not there, and one that does not snoop.
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	l.br.Do(func() { f, err = ProbeFeatures("br0") })
	if err != nil || f.Bridge.Snooping || f.Report().CanRun {
		t.Errorf("snooping off: %+v, %v, %v", f.Bridge, f.Report().Reasons, err)
	}
	l.br.Do(func() { f, err = ProbeFeatures("nosuchbr") })
	if err != nil || !strings.Contains(f.Bridge.Err, "no such") && !strings.Contains(f.Bridge.Err, "not") {
		t.Errorf("no bridge: %+v, %v", f.Bridge, err)
	}
	if after := linkNames(l.br); after != before {
		t.Errorf("links changed:\nbefore %s\nafter %s", before, after)
	}
}
