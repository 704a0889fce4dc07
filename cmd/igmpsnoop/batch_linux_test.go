package main

import (
	"testing"

	"github.com/igmpsnoop/igmpsnoop/bridge"
)

// TestBatchSource checks how a port reader gets its batches: one-frame
// batches while the port is quiet, at most batchesPerPort in flight, then
// readBatch-frame ones once it is busy, the small ones dropped as they
// come back.
func TestBatchSource(t *testing.T) {
	p := &portIO{stop: make(chan struct{}), free: make(chan *bridge.FrameBatch, batchesPerPort)}
	src := batchSource{size: 1}
	var out []*bridge.FrameBatch
	for range batchesPerPort {
		b, ok := src.next(p)
		if !ok || b.Cap() != 1 {
			t.Fatalf("quiet port: next = %v, %t; want a new one-frame batch", b, ok)
		}
		out = append(out, b)
	}
	// All in flight: next waits for one to come back, and takes it.
	p.free <- out[0]
	if b, ok := src.next(p); !ok || b != out[0] {
		t.Fatalf("next after a batch came back = %p, %t; want that batch %p", b, ok, out[0])
	}
	// Busy: small batches coming back are dropped, new ones are larger.
	src.size = readBatch
	p.free <- out[1]
	b, ok := src.next(p)
	if !ok || b.Cap() != readBatch {
		t.Fatalf("busy port: next = cap %d, %t; want a new %d-frame batch", b.Cap(), ok, readBatch)
	}
	if src.made != batchesPerPort {
		t.Errorf("%d batches counted in flight, want %d", src.made, batchesPerPort)
	}
	// Stopped while waiting: no batch.
	close(p.stop)
	if b, ok := src.next(p); ok {
		t.Errorf("next after stop = cap %d, want none", b.Cap())
	}
}
