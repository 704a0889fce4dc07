package main

import (
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// An EXCLUDE (X, Y) membership prints Y on its row ("* but Y") and each
// requested source of X on a row of its own, with its own timer: the MDB
// entry carries only Y, so this is the only place X can be seen.
func TestShowGroupsPrintsRequestedSources(t *testing.T) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	printGroups(tw, []snoop.GroupView{{
		Bridge: "br0", Group: "239.1.1.1", Port: "h1", Mode: "exclude", Version: 3, Compat: "v3",
		ExpiresMs: 250000, SinceMs: 725000, Excluded: []string{"10.0.0.9"},
		Requested: []snoop.SourceTimerView{{Source: "10.0.0.5", ExpiresMs: 3100}},
		Reporters: []string{"10.77.0.11"},
	}})
	tw.Flush()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s\nwant a bridge line, a header and two rows", b.String())
	}
	for i, want := range [][]string{
		{"239.1.1.1", "h1", "* but 10.0.0.9", "v3", "250.0s", "12m05s", "10.77.0.11"},
		{"239.1.1.1", "h1", "10.0.0.5 requested", "v3", "3.1s", "12m05s", "-"},
	} {
		row := lines[2+i]
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("row %q lacks %q", row, w)
			}
		}
	}
}

// Ports and groups get a PEER column when something is known to be
// behind a port ("-" where not), and none otherwise.
func TestShowPeers(t *testing.T) {
	peer := &snoop.PeerView{Ifname: "eth0", NetnsID: 1, Netns: "web"}
	table := func(print func(*tabwriter.Writer)) []string {
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		print(tw)
		tw.Flush()
		return strings.Split(strings.TrimSpace(b.String()), "\n")
	}
	ports := []snoop.PortView{{Bridge: "br0", Port: "p1", Peer: peer}, {Bridge: "br0", Port: "p2"}}
	lines := table(func(tw *tabwriter.Writer) { printPorts(tw, &reply{Ports: ports}) })
	if !strings.HasSuffix(strings.TrimSpace(lines[0]), "PEER") || !strings.HasSuffix(lines[1], "ns:web/eth0") || !strings.HasSuffix(lines[2], "-") {
		t.Errorf("ports table:\n%s\nwant a PEER column: ns:web/eth0 for p1, - for p2", strings.Join(lines, "\n"))
	}
	lines = table(func(tw *tabwriter.Writer) { printPorts(tw, &reply{Ports: ports[1:]}) })
	if strings.Contains(lines[0], "PEER") {
		t.Errorf("ports table without peers:\n%s\nwant no PEER column", strings.Join(lines, "\n"))
	}
	groups := []snoop.GroupView{{Bridge: "br0", Group: "239.1.1.1", Port: "p1", Peer: peer, Mode: "exclude",
		Requested: []snoop.SourceTimerView{{Source: "10.0.0.5", ExpiresMs: 1000}}}}
	lines = table(func(tw *tabwriter.Writer) { printGroups(tw, groups) })
	if f := strings.Fields(lines[1]); len(f) < 3 || f[1] != "PORT" || f[2] != "PEER" {
		t.Errorf("groups header %q, want PEER after PORT", lines[1])
	}
	for _, row := range lines[2:] {
		if f := strings.Fields(row); len(f) < 3 || f[2] != "ns:web/eth0" {
			t.Errorf("groups row %q, want ns:web/eth0 after the port", row)
		}
	}
	groups[0].Peer = nil
	lines = table(func(tw *tabwriter.Writer) { printGroups(tw, groups) })
	if strings.Contains(lines[1], "PEER") {
		t.Errorf("groups header %q without peers, want no PEER", lines[1])
	}
}

// UPTIME prints in its two largest units, at most 6 characters, so the
// groups table fits 80 columns for IPv4.
func TestUptimeText(t *testing.T) {
	for _, tt := range []struct {
		ms   int64
		want string
	}{
		{0, "0s"}, {999, "0s"}, {59999, "59s"}, {60000, "1m00s"}, {3599000, "59m59s"},
		{3600000, "1h00m"}, {86399000, "23h59m"}, {86400000, "1d00h"}, {99*86400000 + 23*3600000, "99d23h"},
	} {
		if got := uptime(tt.ms); got != tt.want {
			t.Errorf("uptime(%d) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}
