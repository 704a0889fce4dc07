package integration

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/lab"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// TestNDGuests: two guests that never send MLD reports (a tc filter drops
// them) take a new address each once the router's MLD querier is in
// charge. Their solicited-node groups never reach the MDB from reports, so
// the bridge sends a solicitation for such an address only to router
// ports: the guest without nd_guests becomes unreachable, the one whose
// port has it is learned from its duplicate address detection and stays
// reachable.
func TestNDGuests(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3, IPv6: true})
	withND, without, peer := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	for _, h := range []lab.Host{withND, without} {
		if err := l.SilenceMLD(h); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, l, append(fastTimers, "--nd-guest", withND.Port)...)
	waitFor(t, 10*time.Second, "MLD querier heard", func() (bool, string) {
		q := querierOf(t, d, "mld")
		return q.Present && !q.Self, fmt.Sprintf("%+v", q)
	})
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier

	// New addresses, with duplicate address detection: the solicitation
	// from :: is what teaches the daemon the nd_guests guest's address.
	fresh := func(h lab.Host, last byte) lab.Host {
		h.Addr6 = netip.AddrFrom16([16]byte{0xfd, 0x77, 13: 1, 15: last})
		if err := l.Run(h.Name, "ip", "addr", "add", h.Addr6.String()+"/64", "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
		return h
	}
	withND, without = fresh(withND, 0xa1), fresh(without, 0xa2)
	sn := wire.SolicitedNode(withND.Addr6)
	waitFor(t, 10*time.Second, "the nd_guests guest's solicited-node group learned from its ND", func() (bool, string) {
		r, ok, seen := row(t, d, sn, withND.Port, "")
		return ok && r.Via == "nd" && len(r.Reporters) > 0 && r.Reporters[0] == withND.Addr6.String(), seen
	})
	if _, ok, seen := row(t, d, wire.SolicitedNode(without.Addr6), without.Port, ""); ok {
		t.Fatalf("the guest without nd_guests has its solicited-node group: %s", seen)
	}
	for _, h := range []lab.Host{withND, without} { // DAD done: the addresses are usable
		waitFor(t, 5*time.Second, h.Name+"'s address past DAD", func() (bool, string) {
			out, err := l.Exec(h.Name, "ip", "-6", "addr", "show", "dev", "eth0", "tentative")
			return err == nil && out == "", out
		})
	}
	if err := l.Unicast6(peer, withND, 3*time.Second); err != nil {
		t.Errorf("neighbour discovery to the nd_guests guest: %v", err)
	}
	if err := l.Unicast6(peer, without, 3*time.Second); err == nil {
		t.Errorf("the guest without nd_guests was reached: its MLD reports are dropped, so its solicitations should be")
	}
	var ps struct {
		Ports []struct {
			Port     string
			NDGuests bool `json:"nd_guests"`
		}
	}
	if err := d.Show("ports", &ps); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.Ports {
		if p.NDGuests != (p.Port == withND.Port) {
			t.Errorf("show ports %s: nd_guests %t", p.Port, p.NDGuests)
		}
	}
}
