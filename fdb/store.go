package fdb

import "unsafe"

// Slabs: pgSlab port groups (64 KiB, whole pages: a slab is a large
// object, rounded up to pages) or slotSlab one-member group slices (4 KiB)
// at a time.
const (
	pgSlab   = 64 << 10 / int(unsafe.Sizeof(PortGroup{}))
	slotSlab = 4 << 10 / int(unsafe.Sizeof([1]*PortGroup{}))
)

// store is where a table's port groups, and the member slices of groups
// with one member, come from. It allocates them a slab at a time and
// takes removed ones back for reuse, so a join storm allocates once per
// some 270 joins, and after its first storm a table reuses memory it has
// already touched (no page faults). Nothing goes back to the heap while
// the table lives: it keeps the most it ever held, which its limits
// bound.
//
// A port group handed out is zero but for its key, its port and Hosts,
// which points at its own one-host array. A removed one is zeroed before
// it is reused: whoever removes it must drop their pointers to it.
type store struct {
	pgs        []PortGroup     // the unused rest of the latest slab
	freed      []*PortGroup    // removed, zeroed, newest last
	slots      [][1]*PortGroup // the unused rest of the latest slab of slices
	freedSlots []*[1]*PortGroup
}

// portGroup returns a port group for (k, port), reusing a removed one if
// there is one.
func (s *store) portGroup(k Key, port int) *PortGroup {
	var pg *PortGroup
	if n := len(s.freed); n > 0 {
		pg, s.freed = s.freed[n-1], s.freed[:n-1]
	} else {
		if len(s.pgs) == 0 {
			s.pgs = make([]PortGroup, pgSlab)
		}
		pg, s.pgs = &s.pgs[0], s.pgs[1:]
	}
	pg.Key, pg.Port = k, port
	pg.Hosts = pg.host[:0]
	return pg
}

// free takes back a removed port group. It is zeroed at once, so that a
// stale pointer shows an empty port group rather than one that looks alive,
// and what it pointed at (sources, hosts grown past one, rare state)
// goes to the garbage collector.
func (s *store) free(pg *PortGroup) {
	*pg = PortGroup{}
	s.freed = append(s.freed, pg)
}

// members returns an empty slice of capacity one for a new group's first
// member: most groups on a bridge have one port.
func (s *store) members() []*PortGroup {
	if n := len(s.freedSlots); n > 0 {
		a := s.freedSlots[n-1]
		s.freedSlots = s.freedSlots[:n-1]
		return a[:0]
	}
	if len(s.slots) == 0 {
		s.slots = make([][1]*PortGroup, slotSlab)
	}
	a := &s.slots[0]
	s.slots = s.slots[1:]
	return a[:0]
}

// freeMembers takes back a group's member slice that no one uses any more,
// if it is one that members handed out (capacity one); a longer one is
// the heap's.
func (s *store) freeMembers(pgs []*PortGroup) {
	if cap(pgs) != 1 {
		return
	}
	s.freedSlots = append(s.freedSlots, (*[1]*PortGroup)(pgs[:1]))
}
