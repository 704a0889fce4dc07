package bridge

import (
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func openTestMDB(t testing.TB, ns *testNS) *MDB {
	t.Helper()
	var m *MDB
	ns.Do(func() {
		var err error
		if m, err = OpenMDB(); err != nil {
			t.Fatalf("OpenMDB: %v", err)
		}
	})
	t.Cleanup(func() { m.Close() })
	return m
}

func findEntry(es []Entry, port int, group netip.Addr) (Entry, bool) {
	for _, e := range es {
		if e.Port == port && e.Group == group {
			return e, true
		}
	}
	return Entry{}, false
}

func mustDump(t *testing.T, m *MDB, br int) []Entry {
	t.Helper()
	es, err := m.Dump(br)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	return es
}

func TestMDBReplaceDumpDelete(t *testing.T) {
	l := newLab(t, 2)
	m := openTestMDB(t, l.br)
	g := netip.MustParseAddr("239.77.0.1")
	e := Entry{Bridge: l.brIdx, Port: l.ports[0], Group: g}

	if err := m.replace(e); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	got, ok := findEntry(mustDump(t, m, l.brIdx), e.Port, g)
	if !ok {
		t.Fatalf("entry not in dump")
	}
	if got.Proto != DefaultProto || got.Permanent || got.Bridge != l.brIdx || got.Source.IsValid() || got.VID != 0 {
		t.Errorf("dumped %+v, want proto %d, temporary", got, DefaultProto)
	}
	if got.Timer < 250*time.Second || got.Timer > 260*time.Second {
		t.Errorf("timer = %v, want about the 260s membership interval", got.Timer)
	}
	// Nothing else of ours: host joins are not reported.
	for _, x := range mustDump(t, m, l.brIdx) {
		if x.Port == l.brIdx {
			t.Errorf("host join in dump: %+v", x)
		}
	}

	// Replace again refreshes the timer (and does not fail with EEXIST).
	time.Sleep(1200 * time.Millisecond)
	aged, _ := findEntry(mustDump(t, m, l.brIdx), e.Port, g)
	if err := m.replace(e); err != nil {
		t.Fatalf("second Replace: %v", err)
	}
	fresh, _ := findEntry(mustDump(t, m, l.brIdx), e.Port, g)
	if fresh.Timer <= aged.Timer+time.Second {
		t.Errorf("timer after refresh = %v, before %v: not refreshed", fresh.Timer, aged.Timer)
	}

	// Replace can turn it permanent with another proto, and back.
	p := e
	p.Permanent, p.Proto = true, 200
	if err := m.replace(p); err != nil {
		t.Fatalf("Replace permanent: %v", err)
	}
	got, _ = findEntry(mustDump(t, m, l.brIdx), e.Port, g)
	if !got.Permanent || got.Proto != 200 || got.Timer != 0 {
		t.Errorf("after permanent replace: %+v", got)
	}

	if err := m.delete(e); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := findEntry(mustDump(t, m, l.brIdx), e.Port, g); ok {
		t.Error("entry still in dump after Delete")
	}
	err := m.delete(e)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("Delete missing = %v, want ErrNotFound wrapping EINVAL", err)
	}
	// Wrong port is "not found" too.
	if err := m.replace(e); err != nil {
		t.Fatal(err)
	}
	wrong := e
	wrong.Port = l.ports[1]
	if err := m.delete(wrong); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete on the wrong port = %v, want ErrNotFound", err)
	}
}

func TestMDBFamiliesAndSources(t *testing.T) {
	l := newLab(t, 1)
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_igmp_version", "3")
	m := openTestMDB(t, l.br)
	port := l.ports[0]
	entries := []Entry{
		{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("239.77.0.2"), Source: netip.MustParseAddr("10.77.0.99")},
		{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("ff0e::77"), Permanent: true},
		{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("239.77.0.3"), VID: 10, Proto: 4},
	}
	for _, e := range entries {
		if err := m.replace(e); err != nil {
			t.Fatalf("Replace %s: %v", e, err)
		}
	}
	es := mustDump(t, m, l.brIdx)
	for _, want := range entries {
		found := false
		for _, e := range es {
			if e.Port == want.Port && e.Group == want.Group && e.Source == want.Source && e.VID == want.VID {
				found = true
				wantProto := want.Proto
				if wantProto == 0 {
					wantProto = DefaultProto
				}
				if e.Permanent != want.Permanent || e.Proto != wantProto {
					t.Errorf("dumped %s, want %s", e, want)
				}
			}
		}
		if !found {
			t.Errorf("%s not in dump %v", want, es)
		}
	}
	// A host join (the bridge itself as member) is accepted without proto
	// and left out of dumps.
	host := Entry{Bridge: l.brIdx, Port: l.brIdx, Group: netip.MustParseAddr("239.77.0.4")}
	if err := m.replace(host); err != nil {
		t.Fatalf("Replace host join: %v", err)
	}
	for _, e := range mustDump(t, m, l.brIdx) {
		if e.Port == l.brIdx {
			t.Errorf("host join in dump: %s", e)
		}
	}
	for _, e := range append(entries, host) {
		if err := m.delete(e); err != nil {
			t.Errorf("Delete %s: %v", e, err)
		}
	}
	if err := m.delete(host); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete of the host join = %v, want ErrNotFound", err)
	}
	// An (S,G) delete must name the source: the (*,G) is not there.
	if err := m.delete(Entry{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("239.77.0.2")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete (*,G) after (S,G) delete = %v, want ErrNotFound", err)
	}
}

