package integration

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/lab"
)

// The MDB without NLM_F_REPLACE and proto (Linux < 6.2), forced on this
// kernel with --mdb-replace off. README, "Kernel requirements", promises
// at most nrMaxLoss of a member's frames lost to the refreshes.

// nrMaxLoss is the share of a member's stream its refreshes may lose: a
// refresh leaves the entry missing for microseconds, between the delete
// and the add of one netlink batch.
const nrMaxLoss = 0.001

var nrAged = netip.MustParseAddr("239.77.4.4")

var nrArgs = append(append([]string{}, resTimers...), "--mdb-replace", "off")

// nrAdds counts the MDB add notifications (RTM_NEWMDB) for entries on
// port, by group, until stop: each install or refresh of the daemon's
// without replace is one.
func nrAdds(t *testing.T, l *lab.Lab, port int) (count func(g string) int, stop func()) {
	t.Helper()
	var w *bridge.MDBWatcher
	br := 0
	err := lab.InNetns(l.Switch, func() error {
		b, _, err := bridge.Lookup(l.Bridge)
		if err != nil {
			return err
		}
		br = b.Index
		w, err = bridge.SubscribeMDB(1<<20, 200*time.Millisecond)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		adds = map[string]int{}
		done atomic.Bool
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			es, err := w.Read(br)
			if err != nil && !done.Load() {
				t.Errorf("MDB notifications: %v", err)
				return
			}
			mu.Lock()
			for _, e := range es {
				if e.Port == port && !e.Source.IsValid() {
					adds[e.Group.String()]++
				}
			}
			mu.Unlock()
		}
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			done.Store(true)
			w.Close()
			wg.Wait()
		}
	}
	t.Cleanup(stop)
	return func(g string) int {
		mu.Lock()
		defer mu.Unlock()
		return adds[g]
	}, stop
}

