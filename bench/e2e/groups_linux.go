package main

import "net/netip"

// Storm groups are numbered from 239.1.0.0 up through 239.255.255.255:
// every (group, port) joined in a run is a group of its own, so a storm
// of N joins makes N MDB entries, and each round can join groups no
// earlier round did.
const (
	firstGroup = 239<<24 | 1<<16
	maxGroups  = 1<<24 - 1<<16
)

// groupAddr is group number i.
func groupAddr(i int) netip.Addr {
	v := uint32(firstGroup + i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// groupNumber is groupAddr's inverse; false for any other address.
func groupNumber(a netip.Addr) (int, bool) {
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	v := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if v < firstGroup || v >= firstGroup+maxGroups {
		return 0, false
	}
	return v - firstGroup, true
}

// groupRange is the groups of one round: host h's j-th join (j < per) is
// group number base + h*per + j.
type groupRange struct{ base, per int }

// roundGroups is round r's range (counting warm-up rounds) in storms of
// per joins on each of hosts hosts: a fresh one for every round.
func roundGroups(r, hosts, per int) groupRange {
	return groupRange{base: r * hosts * per, per: per}
}

func (g groupRange) group(h, j int) netip.Addr { return groupAddr(g.base + h*g.per + j) }

// join maps a group back to the host and join it was sent as; false if
// it is not in the range.
func (g groupRange) join(a netip.Addr, hosts int) (h, j int, ok bool) {
	i, ok := groupNumber(a)
	if !ok || i < g.base || i >= g.base+hosts*g.per {
		return 0, 0, false
	}
	return (i - g.base) / g.per, (i - g.base) % g.per, true
}
