package snoop

import (
	"net/netip"
	"slices"
)

// The guard's relay. The daemon can have the ingress guard relay the
// reports of some ports to the router ports itself, in the kernel, before
// the engine sees them (bridge.GuardOptions.Relay): a join then reaches
// the routers without a trip through userspace, and the engine, told by
// wire.Message.Relayed, relays it no more. The engine says from which
// ports that is safe (RelaysFrom), and to which ports (RelayTargets),
// since only it knows what it would do with a report.

// RelaysFrom tells whether a report from ifindex may be relayed before the
// engine sees it: the engine would relay it unchanged to RelayTargets or
// refuse it for its group's SSM range (which the guard checks too), and
// nothing else. That is so on a port that is up, where the daemon learns,
// with no profile, group limit, flooding or snooping off, on a bridge
// without VLAN filtering (router ports are then per VLAN), while the table
// has room for RelayHeadroom more groups: near its limit the engine
// refuses new groups, and reports already past the guard could not be
// taken back. A bridge with a group limit below RelayHeadroom relays
// every report through the daemon.
func (e *Engine) RelaysFrom(ifindex int) bool {
	p := e.ports[ifindex]
	if p == nil || !p.up || p.kernelLearns || e.cfg.VLANFiltering {
		return false
	}
	pol := p.policy
	if pol.Profile != nil || pol.MaxGroups > 0 || pol.Flood || pol.NoSnooping {
		return false
	}
	if max := e.cfg.Limits.MaxKeys; max > 0 && max-e.table.Keys()-len(e.srcKeys) < RelayHeadroom {
		return false
	}
	return e.cfg.Limits.MaxPerPort == 0 || e.cfg.Limits.MaxPerPort-e.table.PortLen(ifindex) >= RelayHeadroom
}

// RelayHeadroom is how many more groups the table must have room for
// while the guards relay: more new groups than that in flight at once,
// arriving faster than the daemon reads them, is a flood (and the reports
// it relayed and the engine then refused are counted:
// Stats.GuardRelayedRefused).
const RelayHeadroom = 1024

// RelayTargets appends to dst the ports a report of one protocol (MLD if
// v6) goes to from anywhere (on a port among them, it goes to the others):
// the router ports and the FloodReports ports that are up, ascending.
func (e *Engine) RelayTargets(dst []int, v6 bool) []int {
	return e.relayTargets(dst, 0, v6, 0)
}

// SSMRanges are the SSM ranges in force, for the guard's own check.
func (e *Engine) SSMRanges() []netip.Prefix { return slices.Clone(e.ssm) }

// relayTargets appends the ports a report of vlan and protocol from
// ingress is relayed to (RFC 4541 C1, and FloodReports).
func (e *Engine) relayTargets(dst []int, vlan uint16, v6 bool, ingress int) []int {
	start := len(dst)
	dst = e.table.AppendRouterPorts(dst, vlan, v6, ingress)
	for _, i := range e.floodReports {
		if i != ingress && !slices.Contains(dst[start:], i) {
			dst = append(dst, i)
		}
	}
	kept := dst[:start]
	for _, i := range dst[start:] {
		if p := e.ports[i]; p != nil && p.up {
			kept = append(kept, i)
		}
	}
	slices.Sort(kept[start:])
	return kept
}
