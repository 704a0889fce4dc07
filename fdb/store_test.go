package fdb

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// memberKey names membership i of the store tests: groups of 1 to 3
// ports, so some groups have a one-member slice from the store and some
// have grown past it.
func memberKey(i int) (Key, int) {
	return Key{Group: netip.AddrFrom4([4]byte{239, 1, byte(i >> 8), byte(i)})}, 1 + i%3
}

// hostOf is the host that mark gives membership (k, port): its own address.
func hostOf(k Key, port int) netip.Addr {
	a := k.Group.As4()
	return netip.AddrFrom4([4]byte{10, a[2], a[3], byte(port)})
}

// mark makes pg recognisably (k, port)'s: a tracked host, a source and
// a rare state that only it has.
func mark(pg *PortGroup) {
	h := hostOf(pg.Key, pg.Port)
	pg.Mode = Include
	pg.Hosts = append(pg.Hosts, Host{Addr: h, Mode: Include, Sources: []netip.Addr{h}})
	pg.SetSource(h, 1, 0)
	pg.SetQueriesLeft(uint8(pg.Port))
}

// checkMarked fails unless every membership in live is in t, marked as
// its own, and no two share a port group or a member slice.
func checkMarked(t *testing.T, tb *Table, live map[MemberKey]bool) {
	t.Helper()
	if tb.Len() != len(live) {
		t.Fatalf("%d memberships, want %d", tb.Len(), len(live))
	}
	seen := make(map[*PortGroup]MemberKey)
	slices := make(map[**PortGroup]Key)
	for mk := range live {
		pg := tb.Get(mk.Key, mk.Port)
		if pg == nil {
			t.Fatalf("%v on %d missing", mk.Key, mk.Port)
		}
		if other, ok := seen[pg]; ok {
			t.Fatalf("%v on %d and %v on %d share a port group", mk.Key, mk.Port, other.Key, other.Port)
		}
		seen[pg] = mk
		h := hostOf(mk.Key, mk.Port)
		if pg.Key != mk.Key || pg.Port != mk.Port || pg.Mode != Include || pg.QueriesLeft() != uint8(mk.Port) ||
			len(pg.Hosts) != 1 || pg.Hosts[0].Addr != h || len(pg.Hosts[0].Sources) != 1 || pg.Hosts[0].Sources[0] != h ||
			len(pg.Sources) != 1 || pg.Sources[0].Addr != h {
			t.Fatalf("%v on %d holds another's state: %+v", mk.Key, mk.Port, *pg)
		}
		pgs := tb.groups[mk.Key]
		if k, ok := slices[&pgs[0]]; ok && k != mk.Key {
			t.Fatalf("groups %v and %v share a member slice", mk.Key, k)
		}
		slices[&pgs[0]] = mk.Key
	}
}

// TestReuseDoesNotAlias joins and removes memberships at random, past
// several slabs and through the free lists, marking each new port group
// as its own: a reused port group or member slice must never be one a
// live membership still has, and must come back empty.
func TestReuseDoesNotAlias(t *testing.T) {
	tb := New(Limits{}, time.Now())
	live := make(map[MemberKey]bool)
	rng := rand.New(rand.NewPCG(15, 15))
	const space = 3 * pgSlab // memberships to pick from
	reused, reusedSlots := 0, 0
	for step := range 6 * pgSlab {
		k, port := memberKey(rng.IntN(space))
		mk := MemberKey{k, port}
		if live[mk] && rng.IntN(3) > 0 { // grow more than shrink, then both
			if !tb.Remove(k, port) {
				t.Fatalf("step %d: remove of %v on %d failed", step, k, port)
			}
			delete(live, mk)
		} else {
			if !live[mk] && len(tb.store.freed) > 0 {
				reused++
				if tb.KeyLen(k) == 0 && len(tb.store.freedSlots) > 0 {
					reusedSlots++
				}
			}
			pg, created, err := tb.Join(k, port)
			if err != nil {
				t.Fatal(err)
			}
			if created != !live[mk] {
				t.Fatalf("step %d: created %v for %v on %d, live %v", step, created, k, port, live[mk])
			}
			if created {
				if pg.Mode != 0 || len(pg.Hosts) != 0 || len(pg.Sources) != 0 || pg.QueriesLeft() != 0 || pg.Wake != 0 {
					t.Fatalf("step %d: new port group not empty: %+v", step, *pg)
				}
				mark(pg)
				live[mk] = true
			}
		}
		if step%97 == 0 {
			checkMarked(t, tb, live)
		}
	}
	checkMarked(t, tb, live)
	if reused < pgSlab || reusedSlots < pgSlab/10 {
		t.Fatalf("%d port groups and %d member slices reused: too few to test reuse", reused, reusedSlots)
	}
}

