package config

import (
	"net/netip"
	"time"
)

// Overrides are the values given on the command line. Each one set (non-nil)
// replaces the file's value for every bridge; Bridges adds bridges to the
// file's, and FastLeave, StaticRouters and Flood turn that setting on for
// the ports they name, on every bridge.
type Overrides struct {
	Bridges                                     []string
	Socket, LogLevel, LogFormat, MetricsAddress *string
	Proto                                       *int
	MDBReplace                                  *string
	Guard                                       *string

	QueryInterval, QueryResponseInterval    *time.Duration
	LastMemberInterval, MDBRefreshInterval  *time.Duration
	Robustness, LastMemberCount             *int
	MaxGroups, MaxGroupsPerPort, MaxSources *int
	IGMPVersion, MLDVersion                 *int
	Querier, AnySource, Handover            *bool
	GroupMetrics, GuardRelay                *bool
	QuerierAddress                          *netip.Addr
	SSMRanges                               *[]netip.Prefix
	QuerierPorts                            *[]string

	FastLeave, StaticRouters, Flood []string
	// NDGuests turns nd_guests on for the ports it names, on every bridge.
	NDGuests []string
}

// apply lays the overrides over a parsed file.
func (o *Overrides) apply(f *fileConfig) {
	for _, b := range o.Bridges {
		if !f.hasBridge(b) {
			f.Bridges = append(f.Bridges, bridgeConfig{Name: &located{Value: b}})
		}
	}
	set(&f.Socket, o.Socket)
	set(&f.LogLevel, o.LogLevel)
	set(&f.LogFormat, o.LogFormat)
	set(&f.MetricsAddress, o.MetricsAddress)
	set(&f.Guard, o.Guard)
	if o.Proto != nil {
		f.Proto = o.Proto
	}
	if o.MDBReplace != nil {
		f.MDBReplace = o.MDBReplace
	}
	dur := func(d *time.Duration) *duration {
		if d == nil {
			return nil
		}
		return &duration{*d}
	}
	var ssm *[]prefix
	if o.SSMRanges != nil {
		ps := make([]prefix, 0, len(*o.SSMRanges))
		for _, p := range *o.SSMRanges {
			ps = append(ps, prefix{p})
		}
		ssm = &ps
	}
	yes := true
	for i := range f.Bridges {
		b := &f.Bridges[i]
		override(&b.QueryInterval, dur(o.QueryInterval))
		override(&b.QueryResponseInterval, dur(o.QueryResponseInterval))
		override(&b.LastMemberInterval, dur(o.LastMemberInterval))
		override(&b.MDBRefreshInterval, dur(o.MDBRefreshInterval))
		override(&b.LastMemberCount, o.LastMemberCount)
		override(&b.Robustness, o.Robustness)
		override(&b.MaxGroups, o.MaxGroups)
		override(&b.MaxSources, o.MaxSources)
		override(&b.Querier, o.Querier)
		override(&b.IGMPVersion, o.IGMPVersion)
		override(&b.MLDVersion, o.MLDVersion)
		override(&b.AnySource, o.AnySource)
		override(&b.HandoverOnExit, o.Handover)
		override(&b.GroupMetrics, o.GroupMetrics)
		override(&b.GuardRelay, o.GuardRelay)
		override(&b.PortDefaults.MaxGroups, o.MaxGroupsPerPort)
		override(&b.SSMRanges, ssm)
		override(&b.QuerierPorts, o.QuerierPorts)
		if o.QuerierAddress != nil {
			b.QuerierAddress = &address{*o.QuerierAddress}
		}
		for _, p := range o.FastLeave {
			b.port(p).FastLeave = &yes
		}
		for _, p := range o.StaticRouters {
			b.port(p).Router = &yes
		}
		for _, p := range o.Flood {
			b.port(p).Flood = &yes
		}
		for _, p := range o.NDGuests {
			b.port(p).NDGuests = &yes
		}
	}
}

// override replaces *dst with v when v is set.
func override[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}

// set replaces *dst with *v when v is set.
func set(dst, v *string) {
	if v != nil {
		*dst = *v
	}
}

func (f *fileConfig) hasBridge(name string) bool {
	for _, b := range f.Bridges {
		if b.Name != nil && b.Name.Value == name {
			return true
		}
	}
	return false
}

// port returns the bridge's settings for a port, creating them.
func (b *bridgeConfig) port(name string) *portConfig {
	if b.Ports == nil {
		b.Ports = map[string]*portConfig{}
	}
	if b.Ports[name] == nil {
		b.Ports[name] = &portConfig{}
	}
	return b.Ports[name]
}
