package bridge

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func openTestBatch(t testing.TB, ns *testNS) *MDBBatch {
	t.Helper()
	var b *MDBBatch
	ns.Do(func() {
		var err error
		if b, err = OpenMDBBatch(); err != nil {
			t.Fatalf("OpenMDBBatch: %v", err)
		}
	})
	t.Cleanup(func() { b.Close() })
	return b
}

// TestMDBBatch: a batch writes what MDB.Replace and MDB.Delete write,
// many entries per system call, and reports each write's own result,
// kernel errors with their extended-ack text, in queue order.
func TestMDBBatch(t *testing.T) {
	l := newLab(t, 2)
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_igmp_version", "3", "mcast_hash_max", "4096")
	m := openTestMDB(t, l.br)
	b := openTestBatch(t, l.br)

	// More than one chunk, on both ports.
	const n = 2*mdbBatchChunk + 17
	var want []Entry
	for i := range n {
		e := Entry{Bridge: l.brIdx, Port: l.ports[i%2], Group: netip.AddrFrom4([4]byte{239, 78, byte(i >> 8), byte(i)})}
		if err := b.Replace(e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	// A source list, an (S,G) entry, a permanent entry, another proto,
	// and IPv6, as TestMDBFamiliesAndSources writes them one by one.
	special := []Entry{
		{Bridge: l.brIdx, Port: l.ports[0], Group: netip.MustParseAddr("232.1.1.1"), Mode: ModeInclude,
			Sources: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")}},
		{Bridge: l.brIdx, Port: l.ports[1], Group: netip.MustParseAddr("239.77.0.2"), Source: netip.MustParseAddr("10.77.0.99")},
		{Bridge: l.brIdx, Port: l.ports[1], Group: netip.MustParseAddr("ff0e::77"), Permanent: true},
		{Bridge: l.brIdx, Port: l.ports[0], Group: netip.MustParseAddr("239.77.0.3"), Proto: 4},
	}
	for _, e := range special {
		if err := b.Replace(e); err != nil {
			t.Fatal(err)
		}
	}
	// A write the kernel refuses, in the middle of good ones.
	bad := Entry{Bridge: l.brIdx, Port: l.ports[0], Group: netip.MustParseAddr("224.0.0.5")}
	if err := b.Replace(bad); err != nil {
		t.Fatal(err)
	}
	last := Entry{Bridge: l.brIdx, Port: l.ports[1], Group: netip.MustParseAddr("239.77.0.4")}
	if err := b.Replace(last); err != nil {
		t.Fatal(err)
	}
	if b.Len() != n+len(special)+2 {
		t.Fatalf("Len = %d", b.Len())
	}
	errs := b.Flush()
	if len(errs) != n+len(special)+2 || b.Len() != 0 {
		t.Fatalf("%d results, %d left queued", len(errs), b.Len())
	}
	for i, err := range errs {
		if i == n+len(special) {
			if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "IPv4 entry group address is local multicast") {
				t.Errorf("refused write: %v, want EINVAL with the kernel's text", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	dump := mustDump(t, m, l.brIdx)
	for _, e := range append(append(want, special...), last) {
		got, ok := Entry{}, false
		for _, x := range dump {
			if x.Port == e.Port && x.Group == e.Group && x.Source == e.Source {
				got, ok = x, true
			}
		}
		proto := e.Proto
		if proto == 0 {
			proto = DefaultProto
		}
		switch {
		case !ok:
			t.Errorf("%s not in the MDB", e)
		case got.Proto != proto || got.Permanent != e.Permanent:
			t.Errorf("dumped %s, want %s", got, e)
		case len(e.Sources) > 0 && (got.Mode != ModeInclude || len(got.Sources) != 2):
			t.Errorf("dumped %s with mode %v sources %v, want INCLUDE %v", got, got.Mode, got.Sources, e.Sources)
		}
	}

	// Deletes, one of an entry that is not there.
	for _, e := range append(want[:3:3], special[1], Entry{Bridge: l.brIdx, Port: l.ports[0], Group: netip.MustParseAddr("239.99.9.9")}) {
		if err := b.Delete(e); err != nil {
			t.Fatal(err)
		}
	}
	errs = b.Flush()
	for i, err := range errs[:4] {
		if err != nil {
			t.Errorf("delete %d: %v", i, err)
		}
	}
	if !errors.Is(errs[4], ErrNotFound) {
		t.Errorf("delete of a missing entry: %v, want ErrNotFound", errs[4])
	}
	for _, x := range mustDump(t, m, l.brIdx) {
		if x.Group == want[0].Group && x.Port == want[0].Port {
			t.Errorf("%s still there after a batched delete", x)
		}
	}

	// Bad input is refused when queued, and nothing is queued.
	if err := b.Replace(Entry{Bridge: l.brIdx, Port: l.ports[0]}); err == nil {
		t.Error("Replace without a group queued")
	}
	if err := b.Delete(Entry{Bridge: 0, Port: l.ports[0], Group: want[0].Group}); err == nil {
		t.Error("Delete without a bridge queued")
	}
	if b.Len() != 0 || len(b.Flush()) != 0 {
		t.Error("refused input was queued")
	}
}
