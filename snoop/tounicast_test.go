package snoop

import (
	"net/netip"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// withRouterUplink makes the uplink a router port, so relays show.
func withRouterUplink(t *testing.T, e *Engine) {
	t.Helper()
	e.HandleMessage(t0, uplink, query(routeIP, netip.IPv4Unspecified(), 3), rawFrame)
	if !e.table.RouterPort(uplink) {
		t.Fatal("uplink is no router port")
	}
}

// relayed counts the test frames sent out of port.
func relayed(as []Action, port int) int {
	n := 0
	for _, a := range kinds(as, ActTransmit) {
		if a.Port == port && string(a.Frame) == string(rawFrame) {
			n++
		}
	}
	return n
}

// On a port where the kernel learns (mcast_to_unicast), the engine learns,
// shows and ages memberships as anywhere, but neither installs nor removes
// their MDB entries, nor relays the port's reports: the bridge does both.
func TestKernelLearnsPortWritesNoEntriesAndRelaysNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  *wire.Message
	}{
		{"IGMPv2 report", report(2, grp)},
		{"IGMPv3 report", v3(rec(wire.ModeIsExclude))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			withRouterUplink(t, e)
			if acts := e.SetKernelLearns(t0, hostA, true); len(acts) != 0 {
				t.Fatalf("switching a port without memberships: %+v", acts)
			}
			acts := e.HandleMessage(t0, hostA, tc.msg, rawFrame)
			if in := kinds(acts, ActInstall); len(in) != 0 {
				t.Errorf("installs %+v on a port where the kernel learns", in)
			}
			if n := relayed(acts, uplink); n != 0 {
				t.Errorf("relayed %d times: the bridge forwards the port's reports itself", n)
			}
			if !isMember(e, hostA, grp) || len(e.Groups(t0)) != 1 {
				t.Fatalf("membership not learned: %+v", e.Groups(t0))
			}
			// The same report on a port where we learn: installed, relayed.
			acts = e.HandleMessage(t0, hostB, tc.msg, rawFrame)
			if len(kinds(acts, ActInstall)) != 1 || relayed(acts, uplink) != 1 {
				t.Errorf("normal port: actions %+v, want one install and one relay", acts)
			}
			// Ageing: the membership goes, its entry is the kernel's.
			acts = run(e, t0.Add(e.cfg.GroupMembershipInterval()+1))
			for _, a := range kinds(acts, ActRemove) {
				if a.Port == hostA {
					t.Errorf("removed the kernel's entry on the port: %+v", a)
				}
			}
			if isMember(e, hostA, grp) || isMember(e, hostB, grp) {
				t.Error("memberships did not age out")
			}
			if err := e.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A leave on such a port is followed as anywhere (last-member queries out
// of the port make the other stations answer), and is not relayed.
func TestKernelLearnsPortLeave(t *testing.T) {
	e := newEngine(t)
	withRouterUplink(t, e)
	e.SetKernelLearns(t0, hostA, true)
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	acts := e.HandleMessage(t0, hostA, leave(grp), rawFrame)
	if relayed(acts, uplink) != 0 {
		t.Error("leave relayed")
	}
	if qs := queries(t, acts); len(qs) != 1 || qs[0].Group != grp {
		t.Errorf("queries %+v, want one group-specific query", qs)
	}
	acts = run(e, t0.Add(e.cfg.LastMemberQueryTime()+1))
	if len(kinds(acts, ActRemove)) != 0 || isMember(e, hostA, grp) {
		t.Errorf("after the leave: removes %+v, member %v", kinds(acts, ActRemove), isMember(e, hostA, grp))
	}
	if ev := events(acts); len(ev) != 1 || ev[0] != EventLeave {
		t.Errorf("events %v, want leave", ev)
	}
}

// What the port's policy says still holds for what the engine learns and
// counts: a denied group is refused (and the daemon removes the kernel's
// entry for it at its MDB check), the group limit counts.
func TestKernelLearnsPortPolicy(t *testing.T) {
	deny := &Profile{Name: "none", Rules: []Rule{{First: grp, Last: grp}}, DefaultPermit: true}
	e := newEngine(t, withPort("a", PortPolicy{Profile: deny, MaxGroups: 1}))
	e.SetKernelLearns(t0, hostA, true)
	acts := e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	if isMember(e, hostA, grp) || len(events(acts)) != 1 || events(acts)[0] != EventFilterDeny {
		t.Errorf("denied group: member %v, events %v", isMember(e, hostA, grp), events(acts))
	}
	e.HandleMessage(t0, hostA, report(2, addr(230)), rawFrame) // not a group: ignored
	g1, g2 := netip.MustParseAddr("239.5.5.1"), netip.MustParseAddr("239.5.5.2")
	e.HandleMessage(t0, hostA, report(2, g1), rawFrame)
	acts = e.HandleMessage(t0, hostA, report(2, g2), rawFrame)
	if !isMember(e, hostA, g1) || isMember(e, hostA, g2) || len(events(acts)) != 1 || events(acts)[0] != EventLimit {
		t.Errorf("limit: members %v %v, events %v", isMember(e, hostA, g1), isMember(e, hostA, g2), events(acts))
	}
	if v := e.Ports(); v[0].Port != "a" || !v[0].McastToUnicast || v[0].Groups != 1 {
		t.Errorf("port view %+v, want a with mcast_to_unicast and 1 group", v[0])
	}
}

// Switching the mode at run time: on, the port's entries go (the kernel's
// learned copies take over at the stations' next reports); off, the
// engine installs what it knows. Static groups stay the engine's.
func TestKernelLearnsSwitching(t *testing.T) {
	static := netip.MustParseAddr("239.7.7.7")
	e := newEngine(t, withPort("a", PortPolicy{StaticGroups: []StaticGroup{{Group: static}}}))
	e.PortUp(t0, hostA, "a")
	e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
	acts := e.SetKernelLearns(t0, hostA, true)
	if rm := kinds(acts, ActRemove); len(rm) != 1 || rm[0].Key != grpKey || rm[0].Port != hostA || len(acts) != 1 {
		t.Fatalf("switching on: %+v, want the learned group's entry removed, the static one kept", acts)
	}
	if acts := e.SetKernelLearns(t0, hostA, true); len(acts) != 0 {
		t.Fatalf("switching on again: %+v", acts)
	}
	if !e.KernelLearns(hostA) || e.KernelLearns(hostB) || e.KernelLearns(42) {
		t.Fatal("KernelLearns")
	}
	// A refresh while the kernel learns writes nothing.
	if in := kinds(e.HandleMessage(t0.Add(e.cfg.MDBRefreshInterval), hostA, report(2, grp), rawFrame), ActInstall); len(in) != 0 {
		t.Fatalf("refresh installed %+v", in)
	}
	acts = e.SetKernelLearns(t0, hostA, false)
	if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Key != grpKey || in[0].Port != hostA || len(acts) != 1 {
		t.Fatalf("switching off: %+v, want the learned group installed", acts)
	}
	// The port going down while the kernel learns: nothing of ours but
	// the static group to remove.
	e.SetKernelLearns(t0, hostA, true)
	acts = e.PortDown(t0, hostA)
	if rm := kinds(acts, ActRemove); len(rm) != 1 || rm[0].Key.Group != static {
		t.Fatalf("port down: removes %+v, want the static group's only", rm)
	}
	if acts := e.SetKernelLearns(t0, 42, true); len(acts) != 0 || e.KernelLearns(42) {
		t.Fatal("an unknown port changed")
	}
	if err := e.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// Switching a port to kernel learning gives back the (S,G) keys its
// source-specific entries held: the bridge-wide key count (which keeps
// the MDB under mcast_hash_max) matches what stays installed.
func TestKernelLearnsGivesBackSourceKeys(t *testing.T) {
	e := newEngine(t)
	src := netip.MustParseAddr("10.77.0.9")
	e.HandleMessage(t0, hostA, v3(wire.GroupRecord{Type: wire.ModeIsInclude, Group: grp, Sources: []netip.Addr{src}}), rawFrame)
	if len(e.srcKeys) != 1 {
		t.Fatalf("%d source keys after an INCLUDE join, want 1", len(e.srcKeys))
	}
	e.SetKernelLearns(t0, hostA, true)
	if len(e.srcKeys) != 0 {
		t.Errorf("source keys after switching to kernel learning: %v, want none", e.srcKeys)
	}
	if err := e.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
