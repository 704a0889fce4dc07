package snoop

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// PortPolicy is what the operator decides for one port (or, as
// Config.PortDefault, for every port without its own).
type PortPolicy struct {
	// FastLeave removes what a leaving host wanted at once, unless another
	// tracked host behind the port still wants it.
	FastLeave bool
	// MaxGroups bounds the port's groups (0: no limit). Past it a new group
	// is refused, or with ReplaceOldest the least recently refreshed group
	// of the port is dropped to make room.
	MaxGroups     int
	ReplaceOldest bool
	// Profile filters the groups (and sources) hosts on the port may join;
	// nil permits everything.
	Profile *Profile
	// Flood sends all multicast out of the port (the caller makes it a
	// permanent router port in the kernel); it does not receive reports.
	Flood bool
	// FloodReports sends every report and leave out of the port too, as to
	// a router port (RFC 4541 §2.1.1 admin override of C1).
	FloodReports bool
	// Router makes the port a static router port: all multicast and all
	// reports, never aging.
	Router bool
	// NoSnooping stops learning from the port: its reports are still
	// relayed to router ports, and it receives all multicast (as Flood).
	NoSnooping bool
	// StaticGroups are joined on the port for good.
	StaticGroups []StaticGroup
	// RefuseQueries makes the port a host port: queries, PIM hellos and
	// MRD messages from it are refused, so no host can win the querier
	// election or pull all multicast by posing as a router (RFC 4541 §6).
	RefuseQueries bool
	// NDGuests learns the addresses of the port's guests from the
	// neighbour discovery they send, and keeps their solicited-node
	// groups on the port, for guests that never send MLD reports (see
	// nd.go). The caller must pass the port's ND to HandleMessage.
	NDGuests bool
}

// StaticGroup is a configured membership: any source, or only Sources.
type StaticGroup struct {
	Group   netip.Addr
	Sources []netip.Addr
	VLAN    uint16
}

// Profile is an ordered list of rules, like Cisco's `ip igmp profile`:
// the first rule matching a (group, source) decides; no match means
// DefaultPermit.
type Profile struct {
	Name          string
	Rules         []Rule
	DefaultPermit bool
}

// Rule permits or denies a range of groups, for any source or only for
// sources in Sources.
type Rule struct {
	Permit bool
	// First and Last bound the groups (inclusive, one address family).
	First, Last netip.Addr
	// Sources, if any, restrict the rule to these source prefixes: it then
	// never matches an any-source join.
	Sources []netip.Prefix
}

// Matches tells whether the rule covers (group, source); an invalid
// source means "any source".
func (r *Rule) Matches(group, source netip.Addr) bool {
	if group.BitLen() != r.First.BitLen() || group.Less(r.First) || r.Last.Less(group) {
		return false
	}
	if len(r.Sources) == 0 {
		return true
	}
	if !source.IsValid() {
		return false
	}
	for _, p := range r.Sources {
		if p.Contains(source) {
			return true
		}
	}
	return false
}

// Allows tells whether hosts may receive (group, source); an invalid
// source asks about an any-source join.
func (p *Profile) Allows(group, source netip.Addr) bool {
	if p == nil {
		return true
	}
	for i := range p.Rules {
		if p.Rules[i].Matches(group, source) {
			return p.Rules[i].Permit
		}
	}
	return p.DefaultPermit
}

// Validate checks the profile's rules.
func (p *Profile) Validate() error {
	for i, r := range p.Rules {
		if !r.First.IsValid() || !r.Last.IsValid() || r.First.BitLen() != r.Last.BitLen() || r.Last.Less(r.First) {
			return fmt.Errorf("profile %s rule %d: group range %v-%v is empty or mixes address families", p.Name, i+1, r.First, r.Last)
		}
		if !r.First.IsMulticast() || !r.Last.IsMulticast() {
			return fmt.Errorf("profile %s rule %d: group range %v-%v is not multicast", p.Name, i+1, r.First, r.Last)
		}
	}
	return nil
}

func (p PortPolicy) validate(what string) error {
	var errs []error
	if p.MaxGroups < 0 {
		errs = append(errs, fmt.Errorf("%s: max groups %d must not be negative", what, p.MaxGroups))
	}
	if p.Profile != nil {
		if err := p.Profile.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	for _, g := range p.StaticGroups {
		if !learnable(g.Group) {
			errs = append(errs, fmt.Errorf("%s: static group %v cannot be installed (link-local scope or not multicast)", what, g.Group))
		}
		for _, s := range g.Sources {
			if s.BitLen() != g.Group.BitLen() || s.IsMulticast() || s.IsUnspecified() {
				errs = append(errs, fmt.Errorf("%s: static group %v: bad source %v", what, g.Group, s))
			}
		}
	}
	return errors.Join(errs...)
}

// Policy returns the policy of a port by name: its own, or the default;
// a port not among QuerierPorts (when they are given) refuses queries.
func (c *Config) Policy(name string) PortPolicy {
	p, ok := c.Ports[name]
	if !ok {
		p = c.PortDefault
	}
	if len(c.QuerierPorts) > 0 && !slices.Contains(c.QuerierPorts, name) {
		p.RefuseQueries = true
	}
	return p
}
