package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/igmpsnoop/igmpsnoop/config"
	"github.com/igmpsnoop/igmpsnoop/daemon"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// parseRun parses run's flags and loads the settings, as `run` does.
func parseRun(args ...string) (*daemon.Settings, error) {
	var r runFlags
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return r.settings()
}

func TestParseRunFlags(t *testing.T) {
	s, err := parseRun("--bridge", "br0", "--bridge", "br1", "--query-interval", "2s", "--query-response-interval", "1s",
		"--last-member-interval", "500ms", "--last-member-count", "3", "--robustness", "3", "--fast-leave", "p1", "--static-router", "up",
		"--querier", "--querier-address", "10.0.0.1", "--max-groups-per-port", "5", "--flood", "tv", "--any-source", "--handover=false",
		"--ssm-range", "232.1.0.0/16", "--ssm-range", "ff3e::/96", "--querier-port", "up", "--socket", "/tmp/s", "--proto", "99", "--group-metrics")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Bridges) != 2 || s.Bridges[0].Name != "br0" || s.Bridges[1].Name != "br1" {
		t.Fatalf("bridges %+v", s.Bridges)
	}
	c := s.Bridges[1].Engine
	if c.QueryInterval != 2*time.Second || c.QueryResponseInterval != time.Second || c.LastMemberQueryInterval != 500*time.Millisecond ||
		c.LastMemberQueryCount != 3 || c.Robustness != 3 || !c.Ports["p1"].FastLeave || !c.Ports["up"].Router || c.Bridge != "br1" ||
		!c.Querier || c.QuerierAddr4 != netip.MustParseAddr("10.0.0.1") || c.PortDefault.MaxGroups != 5 || c.Ports["p1"].MaxGroups != 5 ||
		!c.Ports["tv"].Flood || fmt.Sprint(c.SSMRanges) != "[232.1.0.0/16 ff3e::/96]" || fmt.Sprint(c.QuerierPorts) != "[up]" {
		t.Fatalf("config = %+v", c)
	}
	if c.MDBRefreshInterval != time.Second {
		t.Fatalf("MDB refresh interval %v, want the query response interval", c.MDBRefreshInterval)
	}
	if s.Socket != "/tmp/s" || s.Proto != 99 || s.Bridges[0].MaxGroupsSet || !s.Bridges[0].AnySource || s.Bridges[0].Handover || !s.Bridges[1].GroupMetrics {
		t.Fatalf("settings: %+v", s)
	}
	if s, err = parseRun("--bridge", "br0"); err != nil || s.Socket != config.DefaultSocket || s.Proto != 77 || s.LogLevel != "info" {
		t.Fatalf("defaults: %+v, %v", s, err)
	}
}

