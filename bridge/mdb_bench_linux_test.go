package bridge

import (
	"net/netip"
	"testing"
)

// benchEntries returns n temporary entries spread over the lab's ports,
// each with sources INCLUDE sources when sources > 0.
func benchEntries(l *lab, n, sources int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Bridge: l.brIdx, Port: l.ports[i%len(l.ports)], Group: netip.AddrFrom4([4]byte{239, 79, byte(i >> 8), byte(i)})}
		if sources > 0 {
			es[i].Mode = ModeInclude
			for s := range sources {
				es[i].Sources = append(es[i].Sources, netip.AddrFrom4([4]byte{10, 79, byte(s), 1}))
			}
		}
	}
	return es
}

// benchBatch writes es through one batch per iteration, the way the
// daemon's writer refreshes a join storm's entries.
func benchBatch(b *testing.B, n, sources int) {
	l := newLab(b, 2)
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_igmp_version", "3", "mcast_hash_max", "8192")
	batch := openTestBatch(b, l.br)
	es := benchEntries(l, n, sources)
	b.ResetTimer()
	for b.Loop() {
		for _, e := range es {
			if err := batch.Replace(e); err != nil {
				b.Fatal(err)
			}
		}
		for i, err := range batch.Flush() {
			if err != nil {
				b.Fatalf("write %d: %v", i, err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkMDBBatch1(b *testing.B)        { benchBatch(b, 1, 0) }
func BenchmarkMDBBatch1024(b *testing.B)     { benchBatch(b, 1024, 0) }
func BenchmarkMDBBatchSrc256x8(b *testing.B) { benchBatch(b, 256, 8) }

// BenchmarkMDBDump dumps a bridge of 1024 entries.
func BenchmarkMDBDump(b *testing.B) {
	l := newLab(b, 2)
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_hash_max", "8192")
	batch := openTestBatch(b, l.br)
	m := openTestMDB(b, l.br)
	es := benchEntries(l, 1024, 0)
	for _, e := range es {
		e.Permanent = true
		if err := batch.Replace(e); err != nil {
			b.Fatal(err)
		}
	}
	for _, err := range batch.Flush() {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := m.Dump(l.brIdx)
		if err != nil || len(got) != len(es) {
			b.Fatalf("dump: %d entries, %v", len(got), err)
		}
	}
}