func TestMDBErrors(t *testing.T) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	port := l.ports[0]
	cases := []struct {
		name   string
		e      Entry
		errno  unix.Errno
		extack string
	}{
		{"link-local group", Entry{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("224.0.0.5")},
			unix.EINVAL, "IPv4 entry group address is local multicast"},
		{"unicast group", Entry{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("10.77.0.50")},
			unix.EINVAL, "IPv4 entry group address is not multicast or 0.0.0.0"},
		{"all-nodes", Entry{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("ff02::1")},
			unix.EINVAL, "link-local all nodes"},
		{"proto below static", Entry{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("239.77.0.9"), Proto: 3},
			unix.ERANGE, "integer out of range"},
		{"not a port", Entry{Bridge: l.brIdx, Port: 1, Group: netip.MustParseAddr("239.77.0.9")},
			unix.EINVAL, "Net device is not a bridge port"},
	}
	for _, c := range cases {
		err := m.replace(c.e)
		t.Logf("%s: %v", c.name, err)
		if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.extack) {
			t.Errorf("%s: Replace = %v, want %v with %q", c.name, err, c.errno, c.extack)
		}
	}
	// Invalid input is refused before it reaches the kernel.
	for _, e := range []Entry{
		{Bridge: l.brIdx, Port: port},
		{Bridge: 0, Port: port, Group: netip.MustParseAddr("239.77.0.9")},
		{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("239.77.0.9"), VID: 4095},
		{Bridge: l.brIdx, Port: port, Group: netip.MustParseAddr("239.77.0.9"), Source: netip.MustParseAddr("fe80::1")},
	} {
		if err := m.replace(e); err == nil {
			t.Errorf("Replace(%+v) succeeded", e)
		}
	}
}

// TestMDBHashMax: going over mcast_hash_max is E2BIG and switches snooping
// off for the whole bridge.
func TestMDBHashMax(t *testing.T) {
	l := newLab(t, 1)
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_hash_max", "2")
	m := openTestMDB(t, l.br)
	var err error
	for i := 1; i <= 4 && err == nil; i++ {
		err = m.replace(Entry{Bridge: l.brIdx, Port: l.ports[0], Group: netip.AddrFrom4([4]byte{239, 77, 1, byte(i)})})
	}
	t.Logf("over hash_max: %v", err)
	if !errors.Is(err, ErrHashMax) || !errors.Is(err, unix.E2BIG) {
		t.Fatalf("Replace over hash_max = %v, want ErrHashMax wrapping E2BIG", err)
	}
	l.br.Do(func() {
		o, err := ReadOptions(l.brIdx)
		if err != nil {
			t.Fatal(err)
		}
		if o.Snooping {
			t.Error("snooping still on after E2BIG")
		}
	})
}

