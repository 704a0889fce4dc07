package bridge

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func findKey(es []Entry, port int, group, source netip.Addr) (Entry, bool) {
	for _, e := range es {
		if e.Port == port && e.Group == group && e.Source == source {
			return e, true
		}
	}
	return Entry{}, false
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestProbeSourceLists(t *testing.T) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	before := mustDump(t, m, l.brIdx)
	l.br.Do(func() {
		ok, err := ProbeSourceLists(l.brIdx)
		if err != nil || !ok {
			t.Fatalf("ProbeSourceLists = %t, %v; want true on this kernel", ok, err)
		}
		if _, err := ProbeSourceLists(l.ports[0]); !errors.Is(err, ErrNotBridge) {
			t.Errorf("ProbeSourceLists(port) = %v, want ErrNotBridge", err)
		}
		if _, err := ProbeSourceLists(9999); !errors.Is(err, ErrNoLink) {
			t.Errorf("ProbeSourceLists(9999) = %v, want ErrNoLink", err)
		}
	})
	// Nothing changed, host joins included.
	if after := mustDump(t, m, l.brIdx); len(after) != len(before) {
		t.Errorf("dump after the probe = %v, before %v", after, before)
	}
	if out := l.br.Exec("bridge", "mdb", "show", "dev", "br0"); strings.Contains(out, "239.255.77.77") {
		t.Errorf("probe group in the MDB:\n%s", out)
	}
	// With snooping off the probe cannot tell, and says so.
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	l.br.Do(func() {
		ok, err := ProbeSourceLists(l.brIdx)
		t.Logf("snooping off: %t, %v", ok, err)
		if err == nil {
			t.Error("ProbeSourceLists with snooping off: no error")
		}
	})
}

// TestMDBSourceLists: (*,G) entries with a filter mode and sources, and the
// (S,G) entries the kernel derives from them.
func TestMDBSourceLists(t *testing.T) {
	l := newLab(t, 2)
	l.br.Do(func() {
		if err := SetIGMPVersion(l.brIdx, 3); err != nil {
			t.Fatal(err)
		}
	})
	m := openTestMDB(t, l.br)
	p1, p2 := l.ports[0], l.ports[1]
	g := netip.MustParseAddr("239.77.9.1")
	s1, s2, s3 := netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.101"), netip.MustParseAddr("10.77.0.102")
	inc := Entry{Bridge: l.brIdx, Port: p1, Group: g, Mode: ModeInclude, Sources: []netip.Addr{s1}}
	exc := Entry{Bridge: l.brIdx, Port: p2, Group: g}
	for _, e := range []Entry{inc, exc} {
		if err := m.replace(e); err != nil {
			t.Fatalf("Replace %s: %v", e, err)
		}
	}
	es := mustDump(t, m, l.brIdx)
	for _, e := range es {
		t.Logf("dump: %s flags %#x timer %v", e, e.Flags, e.Timer)
	}
	star1, ok := findKey(es, p1, g, netip.Addr{})
	if !ok || star1.Mode != ModeInclude || !slices.Equal(star1.Sources, inc.Sources) || star1.Child || star1.Proto != DefaultProto {
		t.Errorf("p1 (*,G) = %s, want include [%s] proto %d", star1, s1, DefaultProto)
	}
	if star1.Timer != 0 {
		t.Errorf("p1 (*,G) INCLUDE timer = %v, want none (its sources have the timers)", star1.Timer)
	}
	star2, ok := findKey(es, p2, g, netip.Addr{})
	if !ok || star2.Mode != ModeExclude || len(star2.Sources) != 0 || star2.Child {
		t.Errorf("p2 (*,G) = %s, want exclude []", star2)
	}
	// The kernel made (S1,G) on p1 for the listed source, and replicated the
	// EXCLUDE port p2 onto it.
	sg1, ok := findKey(es, p1, g, s1)
	if !ok || !sg1.Child || sg1.Proto != DefaultProto || sg1.Flags&FlagBlocked != 0 {
		t.Errorf("p1 (S1,G) = %s (found %t), want a child with our proto, not blocked", sg1, ok)
	}
	sg1r, ok := findKey(es, p2, g, s1)
	if !ok || !sg1r.Child || sg1r.Flags&FlagStarExcl == 0 {
		t.Errorf("p2 (S1,G) = %s flags %#x (found %t), want a STAR_EXCL child", sg1r, sg1r.Flags, ok)
	}
	if len(es) != 4 {
		t.Errorf("dump has %d entries, want 4", len(es))
	}

	// Replace swaps the list: S3 added, S1 kept; EXCLUDE {S2} on p2 blocks S2.
	inc.Sources = []netip.Addr{s3, s1, s3}
	exc.Sources = []netip.Addr{s2}
	for _, e := range []Entry{inc, exc} {
		if err := m.replace(e); err != nil {
			t.Fatalf("Replace %s: %v", e, err)
		}
	}
	es = mustDump(t, m, l.brIdx)
	for _, e := range es {
		t.Logf("dump: %s flags %#x timer %v", e, e.Flags, e.Timer)
	}
	if e, _ := findKey(es, p1, g, netip.Addr{}); !slices.Equal(e.Sources, []netip.Addr{s1, s3}) {
		t.Errorf("p1 (*,G) sources = %v, want [%s %s] (sorted, no duplicates)", e.Sources, s1, s3)
	}
	if e, ok := findKey(es, p1, g, s3); !ok || !e.Child {
		t.Errorf("p1 (S3,G) = %s (found %t), want a child", e, ok)
	}
	if e, _ := findKey(es, p2, g, netip.Addr{}); e.Mode != ModeExclude || !slices.Equal(e.Sources, []netip.Addr{s2}) {
		t.Errorf("p2 (*,G) = %s, want exclude [%s]", e, s2)
	}
	if e, ok := findKey(es, p2, g, s2); !ok || !e.Child || e.Flags&FlagBlocked == 0 {
		t.Errorf("p2 (S2,G) = %s flags %#x (found %t), want a blocked child", e, e.Flags, ok)
	}

	// A replace without sources clears them (the kernel's default mode is
	// EXCLUDE), and the blocked child goes.
	exc.Sources = nil
	if err := m.replace(exc); err != nil {
		t.Fatal(err)
	}
	es = mustDump(t, m, l.brIdx)
	if e, _ := findKey(es, p2, g, netip.Addr{}); e.Mode != ModeExclude || len(e.Sources) != 0 {
		t.Errorf("p2 (*,G) after a replace without sources = %s, want exclude []", e)
	}
	if e, ok := findKey(es, p2, g, s2); ok {
		t.Errorf("p2 (S2,G) still there after its source was cleared: %s", e)
	}

	// Deleting the (*,G) entry takes its children along.
	if err := m.delete(inc); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	es = mustDump(t, m, l.brIdx)
	for _, e := range es {
		if e.Port == p1 {
			t.Errorf("left on p1 after deleting its (*,G): %s", e)
		}
	}

	// Source lists need igmp_version 3 to show in dumps (not to be set).
	if err := m.replace(Entry{Bridge: l.brIdx, Port: p1, Group: g, Mode: ModeInclude, Sources: []netip.Addr{s1}}); err != nil {
		t.Fatal(err)
	}
	l.br.Do(func() {
		if err := SetIGMPVersion(l.brIdx, 2); err != nil {
			t.Fatal(err)
		}
	})
	es = mustDump(t, m, l.brIdx)
	if e, _ := findKey(es, p1, g, netip.Addr{}); e.Mode != ModeExclude || e.Sources != nil {
		t.Errorf("p1 (*,G) with igmp_version 2 = %s, want no mode or sources reported", e)
	}
	if e, ok := findKey(es, p1, g, s1); !ok || e.Child {
		t.Errorf("p1 (S1,G) with igmp_version 2 = %s (found %t): still made, but no longer recognisable as a child", e, ok)
	}
}

