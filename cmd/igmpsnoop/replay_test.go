package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/igmpsnoop/igmpsnoop/replay"
)

// The engine's own tests are in package replay; these are the command's.

const replayTestdata = "../../wire/testdata"

// TestReplayExitStatus: 0 for a capture read to its end, refusals
// included; 1 for a file that cannot be read; 2 for bad flags, each named;
// 0 for help, which holds the replay's description and these statuses.
func TestReplayExitStatus(t *testing.T) {
	fixture := filepath.Join(replayTestdata, "synthetic.pcap") // holds refusals
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{fixture}, 0, ""},
		{[]string{fixture, "-v", "--json"}, 0, ""}, // flags after the file
		{[]string{filepath.Join(t.TempDir(), "missing.pcap")}, 1, "missing.pcap"},
		{[]string{filepath.Join(replayTestdata, "README.md")}, 1, "not a pcap or pcapng capture"},
		{[]string{}, 2, "which capture?"},
		{[]string{fixture, fixture}, 2, "one capture at a time"},
		{[]string{"--robustness", "x", fixture}, 2, `--robustness "x": not a whole number`},
		{[]string{"--bogus", fixture}, 2, "unknown flag: --bogus"},
		{[]string{"--until", "-1s", fixture}, 2, `--until "-1s": must not be negative`},
		{[]string{"--until", "5", fixture}, 2, `--until "5": needs a unit, e.g. 5s`},
		{[]string{"--query-interval", "soon", fixture}, 2, `--query-interval "soon": not a duration`},
		{[]string{"--robustness", "9", fixture}, 2, "robustness 9"},
		{[]string{"--query-interval", "1s", "--query-response-interval", "2s", fixture}, 2, "query response interval"},
		{[]string{"-h"}, 0, "igmpsnoop replay FILE [flags]"},
		{[]string{"--help"}, 0, "Exit status: 0 when the capture was read to its end"},
		{[]string{"--help"}, 0, "--until DUR"},
		{[]string{"--help"}, 0, "-v, --verbose"},
		{[]string{"--help"}, 0, replay.Description[:60]},
	}
	for _, tt := range tests {
		var out bytes.Buffer // help goes to stdout, errors to stderr
		code := realMain(append([]string{"replay"}, tt.args...), &out, &out)
		if code != tt.code || !strings.Contains(out.String(), tt.want) {
			t.Errorf("replay %q: exit %d, output %q; want %d and %q", tt.args, code, out.String(), tt.code, tt.want)
		}
	}
}

// TestReplayFlags: each flag reaches the engine, and the final tables are
// show's. synthetic.pcap has VLAN 100 memberships and IGMPv3/MLDv2 source
// lists, IGMP_V2.pcap a leave, eapon1.pcap a join and no querier.
func TestReplayFlags(t *testing.T) {
	const synthetic, v2, eapon = "synthetic.pcap", "IGMP_V2.pcap", "eapon1.pcap"
	tests := []struct {
		file     string
		args     []string
		has, not string
	}{
		{synthetic, nil, "\nff3e::1         02:00:00:00:00:01  2001:db8::1  v2      915.8s   13s", "VLAN  GROUP"},
		{synthetic, []string{"--vlan-filtering"}, "\n100   ff3e::1         02:00:00:00:00:01  2001:db8::1  v2      247.0s   13s", "\nff3e::1  "},
		{synthetic, nil, "install ff3e::9 on 02:00:00:00:00:01 mode include {2001:db8::7,2001:db8::8}", "limit_hit"},
		{synthetic, []string{"--any-source"}, "install ff3e::9 on 02:00:00:00:00:01 mode exclude {}", "mode include"},
		{synthetic, []string{"--max-sources", "1"}, "limit_hit ff3e::9 on 02:00:00:00:00:01 by 2001:db8::8", ""},
		{synthetic, nil, "\nrouter ports:\nBRIDGE  PORT               VLAN  PROTO  VIA  EXPIRES\n", ""},
		{synthetic, []string{"--until", "20m"}, "groups 20m0s after the last frame", ""},
		{v2, []string{"--last-member-interval", "2s"}, "query 225.1.1.3 out of 00:02:02:19:51:28 (igmp v2 from 0.0.0.0, maxresp 2s)", "from 0.0.0.0, maxresp 1s"},
		// Leave at 19.52 s: three queries 2 s apart, then the removal.
		{v2, []string{"--last-member-count", "3", "--last-member-interval", "2s"}, "25.522691s                     timers\n                       remove 225.1.1.3", ""},
		// Join at 69.73 s, expired one membership interval (1 × 4 + 1 s) later.
		{eapon, []string{"--robustness", "1", "--query-interval", "4s", "--query-response-interval", "1s", "--until", "6s"},
			"74.733364s                     timers\n                       remove 239.255.255.250", ""},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		args := append([]string{"replay"}, append(tt.args, filepath.Join(replayTestdata, tt.file))...)
		if code := realMain(args, &out, &errOut); code != 0 {
			t.Fatalf("igmpsnoop %q: exit %d, %s", args, code, errOut.String())
		}
		if !strings.Contains(out.String(), tt.has) || tt.not != "" && strings.Contains(out.String(), tt.not) {
			t.Errorf("replay %q: output has not %q, or has %q:\n%s", args, tt.has, tt.not, out.String())
		}
	}
}
