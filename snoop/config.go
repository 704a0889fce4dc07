package snoop

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// Protocol defaults, named as in RFC 3376 §8 (RFC 2236 §8 has the same
// values for IGMPv2).
const (
	DefaultRobustness              = 2                 // §8.1 Robustness Variable
	DefaultQueryInterval           = 125 * time.Second // §8.2 Query Interval
	DefaultQueryResponseInterval   = 10 * time.Second  // §8.3 Query Response Interval
	DefaultLastMemberQueryInterval = 1 * time.Second   // §8.8 Last Member Query Interval
	DefaultLastMemberQueryCount    = DefaultRobustness // §8.9 Last Member Query Count
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

	// MDBRefreshInterval is the least time between two writes of the same
	// MDB entry: a report within it refreshes only our own timer. The
	// bridge's membership timer must be at least GroupMembershipInterval
	// plus this (see BridgeMembershipInterval).
	MDBRefreshInterval time.Duration

	// FastLeave lists ports (by name) whose leaves remove the membership at
	// once, without last-member queries: for ports with one host behind them.
	FastLeave map[string]bool

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
	}
}

// Validate checks the configuration, naming the first bad field.
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
	return errors.Join(errs...)
}

// GroupMembershipInterval is how long a membership lives after a report
// (RFC 3376 §8.4: RV × QI + QRI).
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
