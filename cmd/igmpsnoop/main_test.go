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

func TestParseRun(t *testing.T) {
	o, err := parseRun([]string{"--bridge", "br0", "--query-interval", "2s", "--query-response-interval", "1s",
		"--last-member-interval", "500ms", "--last-member-count", "3", "--robustness", "3", "--fast-leave", "p1", "--fast-leave", "p2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.QueryInterval != 2*time.Second || c.QueryResponseInterval != time.Second || c.LastMemberQueryInterval != 500*time.Millisecond ||
		c.LastMemberQueryCount != 3 || c.Robustness != 3 || !c.FastLeave["p1"] || !c.FastLeave["p2"] || c.Bridge != "br0" {
		t.Fatalf("config = %+v", c)
	}
	if c.MDBRefreshInterval != time.Second {
		t.Fatalf("MDB refresh interval %v, want the query response interval", c.MDBRefreshInterval)
	}
	if o.socket != DefaultSocket || o.proto != 77 {
		t.Fatalf("defaults: socket %q proto %d", o.socket, o.proto)
	}
}

func TestParseRunRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "--bridge is required"},
		{[]string{"--bridge", "br0", "--robustness", "0"}, "robustness 0"},
		{[]string{"--bridge", "br0", "--query-interval", "5s", "--query-response-interval", "5s"}, "query response interval"},
		{[]string{"--bridge", "br0", "--proto", "2"}, "--proto 2"},
		{[]string{"--bridge", "br0", "extra"}, "unexpected argument"},
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
	errOut.Reset()
	if code := realMain([]string{"show", "groups", "--socket", t.TempDir() + "/none.sock"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "no daemon at") {
		t.Fatalf("show without daemon: code %d stderr %q", code, errOut.String())
	}
}

// TestGroupsTable renders a real engine's view.
func TestGroupsTable(t *testing.T) {
	c := snoop.DefaultConfig()
	c.Bridge = "br0"
	e, err := snoop.New(c)
	if err != nil {
		t.Fatal(err)
	}
	e.PortUp(3, "veth-host1")
	now := time.Unix(100, 0)
	e.HandleMessage(now, 3, &wire.Message{Kind: wire.KindReport, Proto: wire.IGMP, Version: 2, Src: netip.MustParseAddr("10.0.0.7"), Group: netip.MustParseAddr("239.255.0.1")}, nil)
	r := &reply{Groups: answer(e, now.Add(time.Second), Request{Command: "groups"}).(groupsReply).Groups}
	var b bytes.Buffer
	if err := printTable(&b, "groups", r); err != nil {
		t.Fatal(err)
	}
	want := "BRIDGE  VLAN  GROUP        PORT        SOURCE  MODE     VER  EXPIRES  REPORTERS\n" +
		"br0     0     239.255.0.1  veth-host1  *       exclude  v2   259.0s   10.0.0.7\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if _, ok := answer(e, now, Request{Command: "bogus"}).(errorReply); !ok {
		t.Fatal("unknown command not answered with an error")
	}
}
