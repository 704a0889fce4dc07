package snoop

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// Protocol defaults, named as in RFC 3376 §8 (RFC 2236 §8 and RFC 3810 §9
// have the same values).
const (
	DefaultRobustness              = 2                 // §8.1 Robustness Variable
	DefaultQueryInterval           = 125 * time.Second // §8.2 Query Interval
	DefaultQueryResponseInterval   = 10 * time.Second  // §8.3 Query Response Interval
	DefaultLastMemberQueryInterval = time.Second       // §8.8 Last Member Query Interval
	DefaultLastMemberQueryCount    = DefaultRobustness // §8.9 Last Member Query Count
	DefaultMaxSources              = 64                // sources per port group; beyond it we forward all (a superset)
	DefaultMaxHosts                = 32                // tracked hosts per port group
)

// Config is the engine's configuration for one bridge.
type Config struct {
	// Bridge names the bridge in views and events.
	Bridge string

	Robustness              int
	QueryInterval           time.Duration
	QueryResponseInterval   time.Duration
	LastMemberQueryInterval time.Duration
	LastMemberQueryCount    int
	// StartupQueryInterval and StartupQueryCount pace our first queries
	// (RFC 3376 §8.6/§8.7; defaults QI/4 and the robustness).
	StartupQueryInterval time.Duration
	StartupQueryCount    int

	// MDBRefreshInterval is the least time between two writes of the same
	// MDB entry: a report within it refreshes only our own timer. The
	// bridge's membership timer must be at least GroupMembershipInterval
	// plus this (see BridgeMembershipInterval).
	MDBRefreshInterval time.Duration

	// PortDefault is the policy of every port not in Ports (by name).
	PortDefault PortPolicy
	Ports       map[string]PortPolicy

	// Querier makes the engine query when no better querier is present.
	Querier bool
	// QuerierAddr4 is the source of our IGMP queries (invalid: 0.0.0.0,
	// which never wins an election). QuerierAddr6 is the link-local source
	// of our MLD queries (invalid: no MLD queries, hosts ignore others).
	QuerierAddr4, QuerierAddr6 netip.Addr
	// IGMPVersion (2 or 3) and MLDVersion (1 or 2) of our queries; older
	// queriers heard lower them (RFC 3376 §7.3.1).
	IGMPVersion, MLDVersion int

	// SourceLists says the kernel can hold (*,G) entries with a filter mode
	// and sources (Linux ≥ 6.2); without it every membership is installed
	// as any-source, a superset.
	SourceLists bool
	// MaxSources bounds sources per port group and MaxHosts the tracked
	// hosts: one port's reports must not grow memory without bound.
	MaxSources, MaxHosts int

	// Limits bound the membership table.
	Limits fdb.Limits

	// QuerySourceMAC is the Ethernet source of the queries the engine sends
	// (the bridge's address).
	QuerySourceMAC net.HardwareAddr

	// SSMRanges are the source-specific multicast ranges (RFC 4607): for
	// their groups only INCLUDE-mode joins count (RFC 4604 §2.2). Nil
	// means DefaultSSMRanges; an empty, non-nil slice means none.
	SSMRanges []netip.Prefix

	// VLANFiltering says the bridge filters VLANs (vlan_filtering 1): only
	// then does the kernel keep MDB entries, queriers and router ports per
	// VLAN. Without it the kernel takes every frame, tagged or not, as VLAN
	// 0's and forwards every VLAN by the VLAN 0 MDB entries, so the engine
	// does the same: a tagged report joins for all VLANs, a tagged query
	// speaks for VLAN 0's querier. It cannot change by Reconfigure: what was
	// learned is keyed by it.
	VLANFiltering bool

	// NDLifetime is how long a solicited-node group learned from a
	// guest's neighbour discovery (PortPolicy.NDGuests) lives after the
	// guest last showed the address (0: DefaultNDLifetime); NDMaxGroups
	// bounds those groups per port (0: DefaultNDMaxGroups).
	NDLifetime  time.Duration
	NDMaxGroups int

	// QuerierPorts, if not empty, are the only ports (by name) whose
	// queries, PIM hellos and MRD messages are believed: every other port
	// refuses them as a RefuseQueries port does, so no host can take part
	// in the querier election.
	QuerierPorts []string
}

