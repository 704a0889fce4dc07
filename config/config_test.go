package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/daemon"
)

func TestReferenceConfig(t *testing.T) {
	s, err := Load("../packaging/igmpsnoop.yaml", Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Bridges) != 2 || s.MetricsAddress != "127.0.0.1:9477" || s.Socket != "/run/igmpsnoop/igmpsnoop.sock" {
		t.Fatalf("settings %+v", s)
	}
	br0, br1 := s.Bridges[0].Engine, s.Bridges[1].Engine
	if !br0.Querier || br0.QueryInterval != 125*time.Second || br1.QueryInterval != 30*time.Second || !s.Bridges[1].AnySource {
		t.Fatalf("inheritance: br0 %+v br1 %+v", br0, br1)
	}
	settop := br0.Ports["tap-settop"]
	if !settop.FastLeave || settop.MaxGroups != 4 || !settop.ReplaceOldest || settop.Profile == nil || settop.Profile.Name != "iptv" {
		t.Fatalf("tap-settop %+v", settop)
	}
	if br0.Ports["uplink"].MaxGroups != 100 || br0.Ports["uplink"].ReplaceOldest {
		t.Fatalf("port inherits the bridge's port_defaults: %+v", br0.Ports["uplink"])
	}
	p := settop.Profile
	for _, c := range []struct {
		group, source string
		want          bool
	}{
		{"239.1.2.3", "", true}, {"239.1.1.9", "", false}, {"239.2.0.1", "", false},
		{"232.1.1.1", "", false}, {"232.1.1.1", "192.0.2.7", true}, {"232.1.1.1", "198.51.100.1", false}, {"ff3e::1", "", true},
	} {
		var src netip.Addr
		if c.source != "" {
			src = netip.MustParseAddr(c.source)
		}
		if got := p.Allows(netip.MustParseAddr(c.group), src); got != c.want {
			t.Errorf("iptv allows (%s, %s) = %v, want %v", c.group, c.source, got, c.want)
		}
	}
	sg := br0.Ports["tap-signage"].StaticGroups
	if len(sg) != 2 || sg[1].Sources[0] != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("static groups %+v", sg)
	}
	for port, want := range map[string]struct {
		mode  uint8
		fixed bool
	}{
		"tap-legacy": {bridge.PortRouterPermanent, true},
		"uplink":     {bridge.PortRouterPermanent, true},
		"tap-settop": {bridge.PortRouterLearned, false},
	} {
		if mode, fixed := s.Bridges[0].KernelRouterMode(port); mode != want.mode || fixed != want.fixed {
			t.Errorf("KernelRouterMode(%s) = %d, %t; want %d, %t", port, mode, fixed, want.mode, want.fixed)
		}
	}
	out := s.Text
	for _, want := range []string{"name: br0", "profile: iptv", "max_groups_action: replace", "query_interval: 30s"} {
		if !strings.Contains(out, want) {
			t.Errorf("show config lacks %q:\n%s", want, out)
		}
	}
}

// TestKernelRouterModeRefuseQueries: a port that refuses queries is never
// made a router port by the kernel either.
func TestKernelRouterModeRefuseQueries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	body := "bridges:\n  - name: br0\n    ports:\n      tap1: {refuse_queries: true}\n      up: {router: true, refuse_queries: true}\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	b := s.Bridges[0]
	if mode, fixed := b.KernelRouterMode("tap1"); mode != bridge.PortRouterDisabled || !fixed {
		t.Errorf("refuse_queries port: mode %d, fixed %t; want disabled, fixed", mode, fixed)
	}
	// A configured router port stays one: configuration wins over refusal.
	if mode, _ := b.KernelRouterMode("up"); mode != bridge.PortRouterPermanent {
		t.Errorf("router port that refuses queries: mode %d, want permanent", mode)
	}
}

func TestConfigErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "bridges:\n  - name: br0\n    querrier: true\n", "line 3: field querrier not found"},
		{"bad duration", "bridges:\n  - name: br0\n    query_interval: soon\n", `line 3: "soon" is not a positive duration`},
		{"negative duration", "bridges:\n  - name: br0\n    query_interval: -1s\n", "line 3:"},
		{"bad type", "bridges:\n  - name: br0\n    robustness: many\n", "line 3:"},
		{"engine refuses", "bridges:\n  - name: br0\n    robustness: 9\n", "line 2: bridge br0: robustness 9"},
		{"undefined profile", "bridges:\n  - name: br0\n    ports:\n      p1:\n        profile: nope\n", `line 5: port p1: profile "nope" is not defined`},
		{"bad limit action", "bridges:\n  - name: br0\n    port_defaults:\n      max_groups_action: evict\n", `line 4: br0 port_defaults: max_groups_action "evict"`},
		{"duplicate bridge", "bridges:\n  - name: br0\n  - name: br0\n", "line 3: bridge br0 is already configured at line 2"},
		{"bad group range", "profiles:\n  p:\n    rules:\n      - permit: 10.0.0.0/8\n", "line 4:"},
		{"rule with both", "profiles:\n  p:\n    rules:\n      - permit: 239.0.0.1\n        deny: 239.0.0.2\nbridges:\n  - name: br0\n", "exactly one of permit or deny"},
		{"bad profile default", "profiles:\n  p:\n    default: maybe\nbridges:\n  - name: br0\n", `line 3: profile p: default "maybe"`},
		{"static link-local", "bridges:\n  - name: br0\n    ports:\n      p1:\n        static_groups:\n          - group: 224.0.0.5\n", "static group 224.0.0.5"},
		{"bad address", "bridges:\n  - name: br0\n    querier_address: somewhere\n", `line 3: "somewhere" is not an IP address`},
		{"multicast querier address", "bridges:\n  - name: br0\n    querier_address: 239.1.1.1\n", "line 2: bridge br0: querier_address 239.1.1.1 (--querier-address): a multicast address"},
		{"unspecified querier address", "defaults:\n  querier_address: 0.0.0.0\nbridges:\n  - name: br0\n", "querier_address 0.0.0.0 (--querier-address): 0.0.0.0 is what"},
		{"IPv6 querier address", "bridges:\n  - name: br0\n    querier_address: fe80::1\n", "querier_address fe80::1 (--querier-address): not an IPv4 address"},
		{"no sources", "bridges:\n  - name: br0\n    max_sources: 0\n", "max_sources 0 (--max-sources): must be at least 1"},
		{"no groups", "bridges:\n  - name: br0\n    max_groups: 0\n", "max_groups 0 (--max-groups): must be at least 1"},
		{"negative groups", "defaults:\n  max_groups: -1\nbridges:\n  - name: br0\n", "max_groups -1 (--max-groups): must be at least 1"},
		{"negative port groups", "bridges:\n  - name: br0\n    ports:\n      p1:\n        max_groups: -1\n", "port p1: max_groups -1 (--max-groups-per-port): must not be negative (0: no limit)"},
		{"derived last member count", "bridges:\n  - name: br0\n    robustness: 0\n", "last_member_count (--last-member-count), not set, is the robustness, 0: must be 1..255"},
		{"derived response interval", "bridges:\n  - name: br0\n    query_interval: 5s\n", "query_response_interval (--query-response-interval), not set, is its default 10s: it must be less than query_interval 5s"},
		{"derived query interval", "bridges:\n  - name: br0\n    query_response_interval: 3m\n", "query_interval (--query-interval), not set, is its default 2m5s"},
		{"no bridges", "log_level: info\n", "no bridges"},
		{"empty", "", "empty"},
		{"bad log level", "log_level: loud\nbridges:\n  - name: br0\n", "log_level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, Overrides{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v does not name the file", err)
			}
		})
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("socket: /tmp/x.sock\nbridges:\n  - name: br0\n    query_interval: 60s\n    ports:\n      p1:\n        max_groups: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	qi := 20 * time.Second
	s, err := Load(path, Overrides{QueryInterval: &qi, Bridges: []string{"br9"}, FastLeave: []string{"p1"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Socket != "/tmp/x.sock" || len(s.Bridges) != 2 || s.Bridges[1].Name != "br9" {
		t.Fatalf("settings %+v", s)
	}
	p1 := s.Bridges[0].Engine.Ports["p1"]
	if s.Bridges[0].Engine.QueryInterval != 20*time.Second || !p1.FastLeave || p1.MaxGroups != 3 {
		t.Fatalf("br0 %+v", s.Bridges[0].Engine)
	}
}

// ssm_ranges and querier_ports from the file, and the flags that replace
// them: the engine gets the ranges, ports outside querier_ports refuse
// queries (and so have the kernel's router mode disabled), and show
// config prints both.
func TestSSMRangesAndQuerierPorts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	conf := "bridges:\n  - name: br0\n    ssm_ranges: [233.252.0.0/24]\n    querier_ports: [up]\n  - name: br1\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(o Overrides) *daemon.Settings {
		t.Helper()
		s, err := Load(path, o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := load(Overrides{})
	br0, br1 := &s.Bridges[0], &s.Bridges[1]
	if got := fmt.Sprint(br0.Engine.SSMRanges); got != "[233.252.0.0/24]" {
		t.Errorf("br0 SSM ranges %s", got)
	}
	if br1.Engine.SSMRanges == nil || len(br1.Engine.SSMRanges) != 17 {
		t.Errorf("br1 SSM ranges %v, want the defaults", br1.Engine.SSMRanges)
	}
	if br0.Engine.Policy("up").RefuseQueries || !br0.Engine.Policy("h1").RefuseQueries || br1.Engine.Policy("h1").RefuseQueries {
		t.Error("only br0's ports other than up must refuse queries")
	}
	if mode, fixed := br0.KernelRouterMode("h1"); !fixed || mode != bridge.PortRouterDisabled {
		t.Errorf("h1's kernel router mode %d (fixed %v), want disabled", mode, fixed)
	}
	out := s.Text
	for _, want := range []string{"233.252.0.0/24", "querier_ports:\n        - up", "232.0.0.0/8"} {
		if !strings.Contains(out, want) {
			t.Errorf("show config lacks %q:\n%s", want, out)
		}
	}
	ssm, qp := []netip.Prefix{netip.MustParsePrefix("239.255.0.0/16")}, []string{"uplink"}
	s = load(Overrides{SSMRanges: &ssm, QuerierPorts: &qp})
	if got := fmt.Sprint(s.Bridges[1].Engine.SSMRanges); got != "[239.255.0.0/16]" || s.Bridges[1].Engine.Policy("uplink").RefuseQueries || !s.Bridges[1].Engine.Policy("up").RefuseQueries {
		t.Errorf("flags did not replace the file's values: %s %v", got, s.Bridges[1].Engine.QuerierPorts)
	}
}

// group_metrics is off unless asked for, guard_relay on unless turned
// off: in defaults (inherited), per bridge (which wins), or with the flag
// for every bridge; show config prints them.
func TestBridgeSwitches(t *testing.T) {
	yes, no := true, false
	for _, sw := range []struct {
		key  string
		def  bool
		flag func(*Overrides, *bool)
		get  func(daemon.BridgeSettings) bool
	}{
		{"group_metrics", false, func(o *Overrides, v *bool) { o.GroupMetrics = v }, func(b daemon.BridgeSettings) bool { return b.GroupMetrics }},
		{"guard_relay", true, func(o *Overrides, v *bool) { o.GuardRelay = v }, func(b daemon.BridgeSettings) bool { return b.GuardRelay }},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		conf := fmt.Sprintf("defaults:\n  %s: %v\nbridges:\n  - name: br0\n  - name: br1\n    %[1]s: %[3]v\n", sw.key, !sw.def, sw.def)
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			path     string
			flag     *bool
			br0, br1 bool
		}{
			{"the default", "", nil, sw.def, sw.def},
			{"defaults, and a bridge's own", path, nil, !sw.def, sw.def},
			{"the flag for every bridge", path, &sw.def, sw.def, sw.def},
			{"the flag the other way", "", map[bool]*bool{true: &no, false: &yes}[sw.def], !sw.def, !sw.def},
		} {
			t.Run(sw.key+": "+tc.name, func(t *testing.T) {
				o := Overrides{}
				if tc.path == "" {
					o.Bridges = []string{"br0", "br1"}
				}
				if tc.flag != nil {
					sw.flag(&o, tc.flag)
				}
				s, err := Load(tc.path, o)
				if err != nil {
					t.Fatal(err)
				}
				if got0, got1 := sw.get(s.Bridges[0]), sw.get(s.Bridges[1]); got0 != tc.br0 || got1 != tc.br1 {
					t.Fatalf("br0 %v br1 %v, want %v %v", got0, got1, tc.br0, tc.br1)
				}
				if want := fmt.Sprintf("%s: %v", sw.key, tc.br0); !strings.Contains(s.Text, want) {
					t.Errorf("show config lacks %q:\n%s", want, s.Text)
				}
			})
		}
	}
}
