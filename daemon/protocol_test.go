package daemon

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// Every verb's request comes back from its wire line as it was sent.
func TestRequestRoundTrip(t *testing.T) {
	samples := map[string]Request{
		"groups":  GroupsRequest{Bridge: "br0", Port: "p1", Group: "239.0.0.0/8"},
		"ports":   PortsRequest{Bridge: "br0"},
		"routers": RoutersRequest{Bridge: "br0"},
		"querier": QuerierRequest{Bridge: "br0"},
		"stats":   StatsRequest{Bridge: "br0"},
		"check":   CheckRequest{Bridge: "br0"},
		"config":  ConfigRequest{},
		"reload":  ReloadRequest{},
		"events":  EventsRequest{Bridge: "br0"},
	}
	for _, verb := range verbNames() {
		req, ok := samples[verb]
		if !ok {
			t.Errorf("verb %q has no sample request here", verb)
			continue
		}
		if req.Verb() != verb {
			t.Errorf("sample of %q is a %q request", verb, req.Verb())
		}
		for _, r := range []Request{req, reflect.Zero(reflect.TypeOf(req)).Interface().(Request)} {
			line, err := EncodeRequest(r)
			if err != nil {
				t.Fatalf("encode %+v: %v", r, err)
			}
			got, err := DecodeRequest(line)
			if err != nil {
				t.Fatalf("decode %s: %v", line, err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("%s decodes to %#v, want %#v", line, got, r)
			}
		}
	}
	if len(samples) != len(verbNames()) {
		t.Errorf("%d samples for %d verbs %v", len(samples), len(verbNames()), verbNames())
	}
	if line, _ := EncodeRequest(ConfigRequest{}); string(line) != `{"command":"config"}` {
		t.Errorf("config request line = %s", line)
	}
}

// Bad lines are refused with an error that says what is wrong.
func TestDecodeRequestErrors(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{`{"command":"frobnicate"}`, `unknown command "frobnicate" (check, config, events`},
		{`{"command":"groups","prot":"p1"}`, `bad groups request: it takes no "prot"`},
		{`{"command":"config","bridge":"br0"}`, `bad config request: it takes no "bridge"`},
		{`{"command":"routers","port":"p1"}`, `bad routers request: it takes no "port"`},
		{`{"command":"groups","group":"239.1.1"}`, `bad groups request: group "239.1.1": not an address or prefix`},
		{`{"command":"groups","group":"239.1.1.1/99"}`, `not an address or prefix`},
		{`{"command":"ports","bridge":7}`, `bad ports request`},
		{`not json`, `bad request`},
		{``, `bad request`},
	} {
		_, err := DecodeRequest([]byte(tt.line))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeRequest(%s) = %v, want an error with %q", tt.line, err, tt.want)
		}
	}
}

// Fields a verb lacks are ignored when empty, as clients that send every
// field do, and the command's key is matched as encoding/json matches keys.
func TestDecodeRequestLenient(t *testing.T) {
	for line, want := range map[string]Request{
		`{"command":"reload","bridge":""}`:                      ReloadRequest{},
		`{"command":"routers","bridge":"br0","port":null}`:      RoutersRequest{Bridge: "br0"},
		`{"Command":"groups","port":"p1"}`:                      GroupsRequest{Port: "p1"},
		`{"command":"config","bridge":"","port":"","group":""}`: ConfigRequest{},
	} {
		got, err := DecodeRequest([]byte(line))
		if err != nil || got != want {
			t.Errorf("DecodeRequest(%s) = %#v, %v; want %#v", line, got, err, want)
		}
	}
}

// ParsePrefixOrAddr reads an address as its one-address prefix, and
// masks a prefix.
func TestParsePrefixOrAddr(t *testing.T) {
	for in, want := range map[string]string{"239.1.1.1": "239.1.1.1/32", "239.1.1.1/8": "239.0.0.0/8", "ff02::1": "ff02::1/128"} {
		if p, err := ParsePrefixOrAddr(in); err != nil || p != netip.MustParsePrefix(want) {
			t.Errorf("ParsePrefixOrAddr(%s) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "x", "239.1.1.1/33"} {
		if _, err := ParsePrefixOrAddr(in); err == nil {
			t.Errorf("ParsePrefixOrAddr(%q) took it", in)
		}
	}
}

// The groups filter keeps rows by port and by group prefix.
func TestGroupsFilter(t *testing.T) {
	// filter reuses its argument: each case gets its own rows.
	rows := func() []snoop.GroupView {
		return []snoop.GroupView{{Port: "p1", Group: "239.1.1.1"}, {Port: "p2", Group: "239.1.1.1"},
			{Port: "p1", Group: "239.2.0.1"}, {Port: "p1", Group: "ff05::1"}}
	}
	for _, tt := range []struct {
		q    GroupsRequest
		want int
	}{
		{GroupsRequest{}, 4},
		{GroupsRequest{Port: "p1"}, 3},
		{GroupsRequest{Group: "239.1.0.0/16"}, 2},
		{GroupsRequest{Port: "p1", Group: "239.0.0.0/8"}, 2},
		{GroupsRequest{Group: "ff00::/8"}, 1},
		{GroupsRequest{Group: "bad"}, 0},
	} {
		if got := tt.q.filter(rows()); len(got) != tt.want {
			t.Errorf("%+v keeps %d rows (%+v), want %d", tt.q, len(got), got, tt.want)
		}
	}
}

// An event renders on one line with what it has.
func TestEventRecordText(t *testing.T) {
	r := EventRecord{Time: time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.Local), Bridge: "br0", Event: "join", Port: "p1",
		Group: "239.1.1.1", VLAN: 5, Addr: "10.0.0.1", Detail: "why"}
	if got, want := r.Text(), "03:04:05.006 br0 join port=p1 group=239.1.1.1 addr=10.0.0.1 vlan=5 (why)"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	r = EventRecord{Time: r.Time, Bridge: "br0", Event: "querier_lost"}
	if got, want := r.Text(), "03:04:05.006 br0 querier_lost"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}