// TestRunRefuses: every mistake in run's command line exits 2 with a
// message naming what is wrong (the flag, for a flag's value).
func TestRunRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "--bridge or --config is required"},
		{[]string{"--bridge", "br0", "--robustness", "0"}, `--robustness "0": must be 1..7`},
		{[]string{"--bridge", "br0", "--query-interval", "5s", "--query-response-interval", "5s"}, "query response interval"},
		{[]string{"--bridge", "br0", "--proto", "2"}, `--proto "2": must be 4..255`},
		{[]string{"--bridge", "br0", "extra"}, `unexpected argument "extra"`},
		{[]string{"--bridge", "br0", "--querier-address", "fe80::1"}, `--querier-address "fe80::1": not an IPv4 address`},
		{[]string{"--bridge", "br0", "--query-interval", "5"}, `--query-interval "5": needs a unit, e.g. 5s`},
		{[]string{"--bridge", "br0", "--last-member-interval", "soon"}, `--last-member-interval "soon": not a duration`},
		{[]string{"--bridge", "br0", "--robustness", "x"}, `--robustness "x": not a whole number`},
		{[]string{"--bridge", "br0", "--ssm-range", "10.0.0.0/8"}, `--ssm-range "10.0.0.0/8": not a multicast prefix`},
		{[]string{"--bridge", "br0", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"--bridge", "br0", "--log-format", "xml"}, `--log-format "xml": must be console or json`},
		{[]string{"--bridge", "br0", "--querier=maybe"}, `--querier "maybe"`},
		{[]string{"--bridge", "br0", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"--bridge"}, "flag needs an argument: --bridge"},
		{[]string{"--config", "/nonexistent/igmpsnoop.yaml"}, "no such file"},
		{[]string{"--bridge", "br0", "--max-sources", "0"}, `--max-sources "0": must be at least 1`},
		{[]string{"--bridge", "br0", "--max-groups", "-1"}, `--max-groups "-1": must be at least 1`},
		{[]string{"--bridge", "br0", "--max-groups", "0"}, `--max-groups "0": must be at least 1`},
		{[]string{"--bridge", "br0", "--max-groups-per-port", "-1"}, `--max-groups-per-port "-1": must not be negative (0: no limit)`},
		{[]string{"--bridge", "br0", "--querier-address", "224.0.0.1"}, `--querier-address "224.0.0.1": a multicast address cannot`},
		{[]string{"--bridge", "br0", "--querier-address", "0.0.0.0"}, `--querier-address "0.0.0.0": 0.0.0.0 is what`},
		{[]string{"--bridge", "br0", "--querier-address", "255.255.255.255"}, `--querier-address "255.255.255.255": the broadcast address`},
		{[]string{"--bridge", "br0", "--robustness", "8"}, `--robustness "8": must be 1..7`},
		{[]string{"--bridge", "br0", "--last-member-count", "0"}, `--last-member-count "0": must be 1..255`},
		{[]string{"--bridge", "br0", "--proto", "256"}, `--proto "256": must be 4..255`},
		{[]string{"--bridge", "br0", "--query-interval", "5s"}, "bridge br0: query_response_interval (--query-response-interval), not set, is its default 10s"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := realMain(append([]string{"run"}, tt.args...), &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("run %q: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut.String(), tt.want)
		}
		if strings.Contains(errOut.String(), "line ") { // no file: no line to name
			t.Errorf("run %q: stderr %q names a line", tt.args, errOut.String())
		}
	}
}

func TestRealMainExitCodes(t *testing.T) {
	none := t.TempDir() + "/none.sock"
	tests := []struct {
		args       []string
		code       int
		out, noOut string // in stdout, and not in it
		errOut     string // in stderr
	}{
		{args: []string{"version"}, out: "igmpsnoop "},
		{args: []string{}, code: 2, errOut: "Available Commands:"},
		{args: []string{"frobnicate"}, code: 2, errOut: `unknown command "frobnicate"`},
		{args: []string{"show"}, code: 2, errOut: "show: what? groups, ports, routers, querier, stats, config"},
		{args: []string{"show", "nothing"}, code: 2, errOut: `show: unknown object "nothing"`},
		{args: []string{"show", "groups", "--group", "not-an-address"}, code: 2, errOut: `--group "not-an-address": not an address or prefix`},
		{args: []string{"show", "groups", "--timeout", "5"}, code: 2, errOut: `--timeout "5": needs a unit, e.g. 5s`},
		{args: []string{"show", "ports", "--port", "p1"}, code: 2, errOut: "unknown flag: --port"},
		{args: []string{"show", "groups", "--socket", none}, code: 1, errOut: "no daemon at"},
		{args: []string{"events", "--socket", none}, code: 1, errOut: "no daemon at"},
		{args: []string{"reload", "--socket", none}, code: 1, errOut: "no daemon at"},
		{args: []string{"check", "--socket", none}, code: 1, errOut: "no daemon at"},
		// Help, on every command, exits 0 and spells the flags GNU's way.
		{args: []string{"--help"}, out: "show"},
		{args: []string{"help", "show"}, out: "querier"},
		{args: []string{"show", "--help"}, out: "groups"},
		{args: []string{"show", "-h"}, out: "stats"},
		{args: []string{"show", "groups", "--help"}, out: "--group GROUP", noOut: "--bogus"},
		{args: []string{"show", "config", "--help"}, out: "--socket PATH", noOut: "--bridge"},
		{args: []string{"run", "--help"}, out: "--bridge NAME"},
		{args: []string{"run", "-h"}, out: "--query-interval DUR"},
		{args: []string{"events", "-h"}, out: "--json"},
		{args: []string{"completion", "bash"}, out: "bash completion"},
		{args: []string{"replay", "-h"}, out: "--query-interval DUR"},
		{args: []string{"replay", "--help"}, out: "Exit status"},
		{args: []string{"replay", "--until", "5", "x.pcap"}, code: 2, errOut: `--until "5": needs a unit, e.g. 5s`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := realMain(tt.args, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.errOut) ||
			(tt.noOut != "" && strings.Contains(out.String(), tt.noOut)) {
			t.Errorf("igmpsnoop %q: exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout with %q (without %q), stderr with %q",
				tt.args, code, out.String(), errOut.String(), tt.code, tt.out, tt.noOut, tt.errOut)
		}
	}
}

// fakeDaemon answers each connection's request line with answer's reply
// lines, and records the requests.
func fakeDaemon(t *testing.T, answer func(daemon.Request) []string) (socket string, requests <-chan daemon.Request) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	reqs := make(chan daemon.Request, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadBytes('\n')
			req, err := daemon.DecodeRequest(line)
			if err != nil {
				fmt.Fprintf(c, "{\"error\":%q}\n", err.Error())
			} else {
				reqs <- req
				for _, l := range answer(req) {
					fmt.Fprintln(c, l)
				}
			}
			c.Close()
		}
	}()
	return socket, reqs
}

