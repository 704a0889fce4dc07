package integration

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/lab"
)

// fairGroup is the group the quiet port's host joins during the flood.
var fairGroup = netip.MustParseAddr("239.77.9.1")

// fairBound is how soon after its join the quiet port's group must be in
// the MDB while another port floods (issue 15).
const fairBound = 500 * time.Millisecond

// TestFloodDoesNotStarvePorts: one host floods its port with IGMPv3
// reports as fast as a packet socket takes them, until the daemon is
// behind (its socket on that port drops frames); a kernel host on another
// port then joins a group, and the group's MDB entry on that port must be
// notified within fairBound of the join. The daemon reads at most a quota
// of frames from each port with frames per round, so the flood delays the
// join by a round or two, not until the flood's backlog is read.
func TestFloodDoesNotStarvePorts(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 2})
	h1, h2 := l.Hosts[0], l.Hosts[1]
	d := resStartDaemon(t, l, resTimers...)
	adds, stopAdds := nrAdds(t, l, portIndex(t, l, h2.Port))
	defer stopAdds()

	// One IGMPv3 report of 64 joins, over and over: after the first, 64
	// refreshes a frame, relayed to the router port. The daemon takes
	// far longer over a frame than the packet socket does, so the flood
	// queues up in its socket from the start.
	flood := resStartFlood(t, h1, resV3Flood(t, h1, 88, 64, 64), 0, 1<<30, 20*time.Second)
	defer flood.stop()
	waitFor(t, 10*time.Second, "the daemon behind the flood", func() (bool, string) {
		ps, err := resPorts(d)
		if err != nil {
			return false, err.Error()
		}
		p := ps[h1.Port]
		return p.SocketDropped > 0, fmt.Sprintf("%s: %d received, %d socket drops; %d sent", h1.Port, p.Received, p.SocketDropped, flood.sent.Load())
	})
	sentBefore := flood.sent.Load()
	joined := time.Now()
	m, err := l.Join(h2, fairGroup)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Leave()
	took := time.Duration(-1)
	for deadline := joined.Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if adds(fairGroup.String()) > 0 {
			took = time.Since(joined)
			break
		}
	}
	floodOn := flood.sent.Load() > sentBefore
	flood.stop()
	ps, _ := resPorts(d)
	t.Logf("flood from %s: %v; %s then read %d, socket drops %d", h1.Port, flood, h1.Port, ps[h1.Port].Received, ps[h1.Port].SocketDropped)
	switch {
	case !floodOn:
		t.Fatalf("the flood stopped before the join was learned: the test proves nothing")
	case took < 0:
		t.Fatalf("%s's join of %v on %s not in the MDB within 5 s of the join: the flood starved it", h2.Name, fairGroup, h2.Port)
	case took > fairBound:
		t.Errorf("%s's join of %v on %s in the MDB %v after the join, want at most %v", h2.Name, fairGroup, h2.Port, took.Round(time.Millisecond), fairBound)
	default:
		t.Logf("%s's join learned %v after it was made, during the flood", h2.Port, took.Round(time.Millisecond))
	}
}