func TestMDBSourceListErrors(t *testing.T) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	p := l.ports[0]
	g := netip.MustParseAddr("239.77.9.2")
	var many []netip.Addr
	for i := range MaxSources + 1 {
		many = append(many, netip.AddrFrom4([4]byte{10, 77, 0, byte(100 + i)}))
	}
	e := Entry{Bridge: l.brIdx, Port: p, Group: g, Mode: ModeInclude, Sources: many}
	err := m.replace(e)
	if !errors.Is(err, ErrTooManySources) {
		t.Errorf("Replace with %d sources = %v, want ErrTooManySources", len(many), err)
	}
	t.Logf("too many: %v", err)
	e.Sources = many[:MaxSources]
	if err := m.replace(e); err != nil {
		t.Errorf("Replace with %d sources: %v", MaxSources, err)
	}
	if got, _ := findKey(mustDump(t, m, l.brIdx), p, g, netip.Addr{}); got.Port != p {
		t.Error("entry with 31 sources not in dump")
	}
	// Refused before they reach the kernel.
	for _, bad := range []Entry{
		{Bridge: l.brIdx, Port: p, Group: g, Mode: ModeInclude},
		{Bridge: l.brIdx, Port: p, Group: g, Mode: 2, Sources: addrs("10.77.0.100")},
		{Bridge: l.brIdx, Port: p, Group: g, Source: netip.MustParseAddr("10.77.0.100"), Sources: addrs("10.77.0.101")},
		{Bridge: l.brIdx, Port: l.brIdx, Group: g, Sources: addrs("10.77.0.100")},
		{Bridge: l.brIdx, Port: p, Group: g, Sources: addrs("fd77::1")},
		{Bridge: l.brIdx, Port: p, Group: g, Sources: addrs("239.1.1.1")},
		{Bridge: l.brIdx, Port: p, Group: g, Sources: addrs("0.0.0.0")},
		{Bridge: l.brIdx, Port: p, Group: g, Sources: []netip.Addr{{}}},
	} {
		err := m.replace(bad)
		if err == nil || errors.Is(err, unix.EINVAL) {
			t.Errorf("Replace(%s) = %v, want a refusal before the kernel", bad, err)
		}
	}
}