// DefaultSSMRanges returns the SSM ranges of RFC 4607 §1: 232.0.0.0/8 and
// FF3x::/96 for every scope x (RFC 3306 §6, RFC 4607 §1).
func DefaultSSMRanges() []netip.Prefix {
	out := []netip.Prefix{netip.MustParsePrefix("232.0.0.0/8")}
	for scope := range 16 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xff, 1: 0x30 | byte(scope)}), 96))
	}
	return out
}

// ssmRanges is the SSM ranges in force.
func (c *Config) ssmRanges() []netip.Prefix {
	if c.SSMRanges == nil {
		return DefaultSSMRanges()
	}
	return c.SSMRanges
}

// DefaultConfig returns the RFC defaults.
func DefaultConfig() Config {
	return Config{
		Robustness:              DefaultRobustness,
		QueryInterval:           DefaultQueryInterval,
		QueryResponseInterval:   DefaultQueryResponseInterval,
		LastMemberQueryInterval: DefaultLastMemberQueryInterval,
		LastMemberQueryCount:    DefaultLastMemberQueryCount,
		MDBRefreshInterval:      DefaultQueryResponseInterval,
		IGMPVersion:             3,
		MLDVersion:              2,
		SourceLists:             true,
		MaxSources:              DefaultMaxSources,
		MaxHosts:                DefaultMaxHosts,
		SSMRanges:               DefaultSSMRanges(),
	}
}

// Validate checks the configuration, naming every bad field.
func (c Config) Validate() error {
	var errs []error
	if c.Robustness < 1 || c.Robustness > 7 {
		// QRV is a 3-bit field (RFC 3376 §4.1.6); 0 is not allowed (§8.1).
		errs = append(errs, fmt.Errorf("robustness %d: must be 1..7", c.Robustness))
	}
	if c.QueryInterval <= 0 {
		errs = append(errs, fmt.Errorf("query interval %v: must be positive", c.QueryInterval))
	}
	if c.QueryResponseInterval <= 0 || c.QueryResponseInterval >= c.QueryInterval {
		// RFC 3376 §8.3: the response interval must be less than the query interval.
		errs = append(errs, fmt.Errorf("query response interval %v: must be positive and less than the query interval %v", c.QueryResponseInterval, c.QueryInterval))
	}
	if c.LastMemberQueryInterval <= 0 {
		errs = append(errs, fmt.Errorf("last member query interval %v: must be positive", c.LastMemberQueryInterval))
	}
	if c.LastMemberQueryCount < 1 || c.LastMemberQueryCount > 255 {
		errs = append(errs, fmt.Errorf("last member query count %d: must be 1..255", c.LastMemberQueryCount))
	}
	if c.MDBRefreshInterval < 0 {
		errs = append(errs, fmt.Errorf("MDB refresh interval %v: must not be negative", c.MDBRefreshInterval))
	}
	if c.StartupQueryInterval < 0 || c.StartupQueryCount < 0 {
		errs = append(errs, errors.New("startup query interval and count must not be negative"))
	}
	if c.IGMPVersion != 2 && c.IGMPVersion != 3 {
		errs = append(errs, fmt.Errorf("IGMP querier version %d: must be 2 or 3", c.IGMPVersion))
	}
	if c.MLDVersion != 1 && c.MLDVersion != 2 {
		errs = append(errs, fmt.Errorf("MLD querier version %d: must be 1 or 2", c.MLDVersion))
	}
	if c.QuerierAddr4.IsValid() && !c.QuerierAddr4.Is4() {
		errs = append(errs, fmt.Errorf("IGMP querier address %v: must be IPv4", c.QuerierAddr4))
	}
	if c.QuerierAddr6.IsValid() && !(c.QuerierAddr6.Is6() && c.QuerierAddr6.IsLinkLocalUnicast()) {
		errs = append(errs, fmt.Errorf("MLD querier address %v: must be IPv6 link-local (RFC 3810 §5.1.14)", c.QuerierAddr6))
	}
	errs = append(errs, c.validateCodes()...)
	for _, p := range c.SSMRanges {
		if !p.IsValid() || !p.Addr().IsMulticast() || p.Masked() != p {
			errs = append(errs, fmt.Errorf("ssm_ranges %v: must be a multicast prefix with no host bits set", p))
		}
	}
	if c.NDLifetime < 0 || c.NDMaxGroups < 0 {
		errs = append(errs, fmt.Errorf("nd_lifetime %v and ND group bound %d must not be negative", c.NDLifetime, c.NDMaxGroups))
	}
	if c.MaxSources < 0 || c.MaxHosts < 0 {
		errs = append(errs, errors.New("source and host limits must not be negative"))
	}
	for name, p := range c.Ports {
		errs = append(errs, p.validate("port "+name))
	}
	errs = append(errs, c.PortDefault.validate("port default"))
	return errors.Join(errs...)
}