// TestClient runs the commands against a fake daemon: the typed request
// each sends, the table or JSON each prints, the exit status.
func TestClient(t *testing.T) {
	const groups = `{"groups":[{"bridge":"br0","group":"239.1.1.1","port":"p1","mode":"exclude","version":2,"expires_ms":1500,"since_ms":3723000}]}`
	socket, reqs := fakeDaemon(t, func(r daemon.Request) []string {
		switch r.(type) {
		case daemon.GroupsRequest:
			return []string{groups}
		case daemon.ConfigRequest:
			return []string{`{"config":"socket: /x\n"}`}
		case daemon.ReloadRequest:
			return []string{`{"error":"no configuration file: started from flags"}`}
		case daemon.CheckRequest:
			return []string{`{"checks":[{"bridge":"br0","entries":3,"missing":1,"repaired":1}]}`}
		case daemon.EventsRequest:
			return []string{`{"time":"2026-01-02T03:04:05Z","bridge":"br0","event":"join","port":"p1","group":"239.1.1.1"}`}
		}
		return []string{`{"ok":true}`}
	})
	tests := []struct {
		args []string
		req  daemon.Request
		code int
		out  string
	}{
		{[]string{"show", "groups", "--bridge", "br0", "--port", "p1", "--group", "239.1.0.0/16"},
			daemon.GroupsRequest{Bridge: "br0", Port: "p1", Group: "239.1.0.0/16"}, 0, "239.1.1.1  p1    *       v2   1.5s     1h02m   -"},
		{[]string{"show", "groups", "--json"}, daemon.GroupsRequest{}, 0, groups + "\n"},
		{[]string{"show", "stats", "--bridge", "br1"}, daemon.StatsRequest{Bridge: "br1"}, 0, ""},
		{[]string{"show", "ports"}, daemon.PortsRequest{}, 0, "BRIDGE  PORT  STATE"},
		{[]string{"show", "routers"}, daemon.RoutersRequest{}, 0, "VIA"},
		{[]string{"show", "querier", "--bridge", "b"}, daemon.QuerierRequest{Bridge: "b"}, 0, "timers in force"},
		{[]string{"show", "config"}, daemon.ConfigRequest{}, 0, "socket: /x\n"},
		{[]string{"show", "config", "--bridge", "br0"}, daemon.ConfigRequest{}, 0, "socket: /x\n"}, // taken, as before
		{[]string{"reload"}, daemon.ReloadRequest{}, 1, ""},
		{[]string{"check", "--bridge", "br0"}, daemon.CheckRequest{Bridge: "br0"}, 1, "br0: DIFFERED: 3 entries, 1 missing"},
		{[]string{"events", "--json"}, daemon.EventsRequest{}, 1, `"event":"join"`},
		{[]string{"events", "--bridge", "br0"}, daemon.EventsRequest{Bridge: "br0"}, 1, " br0 join port=p1 group=239.1.1.1"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := realMain(append(tt.args, "--socket", socket), &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.out) {
			t.Errorf("igmpsnoop %q: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, out.String(), errOut.String(), tt.code, tt.out)
		}
		select {
		case req := <-reqs:
			if !reflect.DeepEqual(req, tt.req) {
				t.Errorf("igmpsnoop %q sent %#v, want %#v", tt.args, req, tt.req)
			}
		default:
			t.Errorf("igmpsnoop %q sent no request", tt.args)
		}
	}
}

// TestGroupsTable renders a real engine's view, filtered as the daemon
// filters it, and checks it fits an 80-column terminal.
func TestGroupsTable(t *testing.T) {
	c := snoop.DefaultConfig()
	c.Bridge = "br0"
	now := time.Unix(100, 0)
	e, err := snoop.New(c, now)
	if err != nil {
		t.Fatal(err)
	}
	e.PortUp(now, 3, "veth-host1")
	e.PortUp(now, 4, "veth-host2")
	e.HandleMessage(now, 3, &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2, Src: netip.MustParseAddr("10.0.0.7"), Group: netip.MustParseAddr("239.255.0.1")}, nil)
	r := daemon.Reply{Groups: e.Groups(now.Add(time.Second))}
	var b bytes.Buffer
	if err := printTable(&b, "groups", &r); err != nil {
		t.Fatal(err)
	}
	want := "bridge br0\n" +
		"GROUP        PORT        SOURCE  VER  EXPIRES  UPTIME  REPORTERS\n" +
		"239.255.0.1  veth-host1  *       v2   259.0s   1s      10.0.0.7\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	// A wide IPv4 row still fits with its uptime: the longest group, an
	// INCLUDE source row, reporters beyond the first, an uptime of days.
	wide := e.Groups(now.Add(time.Second))[0]
	wide.Group, wide.Source, wide.Mode, wide.Version, wide.Compat = "239.255.255.250", "10.77.0.201", "include", 3, "v3"
	wide.Reporters, wide.SinceMs = []string{"10.77.0.202", "10.77.0.203", "10.77.0.204"}, 99*86400000
	b.Reset()
	if err := printTable(&b, "groups", &daemon.Reply{Groups: []snoop.GroupView{wide}}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if len(line) > 80 {
			t.Errorf("show groups: line wider than 80 columns:\n%s", line)
		}
	}
	if !strings.Contains(b.String(), "99d00h") {
		t.Errorf("show groups: no uptime of 99 days:\n%s", b.String())
	}
	for _, what := range []string{"ports", "stats", "querier", "routers"} {
		r := daemon.Reply{Ports: e.Ports(), Stats: []snoop.Stats{e.Stats()}, Queriers: e.Queriers(now), Routers: e.Routers(now)}
		var b bytes.Buffer
		if err := printTable(&b, what, &r); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(b.String(), "\n") {
			if len(line) > 80 {
				t.Errorf("show %s: line wider than 80 columns:\n%s", what, line)
			}
		}
	}
	if err := printTable(&b, "bogus", &r); err == nil {
		t.Fatal("an unknown table was printed")
	}
}

// TestPrintChecks: every line `check` prints starts with the bridge it is
// about, so two bridges' results (and a check that failed) are told apart.
func TestPrintChecks(t *testing.T) {
	r := &daemon.Reply{Checks: []snoop.MDBCheck{
		{Bridge: "br0", Entries: 3},
		{Bridge: "br1", Entries: 2, Missing: 1, Repaired: 1},
		{Bridge: "br2", Error: "netlink: no buffer space"},
	}}
	var out bytes.Buffer
	if err := printChecks(&out, r); err == nil {
		t.Error("printChecks with a bridge that differed: no error")
	}
	want := []string{
		"br0: consistent: 3 entries, 0 missing, 0 extra, 0 different, 0 kernel-learned, 0 repaired",
		"br1: DIFFERED: 2 entries, 1 missing, 0 extra, 0 different, 0 kernel-learned, 1 repaired",
		"br2: DIFFERED: 0 entries, 0 missing, 0 extra, 0 different, 0 kernel-learned, 0 repaired",
		"br2: error: netlink: no buffer space",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("printChecks printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