// TestRemovedIsZeroed: a stale pointer to a removed port group shows an
// empty one, not one that looks alive, and what it held is let go.
func TestRemovedIsZeroed(t *testing.T) {
	tb := New(Limits{}, time.Now())
	k, port := memberKey(1)
	pg, _, _ := tb.Join(k, port)
	mark(pg)
	tb.Remove(k, port)
	if pg.Key != (Key{}) || pg.Port != 0 || pg.Mode != 0 || pg.Hosts != nil || pg.Sources != nil || pg.rare != nil {
		t.Fatalf("removed port group keeps state: %+v", *pg)
	}
	again, created, _ := tb.Join(k, port)
	if !created || again != pg {
		t.Fatalf("Join after Remove: created %v, reused %v; want the freed port group again", created, again == pg)
	}
	if len(again.Hosts) != 0 || cap(again.Hosts) != 1 || &again.Hosts[:1][0] != &again.host[0] {
		t.Fatal("a reused port group's Hosts is not its own one-host array")
	}
}

// TestRemovePortCopiesOutliveReuse: what RemovePort returns stays as it
// was when the removed port groups are reused.
func TestRemovePortCopiesOutliveReuse(t *testing.T) {
	tb := New(Limits{}, time.Now())
	for i := range 9 {
		k, port := memberKey(i)
		pg, _, _ := tb.Join(k, port)
		mark(pg)
	}
	gone := tb.RemovePort(2)
	for i := 100; i < 120; i++ {
		k, port := memberKey(i)
		pg, _, _ := tb.Join(k, port)
		mark(pg)
	}
	if len(gone) != 3 {
		t.Fatalf("%d memberships gone, want 3", len(gone))
	}
	for _, pg := range gone {
		h := hostOf(pg.Key, 2)
		if pg.Port != 2 || len(pg.Hosts) != 1 || pg.Hosts[0].Addr != h || pg.Sources[0].Addr != h {
			t.Fatalf("removed copy changed by reuse: %+v", pg)
		}
	}
}

// TestJoinAllocatesInSteps: joins of new groups and of new ports allocate
// only when a slab runs out (or a shared group's slice grows), and not at
// all once the table reuses what it removed.
func TestJoinAllocatesInSteps(t *testing.T) {
	tb := New(Limits{}, time.Now())
	const n = 4 * pgSlab
	i := 0
	allocs := testing.AllocsPerRun(n, func() {
		k := Key{Group: netip.AddrFrom4([4]byte{239, 2, byte(i >> 8), byte(i)})}
		pg, _, _ := tb.Join(k, 1+i%64)
		pg.Hosts = append(pg.Hosts, Host{Addr: hostOf(k, 1)}) // as the engine's first report does
		i++
	})
	// The slabs (port groups and slices), and the map's growth.
	if allocs > 0.05 {
		t.Errorf("%.3f allocations per new group, want the slabs' and the map's only", allocs)
	}
	for _, mk := range tb.AllKeys() {
		tb.Remove(mk.Key, mk.Port)
	}
	i = 0
	if allocs := testing.AllocsPerRun(n, func() {
		k := Key{Group: netip.AddrFrom4([4]byte{239, 3, byte(i >> 8), byte(i)})}
		pg, _, _ := tb.Join(k, 1+i%64)
		pg.Hosts = append(pg.Hosts, Host{Addr: hostOf(k, 1)})
		i++
	}); allocs != 0 {
		t.Errorf("%v allocations per join reusing removed port groups, want 0", allocs)
	}
}

// TestGrownGroupGivesBackItsSlice: a group that grows past one member
// gives its one-member slice back, and the next new group gets it.
func TestGrownGroupGivesBackItsSlice(t *testing.T) {
	tb := New(Limits{}, time.Now())
	k, k2 := key("239.5.0.1"), key("239.5.0.2")
	tb.Join(k, 1)
	slot := &tb.groups[k][:1][0]
	tb.Join(k, 2)
	if len(tb.store.freedSlots) != 1 || &tb.store.freedSlots[0][0] != slot {
		t.Fatalf("%d member slices freed after the group grew, want its own", len(tb.store.freedSlots))
	}
	tb.Join(k2, 1)
	if &tb.groups[k2][0] != slot || tb.groups[k][0].Port != 1 || tb.groups[k][1].Port != 2 {
		t.Fatal("the next new group does not get the freed member slice, or the grown group lost a member")
	}
}