// TestNoReplaceMDB: with --mdb-replace off the daemon's entries say proto
// static and are refreshed by delete and add; under a 1000 packets/s
// stream two members lose at most nrMaxLoss of it across several
// refreshes each, a non-member gets none; a leave prunes, a silent member
// ages out, and after a SIGKILL a restarted daemon adopts the entries it
// cannot mark as its own, and prunes them on a leave.
func TestNoReplaceMDB(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	caps := captures(t, l, h1.Name, h2.Name, h3.Name)
	d := startDaemon(t, l, nrArgs...)
	if !strings.Contains(d.Log(), "mdb_replace off") {
		t.Errorf("the daemon did not say it writes without replace:\n%s", d.Log())
	}
	h1i, h2i := portIndex(t, l, h1.Port), portIndex(t, l, h2.Port)
	adds1, stopAdds1 := nrAdds(t, l, h1i)
	adds2, stopAdds2 := nrAdds(t, l, h2i)
	m1, err := l.Join(h1, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Leave()
	m2, err := l.Join(h2, g1)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Leave()
	// h2's second group ages out below, away from g1's leave and the
	// querier's group-specific queries it brings.
	m4, err := l.Join(h2, nrAged)
	if err != nil {
		t.Fatal(err)
	}
	defer m4.Leave()
	waitFor(t, 10*time.Second, "both members learned, a querier present", func() (bool, string) {
		_, ok1, seen := member(t, d, g1, h1.Port)
		_, ok2, _ := member(t, d, g1, h2.Port)
		return ok1 && ok2 && querierOf(t, d, "igmp").Present, seen
	})
	_, byGroup := portEntries(l, mdb(t, l))
	for _, e := range byGroup[g1] {
		if e.Proto != bridge.ProtoStatic {
			t.Errorf("entry %v@%d says proto %d, want static (%d): written without proto", e.Group, e.Port, e.Proto, bridge.ProtoStatic)
		}
	}
	time.Sleep(1500 * time.Millisecond) // the bridge floods for a response interval after a new querier
	for _, c := range caps {
		c.Reset()
	}
	before1, before2 := adds1(g1.String()), adds2(g1.String())
	stop := resStream(l, g1, time.Millisecond, 20000)
	time.Sleep(8 * time.Second)
	sent, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the last frames cross the veths
	refreshes := []int{adds1(g1.String()) - before1, adds2(g1.String()) - before2}
	t.Logf("%d frames sent in 8s; refreshes (delete and add) meanwhile: h1 %d, h2 %d", sent, refreshes[0], refreshes[1])
	for i, h := range []lab.Host{h1, h2} {
		got := caps[h.Name].Count(g1)
		loss := float64(sent-got) / float64(sent)
		t.Logf("%s received %d of %d: %.3f %% lost", h.Name, got, sent, 100*loss)
		if loss > nrMaxLoss {
			t.Errorf("%s lost %.3f %% of the stream (%d of %d) across %d refreshes, more than %.1f %%", h.Name, 100*loss, sent-got, sent, refreshes[i], 100*nrMaxLoss)
		}
		if refreshes[i] < 3 {
			t.Errorf("%s's entry was rewritten %d times in 8s, want at least 3 refreshes (queries every 2s)", h.Name, refreshes[i])
		}
	}
	if n := caps[h3.Name].Count(g1); n != 0 {
		t.Errorf("non-member %s received %d frames of %v", h3.Name, n, g1)
	}
	stopAdds1()
	stopAdds2()
	resCheck(t, d, "after the refreshes")

	// A leave prunes; a member gone silent ages out, in the daemon and in
	// the MDB.
	if err := m1.Leave(); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, lmqt+3*time.Second, "h1's leave pruned", func() (bool, string) {
		_, ok, seen := member(t, d, g1, h1.Port)
		return !ok && !nrHasEntry(t, l, g1.String(), h1i), seen
	})
	t.Logf("leave pruned after %v", took.Round(time.Millisecond))
	if !nrHasEntry(t, l, g1.String(), h2i) {
		t.Errorf("h1's leave took h2's entry of %v", g1)
	}
	if err := l.Silence(h2); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, gmi+3*time.Second, "h2's silent membership aged out", func() (bool, string) {
		_, ok, seen := member(t, d, nrAged, h2.Port)
		return !ok && !nrHasEntry(t, l, nrAged.String(), h2i), seen
	})
	t.Logf("silent member aged out %v after it fell silent (membership interval %v)", took.Round(time.Millisecond), gmi)
	if took < gmi-3*time.Second {
		t.Errorf("h2's membership went %v after it fell silent, before the membership interval %v could run out", took, gmi)
	}

	// SIGKILL and restart: the entry, proto static like an operator's,
	// is adopted; the check leaves it; a leave prunes it.
	m3, err := l.Join(h3, g3)
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Leave()
	waitFor(t, 10*time.Second, "h3's join learned", func() (bool, string) {
		_, ok, seen := member(t, d, g3, h3.Port)
		return ok, seen
	})
	d.Kill()
	time.Sleep(300 * time.Millisecond)
	d2 := startDaemon(t, l, nrArgs...)
	if _, ok, seen := member(t, d2, g3, h3.Port); !ok {
		t.Errorf("the restarted daemon did not adopt %v on %s: shows %s", g3, h3.Port, seen)
	}
	resCheck(t, d2, "after the restart")
	expectDelivery(t, l, g3, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 20}, caps)
	if err := m3.Leave(); err != nil {
		t.Fatal(err)
	}
	h3i := portIndex(t, l, h3.Port)
	waitFor(t, lmqt+3*time.Second, "h3's leave pruned by the restarted daemon", func() (bool, string) {
		_, ok, seen := member(t, d2, g3, h3.Port)
		return !ok && !nrHasEntry(t, l, g3.String(), h3i), seen
	})
	expectDelivery(t, l, g3, 20, map[string]int{h1.Name: 0, h2.Name: 0, h3.Name: 0}, caps)
}

// nrHasEntry tells whether the MDB has an entry for group on port.
func nrHasEntry(t *testing.T, l *lab.Lab, group string, port int) bool {
	for _, e := range mdb(t, l) {
		if e.Port == port && e.Group.String() == group && !e.Source.IsValid() {
			return true
		}
	}
	return false
}