// The longest durations a query's fields can carry, by version: IGMPv2's
// Max Resp Time counts tenths of a second in 8 bits (RFC 2236 §2.2),
// MLDv1's Maximum Response Delay milliseconds in 16 bits (RFC 2710 §3.4);
// IGMPv3's and MLDv2's float codes reach 3174.4 s and 8387.584 s, and
// QQIC 31744 s (RFC 3376 §4.1.1, §4.1.7; RFC 3810 §5.1.3, §5.1.9).
var (
	maxRespIGMPv2 = wire.MaxRespV2
	maxRespIGMPv3 = wire.MaxCode(wire.MaxRespUnit)
	maxRespMLDv1  = wire.MaxRespMLDv1
	maxRespMLDv2  = wire.MaxMLDMaxResp
	maxQQI        = wire.MaxCode(wire.QueryIntervalUnit)
)

// maxRespOf is the longest Max Resp Code a query of generation gen carries
// (an IGMPv1 query carries none: hosts use 10 s).
func maxRespOf(gen int, v6 bool) time.Duration {
	if v6 {
		if gen <= 2 {
			return maxRespMLDv1
		}
		return maxRespMLDv2
	}
	if gen == 1 {
		return math.MaxInt64 // not sent
	}
	if gen <= 2 {
		return maxRespIGMPv2
	}
	return maxRespIGMPv3
}

// validateCodes refuses timers the configured query versions cannot carry:
// a query that cannot say its response time would never be sent.
func (c Config) validateCodes() []error {
	var errs []error
	check := func(key, flag string, d time.Duration) {
		for _, f := range []struct {
			v6      bool
			gen     int
			version string
		}{{false, c.IGMPVersion, fmt.Sprintf("IGMPv%d (igmp_version, --igmp-version)", c.IGMPVersion)},
			{true, c.MLDVersion + 1, fmt.Sprintf("MLDv%d (mld_version, --mld-version)", c.MLDVersion)}} {
			if limit := maxRespOf(f.gen, f.v6); d > limit {
				errs = append(errs, fmt.Errorf("%s %v (%s): %s queries carry at most %v", key, d, flag, f.version, limit))
			}
		}
	}
	check("query_response_interval", "--query-response-interval", c.QueryResponseInterval)
	check("last_member_interval", "--last-member-interval", c.LastMemberQueryInterval)
	if c.QueryInterval > maxQQI {
		errs = append(errs, fmt.Errorf("query_interval %v (--query-interval): QQIC carries at most %v (RFC 3376 §4.1.7)", c.QueryInterval, maxQQI))
	}
	return errs
}

func (c Config) startupQueryInterval() time.Duration {
	if c.StartupQueryInterval > 0 {
		return c.StartupQueryInterval
	}
	return c.QueryInterval / 4
}

func (c Config) startupQueryCount() int {
	if c.StartupQueryCount > 0 {
		return c.StartupQueryCount
	}
	return c.Robustness
}

// GroupMembershipInterval is how long a membership lives after a report
// with the configured timers (RFC 3376 §8.4: RV × QI + QRI). The engine
// uses the querier's values once it hears them.
func (c Config) GroupMembershipInterval() time.Duration {
	return time.Duration(c.Robustness)*c.QueryInterval + c.QueryResponseInterval
}

// OtherQuerierPresentInterval is how long a heard querier, and the router
// port it was heard on, count as present (RFC 3376 §8.5: RV × QI + QRI/2).
func (c Config) OtherQuerierPresentInterval() time.Duration {
	return time.Duration(c.Robustness)*c.QueryInterval + c.QueryResponseInterval/2
}

// LastMemberQueryTime is how long a membership survives a leave without a
// new report (RFC 3376 §8.10: LMQC × LMQI).
func (c Config) LastMemberQueryTime() time.Duration {
	return time.Duration(c.LastMemberQueryCount) * c.LastMemberQueryInterval
}

// BridgeMembershipInterval is the value for the bridge's
// mcast_membership_interval, the lifetime the kernel gives our temporary
// MDB entries: long enough that rate-limited refreshes keep them alive, and
// short enough that they vanish soon after the daemon does.
func (c Config) BridgeMembershipInterval() time.Duration {
	return c.GroupMembershipInterval() + c.MDBRefreshInterval
}
