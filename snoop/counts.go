package snoop

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// GroupCount is one group's audience: its member ports and the hosts
// tracked behind them (IPTV viewer counts).
type GroupCount struct {
	VLAN  uint16
	Group netip.Addr
	// Ports counts the member ports, as the ports of the group's rows in
	// Groups; Hosts sums, over those ports, the tracked hosts (each
	// port's distinct reporters). Hosts the engine cannot track (reports
	// from 0.0.0.0 or ::, or past MaxHosts) are not counted.
	Ports, Hosts int
}

// GroupCounts returns every group's counts ordered by VLAN and group. It
// builds no rows, so it is cheap enough for every metrics scrape; there
// are as many as the group limit allows.
func (e *Engine) GroupCounts(now time.Time) []GroupCount {
	n := e.table.TimeOf(now)
	out := make([]GroupCount, 0, e.table.Keys())
	e.table.EachGroup(func(k fdb.Key, members []*fdb.PortGroup) {
		c := GroupCount{VLAN: k.VLAN, Group: k.Group, Ports: len(members)}
		for _, pg := range members {
			c.Hosts += liveHosts(pg, n)
		}
		out = append(out, c)
	})
	slices.SortFunc(out, func(a, b GroupCount) int {
		return cmp.Or(cmp.Compare(a.VLAN, b.VLAN), a.Group.Compare(b.Group))
	})
	return out
}
