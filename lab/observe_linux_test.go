package lab

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"testing"
)

// TestObservers sets a port's mcast_router with iproute2 and reads it back
// through the observers: a port set permanent is a router port, one set
// disabled is none.
func TestObservers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces")
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{Prefix: "ob" + hex.EncodeToString(b), Hosts: 1, NoQuerier: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rs, err := l.RouterPorts(l.Bridge); err != nil || len(rs) != 0 {
		t.Fatalf("router ports %v (%v) without a querier, want none", rs, err)
	}
	for _, mode := range []int{2, 0} {
		if err := l.Run(l.Switch, "bridge", "link", "set", "dev", l.SenderPort, "mcast_router", strconv.Itoa(mode)); err != nil {
			t.Fatal(err)
		}
		if got, err := l.PortRouterMode(l.SenderPort); err != nil || got != mode {
			t.Errorf("mode %d (%v), want %d", got, err, mode)
		}
		if got, err := l.PortRouterMode(l.Hosts[0].Port); err != nil || got != 1 {
			t.Errorf("untouched port's mode %d (%v), want 1, learned", got, err)
		}
		rs, err := l.RouterPorts(l.Bridge)
		if err != nil || slices.Contains(rs, l.SenderPort) != (mode == 2) {
			t.Errorf("mcast_router %d: router ports %v (%v)", mode, rs, err)
		}
	}
	if _, err := l.PortRouterMode("nosuch"); err == nil {
		t.Error("no error for a port that does not exist")
	}
}
