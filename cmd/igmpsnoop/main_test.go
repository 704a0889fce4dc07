package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

func TestParseRunFlags(t *testing.T) {
	r, err := parseRun([]string{"--bridge", "br0", "--bridge", "br1", "--query-interval", "2s", "--query-response-interval", "1s",
		"--last-member-interval", "500ms", "--last-member-count", "3", "--robustness", "3", "--fast-leave", "p1", "--static-router", "up",
		"--querier", "--querier-address", "10.0.0.1", "--max-groups-per-port", "5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, s, err := r.settings()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Bridges) != 2 || s.Bridges[0].Name != "br0" || s.Bridges[1].Name != "br1" {
		t.Fatalf("bridges %+v", s.Bridges)
	}
	c := s.Bridges[1].Engine
	if c.QueryInterval != 2*time.Second || c.QueryResponseInterval != time.Second || c.LastMemberQueryInterval != 500*time.Millisecond ||
		c.LastMemberQueryCount != 3 || c.Robustness != 3 || !c.Ports["p1"].FastLeave || !c.Ports["up"].Router || c.Bridge != "br1" ||
		!c.Querier || c.QuerierAddr4 != netip.MustParseAddr("10.0.0.1") || c.PortDefault.MaxGroups != 5 || c.Ports["p1"].MaxGroups != 5 {
		t.Fatalf("config = %+v", c)
	}
	if c.MDBRefreshInterval != time.Second {
		t.Fatalf("MDB refresh interval %v, want the query response interval", c.MDBRefreshInterval)
	}
	if s.Socket != DefaultSocket || s.Proto != 77 || s.Bridges[0].MaxGroupsSet {
		t.Fatalf("defaults: %+v", s)
	}
}

func TestParseRunRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "--bridge or --config is required"},
		{[]string{"--bridge", "br0", "--robustness", "0"}, "robustness 0"},
		{[]string{"--bridge", "br0", "--query-interval", "5s", "--query-response-interval", "5s"}, "query response interval"},
		{[]string{"--bridge", "br0", "--proto", "2"}, "proto 2"},
		{[]string{"--bridge", "br0", "extra"}, "unexpected argument"},
		{[]string{"--bridge", "br0", "--querier-address", "fe80::1"}, "not an IPv4 address"},
		{[]string{"--config", "/nonexistent/igmpsnoop.yaml"}, "no such file"},
	}
	for _, tt := range tests {
		_, err := parseRun(tt.args, io.Discard)
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &ue) {
			t.Errorf("parseRun(%q) = %v, want a usage error containing %q", tt.args, err, tt.want)
		}
	}
	if _, err := parseRun([]string{"--robustness", "x"}, io.Discard); err == nil {
		t.Error("bad flag value accepted")
	}
	if _, err := parseRun([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestRealMainExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := realMain([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "igmpsnoop ") {
		t.Fatalf("version: code %d out %q", code, out.String())
	}
	if code := realMain([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown command: code %d", code)
	}
	if code := realMain([]string{"show", "nothing"}, &out, &errOut); code != 2 {
		t.Fatalf("show nothing: code %d", code)
	}
	if code := realMain([]string{"show", "groups", "--group", "not-an-address"}, &out, &errOut); code != 2 {
		t.Fatalf("show groups with a bad --group: code %d", code)
	}
	errOut.Reset()
	if code := realMain([]string{"show", "groups", "--socket", t.TempDir() + "/none.sock"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "no daemon at") {
		t.Fatalf("show without daemon: code %d stderr %q", code, errOut.String())
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
	for i, g := range []string{"239.255.0.1", "239.1.0.1"} {
		e.HandleMessage(now, 3+i, &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2, Src: netip.MustParseAddr("10.0.0.7"), Group: netip.MustParseAddr(g)}, nil)
	}
	var r reply
	r.add(filterGroups(e.Groups(now.Add(time.Second)), Request{Group: "239.255.0.0/16"}))
	var b bytes.Buffer
	if err := printTable(&b, "groups", &r); err != nil {
		t.Fatal(err)
	}
	want := "bridge br0\n" +
		"GROUP        PORT        SOURCE  MODE     VER  EXPIRES  REPORTERS\n" +
		"239.255.0.1  veth-host1  *       exclude  v2   259.0s   10.0.0.7\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	r = reply{}
	r.add(filterGroups(e.Groups(now), Request{Port: "veth-host2"}))
	if len(r.Groups) != 1 || r.Groups[0].Group != "239.1.0.1" {
		t.Fatalf("port filter: %+v", r.Groups)
	}
	for _, what := range []string{"ports", "stats", "querier", "routers"} {
		var r reply
		r.add(e.Ports())
		r.add(e.Stats())
		r.add(e.Queriers(now))
		r.add(e.Routers(now))
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
	if _, err := (&reply{}).forCommand("bogus"); err == nil {
		t.Fatal("unknown command not refused")
	}
}
