package bridge

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPortPoller checks the one reader of many ports over real veth ports:
// a Wait reports every port with frames queued, ReadQueued takes them
// (VLAN tags put back) without waiting; a port read in part is reported
// again, behind the other ready ports (level-triggered, round-robin); ports
// come and go at runtime; a port going down reports ENETDOWN once and
// carries on; Close wakes a Wait.
func TestPortPoller(t *testing.T) {
	l := newLab(t, 3)
	hosts := make([]*rawSock, 3)
	conns := make([]*PortConn, 3)
	for i := range hosts {
		hosts[i] = openRaw(t, l.hosts[i], "eth0")
		conns[i] = l.listen(i)
	}
	p, err := NewPortPoller()
	if err != nil {
		t.Fatalf("NewPortPoller: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	id := func(i int) int { return l.ports[i] }
	for i := range 2 {
		if err := p.Add(id(i), conns[i]); err != nil {
			t.Fatalf("Add p%d: %v", i+1, err)
		}
	}
	if err := p.Add(id(0), conns[2]); err == nil {
		t.Error("Add with an id taken succeeded")
	}
	report := func(i, n int, vlan uint16) []byte {
		f := igmpV2(hosts[i].mac, netip.AddrFrom4([4]byte{10, 77, 0, byte(11 + i)}), 0x16, netip.AddrFrom4([4]byte{239, 77, byte(i), byte(n)}))
		if vlan != 0 {
			f = withTag(f, unix.ETH_P_8021Q, vlan)
		}
		return f
	}
	// queued waits until the socket of port i has taken n frames in all.
	queued := func(i int, n uint64) {
		t.Helper()
		eventually(t, 3*time.Second, "frames queued", func() bool {
			rcv, _, err := conns[i].Stats()
			return err == nil && rcv >= n
		})
	}
	ready := make([]int, 8)
	wait := func() []int {
		t.Helper()
		n, err := p.Wait(ready)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		return slices.Clone(ready[:n])
	}
	b := NewFrameBatch(16, 2048)
	read := func(i int) [][]byte {
		t.Helper()
		if err := conns[i].ReadQueued(b); err != nil {
			t.Fatalf("ReadQueued p%d: %v", i+1, err)
		}
		var out [][]byte
		for j := range b.Len() {
			out = append(out, bytes.Clone(b.Frame(j)))
		}
		return out
	}

	// p1 floods 40 frames (every fifth tagged), p2 sends one.
	var flood [][]byte
	for n := range 40 {
		var vlan uint16
		if n%5 == 0 {
			vlan = uint16(100 + n)
		}
		flood = append(flood, report(0, n, vlan))
		hosts[0].send(flood[n])
	}
	lone := report(1, 0, 7)
	hosts[1].send(lone)
	queued(0, 40)
	queued(1, 1)
	got := wait()
	if !slices.Contains(got, id(0)) || !slices.Contains(got, id(1)) || len(got) != 2 {
		t.Fatalf("Wait = %v, want both p1 %d and p2 %d", got, id(0), id(1))
	}
	if fs := read(1); len(fs) != 1 || !bytes.Equal(fs[0], lone) {
		t.Errorf("p2 read %d frames, want its tagged report % x", len(fs), lone)
	}
	var fromP1 [][]byte
	fromP1 = append(fromP1, read(0)...)
	if len(fromP1) != 16 {
		t.Fatalf("p1 read %d frames, want a full batch of 16", len(fromP1))
	}
	// Read in part: ready again; p2 empty: not.
	if got := wait(); !slices.Equal(got, []int{id(0)}) {
		t.Fatalf("Wait after a partial read = %v, want p1 alone", got)
	}
	// Frames arriving now on p2 put it behind p1, which was ready first.
	hosts[1].send(lone)
	queued(1, 2)
	if got := wait(); !slices.Equal(got, []int{id(0), id(1)}) {
		t.Fatalf("Wait = %v, want p1 then p2", got)
	}
	fromP1 = append(fromP1, read(0)...)
	read(1)
	if got := wait(); !slices.Equal(got, []int{id(0)}) {
		t.Fatalf("Wait = %v, want p1 alone", got)
	}
	fromP1 = append(fromP1, read(0)...)
	if len(fromP1) != len(flood) {
		t.Fatalf("p1: %d frames read, want %d", len(fromP1), len(flood))
	}
	for n := range flood {
		if !bytes.Equal(fromP1[n], flood[n]) {
			t.Errorf("p1 frame %d read % x\nwant % x", n, fromP1[n], flood[n])
		}
	}
	if fs := read(0); len(fs) != 0 {
		t.Errorf("ReadQueued on an empty socket read %d frames, want none", len(fs))
	}

	// A port added at runtime is served; a removed one is not.
	if err := p.Add(id(2), conns[2]); err != nil {
		t.Fatalf("Add p3: %v", err)
	}
	if err := p.Remove(id(1)); err != nil {
		t.Fatalf("Remove p2: %v", err)
	}
	hosts[1].send(lone)
	queued(1, 3)
	late := report(2, 0, 0)
	hosts[2].send(late)
	queued(2, 1)
	if got := wait(); !slices.Equal(got, []int{id(2)}) {
		t.Fatalf("Wait = %v, want p3 %d alone (p2 removed)", got, id(2))
	}
	if fs := read(2); len(fs) != 1 || !bytes.Equal(fs[0], late) {
		t.Errorf("p3 read %d frames, want its report", len(fs))
	}
	if err := p.Remove(id(1)); err != nil {
		t.Errorf("Remove p2 again: %v", err)
	}

	// A port going down reports ENETDOWN once; up again, it is read.
	l.br.IP("link", "set", "p1", "down")
	if got := wait(); !slices.Equal(got, []int{id(0)}) {
		t.Fatalf("Wait with p1 down = %v, want p1", got)
	}
	if err := conns[0].ReadQueued(b); !errors.Is(err, unix.ENETDOWN) {
		t.Errorf("ReadQueued on p1 down = %v, want ENETDOWN", err)
	}
	l.br.IP("link", "set", "p1", "up")
	l.br.waitForwarding("p1")
	again := report(0, 99, 0)
	hosts[0].send(again)
	queued(0, 41)
	if got := wait(); !slices.Equal(got, []int{id(0)}) {
		t.Fatalf("Wait with p1 up again = %v, want p1", got)
	}
	if fs := read(0); len(fs) != 1 || !bytes.Equal(fs[0], again) {
		t.Errorf("p1 up again read %d frames, want its report", len(fs))
	}

	// A port closed without Remove leaves the set; Remove after is fine.
	conns[2].Close()
	if err := p.Remove(id(2)); err != nil {
		t.Errorf("Remove of a closed port: %v", err)
	}
	if err := conns[2].ReadQueued(b); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadQueued after Close = %v, want net.ErrClosed", err)
	}

	// Close wakes a Wait with nothing ready.
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(make([]int, 4))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Wait after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not wake the Wait")
	}
	if err := p.Add(id(1), conns[1]); err == nil {
		t.Error("Add after Close succeeded")
	}
}