// sourceLab is a bridge with receivers h1 (p1) and h2 (p2) and a sender h3
// (p3) whose frames come from two sources, with a querier so the kernel
// forwards by the MDB.
type sourceLab struct {
	*lab
	m          *MDB
	h1, h2, h3 *rawSock
	n          int
}

func newSourceLab(t *testing.T, v6 bool) *sourceLab {
	l := &sourceLab{lab: newLab(t, 3)}
	l.m = openTestMDB(t, l.br)
	l.h1, l.h2, l.h3 = openRaw(t, l.hosts[0], "eth0"), openRaw(t, l.hosts[1], "eth0"), openRaw(t, l.hosts[2], "eth0")
	s := openSender(t, l.lab)
	q := igmpQuery(l.br.MAC("br0"), netip.MustParseAddr("10.77.0.1"), 5)
	if v6 {
		q = mldFrame(l.br.MAC("br0"), netip.MustParseAddr("fe80::77:1"), mldV2Query(netip.Addr{}, 500))
	}
	if err := s.WriteFrame(q); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // the query's max response time
	return l
}

// reach sends a datagram from src to g and reports whether h1 and h2 got it.
func (l *sourceLab) reach(src, g netip.Addr) [2]bool {
	l.n++
	body := []byte("datagram " + string(rune('a'+l.n%26)) + src.String())
	var f []byte
	if g.Is6() {
		f = udp6Frame(l.h3.mac, src, g, body)
	} else {
		f = udpFrame(l.h3.mac, src, g, body)
	}
	got := delivery(l.h3, f, 300*time.Millisecond, l.h1, l.h2)
	return [2]bool{got[0], got[1]}
}

// TestMDBSourceForwarding: what the data path does with source lists on
// this kernel. With mcast_igmp_version 3 / mcast_mld_version 2:
//   - (*,G) INCLUDE {S1} on p1, (*,G) EXCLUDE {} on p2: S1 reaches p1 and
//     p2, S2 reaches p2 only;
//   - EXCLUDE {S2} on p2 blocks S2 there (it then reaches nobody);
//
// with version 2 / 1 the kernel ignores modes and sources: INCLUDE {S1} on
// p1 takes every source, like EXCLUDE {}.
func TestMDBSourceForwarding(t *testing.T) {
	for _, fam := range []struct {
		name       string
		v6         bool
		g, s1, s2  netip.Addr
		setVersion func(int, uint8) error
		on, off    uint8
	}{
		{"IPv4", false, netip.MustParseAddr("239.77.9.3"), netip.MustParseAddr("10.77.0.100"), netip.MustParseAddr("10.77.0.101"), SetIGMPVersion, 3, 2},
		{"IPv6", true, netip.MustParseAddr("ff0e::77:9:3"), netip.MustParseAddr("fd77::100"), netip.MustParseAddr("fd77::101"), SetMLDVersion, 2, 1},
	} {
		t.Run(fam.name, func(t *testing.T) {
			l := newSourceLab(t, fam.v6)
			setVersion := func(v uint8) {
				l.br.Do(func() {
					if err := fam.setVersion(l.brIdx, v); err != nil {
						t.Fatal(err)
					}
				})
			}
			setVersion(fam.on)
			g, s1, s2 := fam.g, fam.s1, fam.s2
			inc := Entry{Bridge: l.brIdx, Port: l.ports[0], Group: g, Mode: ModeInclude, Sources: []netip.Addr{s1}}
			exc := Entry{Bridge: l.brIdx, Port: l.ports[1], Group: g}
			for _, e := range []Entry{inc, exc} {
				if err := l.m.replace(e); err != nil {
					t.Fatalf("Replace %s: %v", e, err)
				}
			}
			check := func(what string, src netip.Addr, want [2]bool) {
				t.Helper()
				got := l.reach(src, g)
				t.Logf("%s: from %s reached h1, h2 = %v", what, src, got)
				if got != want {
					t.Errorf("%s: from %s reached h1, h2 = %v, want %v", what, src, got, want)
				}
			}
			check("include {S1} + exclude {}", s1, [2]bool{true, true})
			check("include {S1} + exclude {}", s2, [2]bool{false, true})

			exc.Sources = []netip.Addr{s2}
			if err := l.m.replace(exc); err != nil {
				t.Fatal(err)
			}
			check("include {S1} + exclude {S2}", s1, [2]bool{true, true})
			check("include {S1} + exclude {S2}", s2, [2]bool{false, false})

			setVersion(fam.off)
			check("old protocol version", s1, [2]bool{true, true})
			check("old protocol version", s2, [2]bool{true, true})
		})
	}
}
