package daemon

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"

	"go.uber.org/zap/zaptest"
)

// frameN is a small frame telling which it is.
func frameN(port string, i int) []byte { return fmt.Appendf(nil, "%s-%d", port, i) }

func frameNames(frames [][]byte) []string {
	var out []string
	for _, f := range frames {
		out = append(out, string(f))
	}
	return out
}

// Frames to one port go out in the order they were queued, across
// flushes, whatever the frames to other ports in between.
func TestTransmitterKeepsOrder(t *testing.T) {
	tx := newTransmitter(zaptest.NewLogger(t))
	a, b := &fakePort{ifindex: 1}, &fakePort{ifindex: 2}
	var wantA, wantB []string
	for i := range 3 * txJobs {
		for j := range 20 {
			n := i*20 + j
			tx.add(b, "b", frameN("b", n))
			wantB = append(wantB, fmt.Sprintf("b-%d", n))
			if n%3 == 0 {
				tx.add(a, "a", frameN("a", n))
				wantA = append(wantA, fmt.Sprintf("a-%d", n))
			}
		}
		tx.flush()
	}
	tx.close()
	if got := frameNames(a.written()); !slices.Equal(got, wantA) {
		t.Errorf("a got %v, want %v", got, wantA)
	}
	if got := frameNames(b.written()); !slices.Equal(got, wantB) {
		t.Errorf("b got %v, want %v", got, wantB)
	}
}

// A frame the port refuses is skipped; the frames after it still go out.
// A closed port is no warning, and no stop either.
func TestTransmitterSkipsRefusedFrame(t *testing.T) {
	tx := newTransmitter(zaptest.NewLogger(t))
	p := &fakePort{ifindex: 1, writeErr: func(f []byte) error {
		switch string(f) {
		case "p-1":
			return errors.New("no buffer space")
		case "p-3":
			return net.ErrClosed
		}
		return nil
	}}
	for i := range 5 {
		tx.add(p, "p", frameN("p", i))
	}
	tx.close()
	if got, want := frameNames(p.written()), []string{"p-0", "p-2", "p-4"}; !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
}

// A frame is copied as it is queued: the engine's frames alias the
// reader's buffer, which the next read overwrites.
func TestTransmitterCopiesFrames(t *testing.T) {
	tx := newTransmitter(zaptest.NewLogger(t))
	p := &fakePort{ifindex: 1}
	buf := []byte("first")
	tx.add(p, "p", buf)
	copy(buf, "xxxxx")
	tx.close()
	if got := frameNames(p.written()); !slices.Equal(got, []string{"first"}) {
		t.Errorf("sent %v, want [first]", got)
	}
}
