package integration

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/lab"
)

// station is a Wi-Fi station behind the access point, and what it sniffs.
type station struct {
	host lab.Host
	mac  net.HardwareAddr
	sn   *lab.Sniffer
}

// addAccessPoint plugs an "access point" into port ap0 of the switch
// bridge: a namespace whose bridge (not snooping, as a Wi-Fi AP sends a
// group-addressed frame to every station) connects two station
// namespaces. Unicast frames reach only the station they are addressed to.
func addAccessPoint(t *testing.T, l *lab.Lab) []*station {
	t.Helper()
	prefix := strings.TrimSuffix(l.Switch, "-sw")
	ap := prefix + "-ap"
	if err := l.AddNetns(ap); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{
		{"link", "add", "ap0", "netns", l.Switch, "type", "veth", "peer", "name", "eth0", "netns", ap},
		{"-n", l.Switch, "link", "set", "ap0", "master", l.Bridge},
		{"-n", l.Switch, "link", "set", "ap0", "up"},
		{"-n", ap, "link", "add", "apbr", "type", "bridge", "mcast_snooping", "0"},
		{"-n", ap, "link", "set", "eth0", "master", "apbr"},
		{"-n", ap, "link", "set", "eth0", "up"},
		{"-n", ap, "link", "set", "apbr", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatal(err)
		}
	}
	var out []*station
	for i := 1; i <= 2; i++ {
		h := lab.Host{Name: fmt.Sprintf("%s-s%d", prefix, i), Port: "ap0", Addr: netip.AddrFrom4([4]byte{10, 77, 0, byte(30 + i)})}
		if err := l.AddNetns(h.Name); err != nil {
			t.Fatal(err)
		}
		w := fmt.Sprintf("wl%d", i)
		for _, s := range [][]string{
			{"link", "add", w, "netns", ap, "type", "veth", "peer", "name", "eth0", "netns", h.Name},
			{"-n", ap, "link", "set", w, "master", "apbr"},
			{"-n", ap, "link", "set", w, "up"},
			{"-n", h.Name, "link", "set", "eth0", "up"},
			{"-n", h.Name, "addr", "add", h.Addr.String() + "/24", "dev", "eth0"},
		} {
			if err := ip(s...); err != nil {
				t.Fatal(err)
			}
		}
		st := &station{host: h}
		err := lab.InNetns(h.Name, func() error {
			ifi, err := net.InterfaceByName("eth0")
			st.mac = ifi.HardwareAddr
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if st.sn, err = l.Sniff(h.Name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.sn.Close() })
		out = append(out, st)
	}
	return out
}

// groupFrames counts the UDP frames to group a station's sniffer saw since
// its last Reset: addressed to its own MAC, and to any other MAC.
func (s *station) groupFrames(group netip.Addr) (own, other int) {
	for _, f := range s.sn.Frames() {
		d := f.Data
		if len(d) < 34 || d[12] != 0x08 || d[13] != 0x00 || d[23] != 17 || netip.AddrFrom4([4]byte(d[30:34])) != group {
			continue
		}
		if bytes.Equal(d[:6], s.mac) {
			own++
		} else {
			other++
		}
	}
	return own, other
}

// apEntries counts the MDB entries for group on ap0, as `bridge mdb show`
// lists them: the kernel's, one per station (the dump the daemon reads
// keeps one entry per port and group), and ours, one for the port.
func apEntries(t *testing.T, l *lab.Lab, group netip.Addr) (kernel, ours int, dump string) {
	t.Helper()
	out, err := l.Exec(l.Switch, "bridge", "-d", "mdb", "show", "dev", l.Bridge)
	if err != nil {
		t.Fatalf("bridge mdb show: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "port ap0 grp "+group.String()+" ") || strings.Contains(line, " src ") {
			continue
		}
		switch {
		case strings.Contains(line, "proto kernel"):
			kernel++
		case strings.Contains(line, fmt.Sprintf("proto %d", ourProto)) || strings.Contains(line, "proto igmpsnoop"):
			ours++
		}
	}
	return kernel, ours, out
}

// TestWiFiMcastToUnicast: an access point behind a port with
// mcast_to_unicast on (switched on while the daemon runs). Each station
// receives the group addressed to its own MAC, as with the kernel's own
// snooping, never group-addressed (which an access point would send to
// every station); a leave of one station stops its copies and keeps the
// other's. An ordinary port beside it is still pruned by the daemon.
func TestWiFiMcastToUnicast(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 1})
	h1 := l.Hosts[0]
	stations := addAccessPoint(t, l)
	s1, s2 := stations[0], stations[1]
	d := startDaemon(t, l, fastTimers...)

	// The flag changes at run time: the daemon follows it.
	if err := ip("-n", l.Switch, "link", "set", "ap0", "type", "bridge_slave", "mcast_to_unicast", "on"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "show ports: ap0 mcast-to-unicast", func() (bool, string) {
		out, err := d.ShowCLI("ports")
		return err == nil && strings.Contains(out, "mcast-to-unicast"), out
	})

	caps := map[string]*lab.Capture{}
	for _, ns := range []string{h1.Name, l.Router} {
		c, err := l.Capture(ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		caps[ns] = c
	}
	m1, err := l.Join(s1.host, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Leave()
	m2, err := l.Join(s2.host, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Leave()
	joinLearned(t, l, d, h1, g3) // the ordinary port: the daemon's entry
	waitFor(t, 10*time.Second, "both stations learned by the kernel and shown by the daemon", func() (bool, string) {
		kernel, ours, dump := apEntries(t, l, g1)
		g, ok, seen := member(t, d, g1, "ap0")
		return kernel == 2 && ours == 0 && ok && len(g.Reporters) == 2, fmt.Sprintf("kernel %d, ours %d, groups %s, reporters %v, MDB:\n%s", kernel, ours, seen, g.Reporters, dump)
	})
	if _, byGroup := portEntries(l, mdb(t, l)); len(byGroup[g3]) != 1 || byGroup[g3][0].Proto != ourProto {
		t.Errorf("ordinary port h1: entries %+v for %v, want one of ours", byGroup[g3], g3)
	}
	// The reports reached the router: the bridge forwarded them, the daemon
	// relayed none of them (it would duplicate them).
	if n := caps[l.Router].IGMPFrom(s1.host.Addr); n == 0 {
		t.Error("the router heard no report from station 1")
	}

	const n = 50
	send := func() {
		for _, s := range stations {
			s.sn.Reset()
		}
		for _, c := range caps {
			c.Reset()
		}
		if err := l.Send(g1, n, 10*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	send()
	for i, s := range stations {
		own, other := s.groupFrames(g1)
		if own < n-2 || other != 0 {
			t.Errorf("station %d: %d of %d frames addressed to its MAC, %d to another (the group's): want all unicast", i+1, own, n, other)
		}
	}
	if got := caps[h1.Name].Count(g1); got != 0 {
		t.Errorf("ordinary port h1, not a member: received %d of %d frames, want 0 (pruned)", got, n)
	}

	// Station 1 leaves: its copies stop, station 2 keeps its own.
	if err := m1.Leave(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the kernel to drop station 1's port group", func() (bool, string) {
		kernel, ours, dump := apEntries(t, l, g1)
		return kernel == 1 && ours == 0, fmt.Sprintf("kernel %d, ours %d, MDB:\n%s", kernel, ours, dump)
	})
	send()
	own1, other1 := s1.groupFrames(g1)
	own2, other2 := s2.groupFrames(g1)
	if own1 != 0 || other1 != 0 {
		t.Errorf("station 1 after its leave: %d frames to its MAC, %d to another, want none", own1, other1)
	}
	if own2 < n-2 || other2 != 0 {
		t.Errorf("station 2 after station 1's leave: %d of %d frames to its MAC, %d to another, want all to its MAC", own2, n, other2)
	}
	if got := caps[h1.Name].Count(g1); got != 0 {
		t.Errorf("ordinary port h1: received %d frames of %v", got, g1)
	}
	g, ok, _ := member(t, d, g1, "ap0")
	if !ok || len(g.Reporters) != 1 || g.Reporters[0] != s2.host.Addr.String() {
		t.Errorf("show groups after the leave: %+v (shown %v), want station 2 as the only reporter", g, ok)
	}

	// Switched off (with the other tool): the daemon takes over, the
	// kernel's entries go and ours comes.
	if err := l.Run(l.Switch, "bridge", "link", "set", "dev", "ap0", "mcast_to_unicast", "off"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the daemon's entry in place of the kernel's", func() (bool, string) {
		kernel, ours, dump := apEntries(t, l, g1)
		return kernel == 0 && ours == 1, fmt.Sprintf("kernel %d, ours %d, MDB:\n%s", kernel, ours, dump)
	})
	if out, err := d.ShowCLI("ports"); err != nil || strings.Contains(out, "mcast-to-unicast") {
		t.Errorf("show ports after switching off: %v\n%s", err, out)
	}
	if strings.Contains(d.Log(), "MDB remove failed") {
		t.Error("the daemon logged failed removals")
	}
}
