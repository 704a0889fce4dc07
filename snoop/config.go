package snoop

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// Protocol defaults, named as in RFC 3376 §8 (RFC 2236 §8 and RFC 3810 §9
// have the same values).
const (
	DefaultRobustness              = 2                 // §8.1 Robustness Variable
	DefaultQueryInterval           = 125 * time.Second // §8.2 Query Interval
	DefaultQueryResponseInterval   = 10 * time.Second  // §8.3 Query Response Interval
	DefaultLastMemberQueryInterval = 1 * time.Second   // §8.8 Last Member Query Interval
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
	if c.MaxSources < 0 || c.MaxHosts < 0 {
		errs = append(errs, errors.New("source and host limits must not be negative"))
	}
	for name, p := range c.Ports {
		errs = append(errs, p.validate("port "+name))
	}
	errs = append(errs, c.PortDefault.validate("port default"))
	return errors.Join(errs...)
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
