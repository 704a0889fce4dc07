package snoop

import (
	"strings"
	"testing"
	"time"
)

// Config.Validate takes every value the protocols allow and refuses the
// first one past each bound, naming the field. The bounds are the RFCs':
// the robustness variable is a 3-bit QRV that must not be 0 (RFC 3376
// §4.1.6, §8.1); the response interval is positive and less than the
// query interval (§8.3); the last member query count and interval are
// positive (§8.8, §8.9); a query interval must fit QQIC (§4.1.7), a
// response time the Max Resp Code of the version we query with (§4.1.1,
// RFC 3810 §5.1.3). Zero refresh intervals, startup values and limits
// mean "none" or "the default" and are allowed.
func TestConfigValidateAtEachBound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // in the error; "" if valid
	}{
		{"robustness 1", func(c *Config) { c.Robustness, c.LastMemberQueryCount = 1, 1 }, ""},
		{"robustness 7", func(c *Config) { c.Robustness = 7 }, ""},
		{"robustness 0", func(c *Config) { c.Robustness = 0 }, "robustness 0: must be 1..7"},
		{"robustness 8", func(c *Config) { c.Robustness = 8 }, "robustness 8: must be 1..7"},
		{"query interval 0", func(c *Config) { c.QueryInterval = 0 }, "query interval 0s: must be positive"},
		{"query interval at the QQIC limit", func(c *Config) { c.QueryInterval = 31744 * time.Second }, ""},
		{"query interval past the QQIC limit", func(c *Config) { c.QueryInterval = 31745 * time.Second }, "query_interval 8h49m5s"},
		{"response interval 0", func(c *Config) { c.QueryResponseInterval = 0 }, "query response interval 0s: must be positive"},
		{"response interval just below the query interval", func(c *Config) { c.QueryInterval, c.QueryResponseInterval = 20*time.Second, 19900*time.Millisecond }, ""},
		{"response interval equal to the query interval", func(c *Config) { c.QueryInterval, c.QueryResponseInterval = 20*time.Second, 20*time.Second }, "query response interval 20s: must be positive and less than the query interval 20s"},
		{"MLDv2 response 70 s", func(c *Config) { c.QueryResponseInterval = 70 * time.Second }, ""},
		{"last member interval 0", func(c *Config) { c.LastMemberQueryInterval = 0 }, "last member query interval 0s: must be positive"},
		{"last member count 1", func(c *Config) { c.LastMemberQueryCount = 1 }, ""},
		{"last member count 255", func(c *Config) { c.LastMemberQueryCount = 255 }, ""},
		{"last member count 0", func(c *Config) { c.LastMemberQueryCount = 0 }, "last member query count 0: must be 1..255"},
		{"last member count 256", func(c *Config) { c.LastMemberQueryCount = 256 }, "last member query count 256: must be 1..255"},
		{"MDB refresh 0", func(c *Config) { c.MDBRefreshInterval = 0 }, ""},
		{"MDB refresh negative", func(c *Config) { c.MDBRefreshInterval = -time.Second }, "MDB refresh interval -1s: must not be negative"},
		{"startup values 0", func(c *Config) { c.StartupQueryInterval, c.StartupQueryCount = 0, 0 }, ""},
		{"startup interval negative", func(c *Config) { c.StartupQueryInterval = -time.Second }, "startup query interval and count must not be negative"},
		{"startup count negative", func(c *Config) { c.StartupQueryCount = -1 }, "startup query interval and count must not be negative"},
		{"no source or host limit", func(c *Config) { c.MaxSources, c.MaxHosts = 0, 0 }, ""},
		{"negative source limit", func(c *Config) { c.MaxSources = -1 }, "source and host limits must not be negative"},
		{"negative host limit", func(c *Config) { c.MaxHosts = -1 }, "source and host limits must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// The bridge's membership interval outlives ours by the refresh interval
// (Config.BridgeMembershipInterval): RV × QI + QRI (RFC 3376 §8.4) plus
// the refresh interval, 270 s with the defaults.
func TestBridgeMembershipIntervalIsGMIPlusRefresh(t *testing.T) {
	c := DefaultConfig()
	c.MDBRefreshInterval = 15 * time.Second
	if got := c.BridgeMembershipInterval(); got != 275*time.Second {
		t.Fatalf("bridge membership interval %v, want 260 s + 15 s", got)
	}
}