// TestMDBDumpFiltersBridge: the kernel dumps every bridge in the namespace;
// Dump keeps only the one asked for.
func TestMDBDumpFiltersBridge(t *testing.T) {
	l := newLab(t, 1)
	h := newNS(t, "h")
	l.br.IP("link", "add", "br1", "type", "bridge")
	l.br.IP("link", "set", "br1", "up")
	l.br.IP("link", "add", "q1", "type", "veth", "peer", "name", "eth0", "netns", h.Name)
	l.br.IP("link", "set", "q1", "master", "br1", "up")
	h.IP("link", "set", "eth0", "up")
	l.br.waitForwarding("q1")
	br1, q1 := l.br.Index("br1"), l.br.Index("q1")
	m := openTestMDB(t, l.br)

	g0, g1 := netip.MustParseAddr("239.77.2.0"), netip.MustParseAddr("239.77.2.1")
	if err := m.replace(Entry{Bridge: l.brIdx, Port: l.ports[0], Group: g0}); err != nil {
		t.Fatal(err)
	}
	if err := m.replace(Entry{Bridge: br1, Port: q1, Group: g1}); err != nil {
		t.Fatal(err)
	}
	es0, es1 := mustDump(t, m, l.brIdx), mustDump(t, m, br1)
	if len(es0) != 1 || es0[0].Group != g0 || es0[0].Bridge != l.brIdx {
		t.Errorf("br0 dump = %v, want only %s", es0, g0)
	}
	if len(es1) != 1 || es1[0].Group != g1 || es1[0].Bridge != br1 || es1[0].Port != q1 {
		t.Errorf("br1 dump = %v, want only %s on q1", es1, g1)
	}
	// An entry read back from a dump can be deleted as it is.
	if err := m.delete(es1[0]); err != nil {
		t.Errorf("Delete(dumped entry): %v", err)
	}
	if es := mustDump(t, m, br1); len(es) != 0 {
		t.Errorf("br1 dump after delete = %v", es)
	}
}

// TestMDBDumpMany makes the dump span several netlink messages.
func TestMDBDumpMany(t *testing.T) {
	l := newLab(t, 2)
	m := openTestMDB(t, l.br)
	const n = 600
	for i := range n {
		g := netip.AddrFrom4([4]byte{239, 77, byte(10 + i/250), byte(i % 250)})
		for _, p := range l.ports {
			if err := m.replace(Entry{Bridge: l.brIdx, Port: p, Group: g, Permanent: true}); err != nil {
				t.Fatalf("Replace %s: %v", g, err)
			}
		}
	}
	es := mustDump(t, m, l.brIdx)
	if len(es) != 2*n {
		t.Errorf("dump has %d entries, want %d", len(es), 2*n)
	}
}

// TestMDBConcurrent: one MDB shared by several goroutines.
func TestMDBConcurrent(t *testing.T) {
	l := newLab(t, 2)
	m := openTestMDB(t, l.br)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				e := Entry{Bridge: l.brIdx, Port: l.ports[w%2], Group: netip.AddrFrom4([4]byte{239, 77, 20 + byte(w), byte(i)})}
				if err := m.replace(e); err != nil {
					errs <- err
					return
				}
				if i%10 == 0 {
					if _, err := m.Dump(l.brIdx); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if es := mustDump(t, m, l.brIdx); len(es) != 200 {
		t.Errorf("dump has %d entries, want 200", len(es))
	}
}

// TestSubscribeMDB: the watcher sees entries as they are added, on the
// bridge asked for only, and returns nothing when its timeout passes.
func TestSubscribeMDB(t *testing.T) {
	l := newLab(t, 1)
	m := openTestMDB(t, l.br)
	var w *MDBWatcher
	l.br.Do(func() {
		var err error
		if w, err = SubscribeMDB(1<<20, 200*time.Millisecond); err != nil {
			t.Fatalf("SubscribeMDB: %v", err)
		}
	})
	defer w.Close()
	g := netip.MustParseAddr("239.77.30.1")
	if err := m.replace(Entry{Bridge: l.brIdx, Port: l.ports[0], Group: g}); err != nil {
		t.Fatal(err)
	}
	var got []Entry
	for range 20 {
		es, err := w.Read(l.brIdx)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if got = append(got, es...); len(got) > 0 {
			break
		}
	}
	if len(got) != 1 || got[0].Port != l.ports[0] || got[0].Group != g || got[0].Proto != DefaultProto {
		t.Fatalf("notified %v, want our entry for %v on port %d", got, g, l.ports[0])
	}
	// Another bridge's index: nothing of ours.
	if err := m.replace(Entry{Bridge: l.brIdx, Port: l.ports[0], Group: netip.MustParseAddr("239.77.30.2")}); err != nil {
		t.Fatal(err)
	}
	if es, err := w.Read(l.brIdx + 1000); err != nil || len(es) != 0 {
		t.Fatalf("Read for another bridge = %v, %v; want nothing", es, err)
	}
	// Nothing happens: the timeout returns no entries, no error.
	if es, err := w.Read(l.brIdx); err != nil || len(es) != 0 {
		t.Fatalf("idle Read = %v, %v; want nothing", es, err)
	}
}
