package bridge

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMDBBatchWithoutReplace: with replace off the batch writes as it must
// on kernels before 6.2: a plain add without proto, which the kernel
// refuses with EEXIST (ErrExists) for an entry the port has, leaving its
// timer as it was; a delete queued before the add refreshes it.
func TestMDBBatchWithoutReplace(t *testing.T) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	b := openTestBatch(t, l.br)
	b.SetReplace(false)
	g := netip.MustParseAddr("239.77.1.1")
	e := Entry{Bridge: l.brIdx, Port: l.ports[0], Group: g, Proto: 200}
	write := func(queue ...func(Entry) error) []error {
		t.Helper()
		for _, q := range queue {
			if err := q(e); err != nil {
				t.Fatal(err)
			}
		}
		return b.Flush()
	}

	// A new entry: created, with the kernel's proto for userspace entries.
	if errs := write(b.Replace); errs[0] != nil {
		t.Fatalf("add: %v", errs[0])
	}
	got, ok := findEntry(mustDump(t, m, l.brIdx), e.Port, g)
	if !ok || got.Proto != ProtoStatic || got.Permanent || got.Timer < 250*time.Second {
		t.Fatalf("dumped %+v (found %t), want temporary, proto %d, a fresh timer", got, ok, ProtoStatic)
	}

	// Again: EEXIST, and the timer runs on.
	time.Sleep(1200 * time.Millisecond)
	err := write(b.Replace)[0]
	if !errors.Is(err, ErrExists) || !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "already joined by port") {
		t.Errorf("second add = %v, want ErrExists wrapping EEXIST with the kernel's text", err)
	}
	aged, _ := findEntry(mustDump(t, m, l.brIdx), e.Port, g)
	if aged.Timer > got.Timer-time.Second {
		t.Errorf("timer after a refused add = %v, first %v: it must not restart", aged.Timer, got.Timer)
	}

	// Delete and add in one batch: both succeed and the timer restarts.
	errs := write(b.Delete, b.Replace)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("delete+add = %v", errs)
	}
	fresh, ok := findEntry(mustDump(t, m, l.brIdx), e.Port, g)
	if !ok || fresh.Timer <= aged.Timer+time.Second || fresh.Proto != ProtoStatic {
		t.Errorf("after delete+add: %+v (found %t), before %v: not refreshed", fresh, ok, aged.Timer)
	}

	// The same pair for an entry that is not there: the delete says so,
	// the add creates it.
	e.Group = netip.MustParseAddr("239.77.1.2")
	errs = write(b.Delete, b.Replace)
	if !errors.Is(errs[0], ErrNotFound) || errs[1] != nil {
		t.Errorf("delete+add of a new entry = %v, want ErrNotFound, nil", errs)
	}
	if _, ok := findEntry(mustDump(t, m, l.brIdx), e.Port, e.Group); !ok {
		t.Error("new entry not added")
	}

	// Replace on again: NLM_F_REPLACE and our proto.
	b.SetReplace(true)
	if errs := write(b.Replace); errs[0] != nil {
		t.Fatalf("replace: %v", errs[0])
	}
	if got, _ := findEntry(mustDump(t, m, l.brIdx), e.Port, e.Group); got.Proto != 200 {
		t.Errorf("after replace: %+v, want proto 200", got)
	}
}

// TestMDBBatchKeepsPairs: a chunk never ends between a delete and the add
// of the same entry that follows it, which would leave the entry missing
// for a round trip.
func TestMDBBatchKeepsPairs(t *testing.T) {
	b := newMDBBatch(nil)
	entry := func(i int) Entry {
		return Entry{Bridge: 1, Port: 2, Group: netip.AddrFrom4([4]byte{239, 1, byte(i >> 8), byte(i)})}
	}
	for i := range mdbBatchChunk - 1 {
		if err := b.Replace(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A pair across the boundary, then another entry's delete and add.
	for _, i := range []int{1000, 1001} {
		if b.Delete(entry(i)) != nil || b.Replace(entry(i)) != nil {
			t.Fatal("queue")
		}
	}
	if end := b.chunkEnd(0); end != mdbBatchChunk-1 {
		t.Errorf("first chunk ends at %d, want %d (before the delete)", end, mdbBatchChunk-1)
	}
	if end := b.chunkEnd(mdbBatchChunk - 1); end != len(b.ops) {
		t.Errorf("second chunk ends at %d, want %d", end, len(b.ops))
	}
	// A delete and an add of different entries may be parted.
	b = newMDBBatch(nil)
	for i := range mdbBatchChunk - 1 {
		b.Replace(entry(i))
	}
	b.Delete(entry(1000))
	b.Replace(entry(1001))
	if end := b.chunkEnd(0); end != mdbBatchChunk {
		t.Errorf("chunk ends at %d, want %d", end, mdbBatchChunk)
	}
}

func TestProbeReplace(t *testing.T) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	before := mustDump(t, m, l.brIdx)
	l.br.Do(func() {
		ok, err := ProbeReplace(l.brIdx)
		if err != nil || !ok {
			t.Fatalf("ProbeReplace = %t, %v; want true on this kernel", ok, err)
		}
		if _, err := ProbeReplace(l.ports[0]); !errors.Is(err, ErrNotBridge) {
			t.Errorf("ProbeReplace(port) = %v, want ErrNotBridge", err)
		}
		if _, err := ProbeReplace(9999); !errors.Is(err, ErrNoLink) {
			t.Errorf("ProbeReplace(9999) = %v, want ErrNoLink", err)
		}
	})
	if after := mustDump(t, m, l.brIdx); len(after) != len(before) {
		t.Errorf("dump after the probe = %v, before %v", after, before)
	}
	if out := l.br.Exec("bridge", "mdb", "show", "dev", "br0"); strings.Contains(out, "239.255.77.78") {
		t.Errorf("probe group in the MDB:\n%s", out)
	}
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	l.br.Do(func() {
		if ok, err := ProbeReplace(l.brIdx); err == nil {
			t.Errorf("ProbeReplace with snooping off = %t, no error", ok)
		}
	})
}
