package daemon

import "testing"

// TestBatchSource checks how a port reader gets its batches: one-frame
// batches while the port is quiet, at most batchesPerPort in flight;
// readBatch-frame ones once it had to wait for the loop (frames are
// queueing), batches of the old size dropped as they come back; one-frame
// ones again after quietReads quiet reads.
func TestBatchSource(t *testing.T) {
	p := &portIO{conn: &fakePort{}, stop: make(chan struct{}), free: make(chan FrameBatch, batchesPerPort)}
	src := batchSource{size: 1}
	var out []FrameBatch
	for range batchesPerPort {
		b, ok := src.next(p)
		if !ok || b.Cap() != 1 {
			t.Fatalf("quiet port: next = %v, %t; want a new one-frame batch", b, ok)
		}
		src.read(1)
		out = append(out, b)
	}
	// A batch given back is reused as long as the port stays quiet.
	p.free <- out[0]
	if b, ok := src.next(p); !ok || b != out[0] {
		t.Fatalf("next with a batch given back = %p, %t; want that batch %p", b, ok, out[0])
	}
	// All in flight and none given back: the reader would wait (here the
	// port stops), and the port is busy from then on. The small batch that
	// comes back next is dropped for a new large one.
	close(p.stop)
	if b, ok := src.next(p); ok {
		t.Fatalf("next with all batches out and the port stopped = cap %d, want none", b.Cap())
	}
	p.stop = make(chan struct{})
	p.free <- out[1]
	if b, ok := src.next(p); !ok || b.Cap() != readBatch {
		t.Fatalf("after waiting: cap %d, %t; want a new %d-frame batch", b.Cap(), ok, readBatch)
	}
	if src.made != batchesPerPort {
		t.Errorf("%d batches counted in flight, want %d", src.made, batchesPerPort)
	}
	// Quiet again: back to one-frame batches after quietReads reads.
	for range quietReads - 1 {
		src.read(1)
	}
	if src.size != readBatch {
		t.Fatalf("size %d after %d quiet reads, want still %d", src.size, quietReads-1, readBatch)
	}
	src.read(3) // a busy read starts the count again
	for range quietReads {
		src.read(0)
	}
	if src.size != 1 {
		t.Fatalf("size %d after %d quiet reads, want 1", src.size, quietReads)
	}
	// Stopped while waiting: no batch.
	close(p.stop)
	if b, ok := src.next(p); ok {
		t.Errorf("next after stop = cap %d, want none", b.Cap())
	}
}
