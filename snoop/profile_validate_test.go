package snoop

import (
	"net/netip"
	"strings"
	"testing"
)

// Profile.Validate refuses a rule whose group range is empty, mixes
// address families or is not multicast, naming the profile and the rule
// by its position (from 1) as the configuration file lists them.
func TestProfileValidateNamesTheRule(t *testing.T) {
	a := netip.MustParseAddr
	ok := Rule{Permit: true, First: a("239.0.0.0"), Last: a("239.255.255.255")}
	for _, tc := range []struct {
		name  string
		rules []Rule
		want  string // "" if valid
	}{
		{"valid", []Rule{ok, {First: a("ff0e::1"), Last: a("ff0e::1")}}, ""},
		{"empty range", []Rule{ok, {First: a("239.1.1.2"), Last: a("239.1.1.1")}}, "profile tv rule 2: group range 239.1.1.2-239.1.1.1 is empty or mixes address families"},
		{"mixed families", []Rule{{First: a("239.1.1.1"), Last: a("ff0e::1")}}, "profile tv rule 1: group range 239.1.1.1-ff0e::1 is empty or mixes address families"},
		{"no range", []Rule{ok, ok, {}}, "profile tv rule 3: group range invalid IP-invalid IP is empty"},
		{"unicast", []Rule{ok, {First: a("10.0.0.1"), Last: a("10.0.0.2")}}, "profile tv rule 2: group range 10.0.0.1-10.0.0.2 is not multicast"},
		{"ends outside multicast", []Rule{{First: a("239.0.0.1"), Last: a("240.0.0.1")}}, "profile tv rule 1: group range 239.0.0.1-240.0.0.1 is not multicast"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Profile{Name: "tv", Rules: tc.rules}
			err := p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			c := DefaultConfig()
			c.Ports = map[string]PortPolicy{"a": {Profile: p}}
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "port a: "+tc.want) {
				t.Fatalf("config error %v, want it to name port a", err)
			}
		})
	}
}
