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
