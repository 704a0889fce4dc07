package config

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// QuerierAddress refuses an address that cannot be the source of our
// IGMP queries: not IPv4, multicast, broadcast, or unspecified (0.0.0.0
// is what the daemon uses when the bridge has no address; asking for it
// by name is a mistake, and it never wins an election).
func QuerierAddress(a netip.Addr) error {
	switch {
	case !a.Is4():
		return errors.New("not an IPv4 address")
	case a.IsMulticast():
		return errors.New("a multicast address cannot be a query's source: give a unicast address of the LAN")
	case a.IsUnspecified():
		return errors.New("0.0.0.0 is what the daemon sends from when the bridge has no address: leave it out, or give a unicast address")
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return errors.New("the broadcast address cannot be a query's source: give a unicast address of the LAN")
	}
	return nil
}

// The lowest value of each limit. A limit of groups per bridge or of
// sources per group and port must let at least one in: the engine takes 0
// for "no limit", which would let a host grow the MDB past
// mcast_hash_max (snooping off for everyone) or the daemon's memory
// without bound; the default is had by leaving the limit out. A port's
// max_groups takes 0 for "no limit", as documented: the bridge's limit
// still holds.
const (
	MinMaxGroups        = 1
	MinMaxSources       = 1
	MinMaxGroupsPerPort = 0
)

// Limit refuses a limit below min; what says what 0 would have meant.
func Limit(v, min int) error {
	if v >= min {
		return nil
	}
	if min == 0 {
		return errors.New("must not be negative (0: no limit)")
	}
	return fmt.Errorf("must be at least %d (leave it out for the default)", min)
}

// derived refuses values the user did not set that do not fit those the
// user did, saying where each came from: the last member count is the
// robustness unless set, and the query interval and query response
// interval have defaults. A value it refuses is put back to one the
// engine takes, so the engine's own check does not report it again under
// another name.
func derived(c *snoop.Config, b, d *bridgeConfig) error {
	var errs []error
	def := snoop.DefaultConfig()
	if b.LastMemberCount == nil && d.LastMemberCount == nil && (c.LastMemberQueryCount < 1 || c.LastMemberQueryCount > 255) {
		errs = append(errs, fmt.Errorf("last_member_count (--last-member-count), not set, is the robustness, %d: must be 1..255", c.LastMemberQueryCount))
		c.LastMemberQueryCount = def.LastMemberQueryCount
	}
	qiSet := b.QueryInterval != nil || d.QueryInterval != nil
	qriSet := b.QueryResponseInterval != nil || d.QueryResponseInterval != nil
	if c.QueryResponseInterval >= c.QueryInterval && qiSet != qriSet {
		if qiSet {
			errs = append(errs, fmt.Errorf("query_response_interval (--query-response-interval), not set, is its default %v: it must be less than query_interval %v (--query-interval); set it too",
				c.QueryResponseInterval, c.QueryInterval))
		} else {
			errs = append(errs, fmt.Errorf("query_interval (--query-interval), not set, is its default %v: it must be greater than query_response_interval %v (--query-response-interval); set it too",
				c.QueryInterval, c.QueryResponseInterval))
		}
		c.QueryInterval, c.QueryResponseInterval = def.QueryInterval, def.QueryResponseInterval
	}
	return errors.Join(errs...)
}
