package bridge

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func TestPortRouter(t *testing.T) {
	l := newLab(t, 2)
	m := openTestMDB(t, l.br)
	p1, p2 := l.ports[0], l.ports[1]
	mode := func(port int) uint8 {
		t.Helper()
		var v uint8
		l.br.Do(func() {
			var err error
			if v, err = portRouter(port); err != nil {
				t.Fatalf("portRouter(%d): %v", port, err)
			}
		})
		return v
	}
	set := func(port int, v uint8) {
		t.Helper()
		l.br.Do(func() {
			if err := SetPortRouter(port, v); err != nil {
				t.Fatalf("SetPortRouter(%d, %d): %v", port, v, err)
			}
		})
	}
	if v := mode(p1); v != PortRouterLearned {
		t.Errorf("default mcast_router = %d, want %d", v, PortRouterLearned)
	}
	if rs := routerPortList(t, m, l.brIdx); len(rs) != 0 {
		t.Fatalf("router ports before: %+v", rs)
	}

	set(p1, PortRouterPermanent)
	if v := mode(p1); v != PortRouterPermanent {
		t.Errorf("mcast_router after set = %d, want %d", v, PortRouterPermanent)
	}
	if v := mode(p2); v != PortRouterLearned {
		t.Errorf("p2 mcast_router = %d, want it untouched", v)
	}
	rs := routerPortList(t, m, l.brIdx)
	t.Logf("router ports: %+v", rs)
	if len(rs) != 1 || rs[0].Port != p1 || rs[0].Type != PortRouterPermanent || !rs[0].IPv4 || !rs[0].IPv6 || rs[0].Timer != 0 {
		t.Errorf("router ports = %+v, want p1 permanent for IPv4 and IPv6, no timer", rs)
	}

	set(p1, PortRouterDisabled)
	if rs := routerPortList(t, m, l.brIdx); len(rs) != 0 {
		t.Errorf("router ports after disabling = %+v, want none", rs)
	}
	set(p1, PortRouterTemporary)
	rs = routerPortList(t, m, l.brIdx)
	t.Logf("temporary: %+v", rs)
	if len(rs) != 1 || rs[0].Type != PortRouterTemporary || rs[0].Timer == 0 {
		t.Errorf("router ports = %+v, want p1 temporary with a timer", rs)
	}
	// Setting temporary again re-arms the timer.
	time.Sleep(1100 * time.Millisecond)
	set(p1, PortRouterTemporary)
	if again := routerPortList(t, m, l.brIdx); len(again) != 1 || again[0].Timer < rs[0].Timer-500*time.Millisecond {
		t.Errorf("router ports after setting temporary again = %+v, want the timer re-armed to about %v", again, rs[0].Timer)
	}
	// When it runs out (after mcast_querier_interval), the port learns again.
	l.br.IP("link", "set", "br0", "type", "bridge", "mcast_querier_interval", "50")
	set(p1, PortRouterTemporary)
	eventually(t, 3*time.Second, "temporary router port expiry", func() bool {
		return len(routerPortList(t, m, l.brIdx)) == 0 && mode(p1) == PortRouterLearned
	})
	set(p1, PortRouterLearned)
	if v := mode(p1); v != PortRouterLearned {
		t.Errorf("mcast_router = %d, want %d", v, PortRouterLearned)
	}

	l.br.IP("link", "add", "vx", "type", "veth", "peer", "name", "vy")
	vx := l.br.Index("vx")
	l.br.Do(func() {
		if err := SetPortRouter(p1, 4); err == nil {
			t.Error("SetPortRouter(mode 4) succeeded")
		}
		if err := SetPortRouter(vx, PortRouterPermanent); !errors.Is(err, ErrNotPort) {
			t.Errorf("SetPortRouter(veth without master) = %v, want ErrNotPort", err)
		}
		if err := SetPortRouter(l.brIdx, PortRouterPermanent); !errors.Is(err, ErrNotPort) {
			t.Errorf("SetPortRouter(bridge) = %v, want ErrNotPort", err)
		}
		if err := SetPortRouter(9999, PortRouterPermanent); !errors.Is(err, ErrNoLink) {
			t.Errorf("SetPortRouter(9999) = %v, want ErrNoLink", err)
		}
		if _, err := portRouter(vx); !errors.Is(err, ErrNotPort) {
			t.Errorf("portRouter(veth without master) = %v, want ErrNotPort", err)
		}
	})
}

// portRouter reads the mcast_router option of the bridge port with ifindex.
func portRouter(ifindex int) (uint8, error) {
	r, err := openRTNL()
	if err != nil {
		return 0, fmt.Errorf("read mcast_router of port %d: %w", ifindex, err)
	}
	defer r.close()
	var (
		mode  uint8
		found bool
		perr  error
	)
	// The kernel answers AF_BRIDGE RTM_GETLINK only as a dump (of every
	// bridge port in the namespace); IFLA_PROTINFO carries the port options.
	err = r.execute(func() *nl.NetlinkRequest {
		req := r.request(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
		return req
	}, unix.RTM_NEWLINK, func(msg []byte) {
		if msg == nil {
			mode, found, perr = 0, false, nil
			return
		}
		if len(msg) < unix.SizeofIfInfomsg || int(int32(nl.NativeEndian().Uint32(msg[4:8]))) != ifindex {
			return
		}
		as, err := attrs(msg[unix.SizeofIfInfomsg:])
		if err != nil {
			perr = err
			return
		}
		for _, a := range as {
			if a.Attr.Type&nlaTypeMask != unix.IFLA_PROTINFO {
				continue
			}
			ps, err := attrs(a.Value)
			if err != nil {
				perr = fmt.Errorf("IFLA_PROTINFO: %w", err)
				return
			}
			for _, p := range ps {
				if p.Attr.Type&nlaTypeMask == unix.IFLA_BRPORT_MULTICAST_ROUTER {
					mode, found = u8(p.Value)
				}
			}
		}
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return 0, fmt.Errorf("read mcast_router of port %d: %w", ifindex, err)
	}
	if !found {
		// The dump lists bridge ports only: a missing link and a link that is
		// no port look the same here.
		return 0, fmt.Errorf("read mcast_router of link %d: %w", ifindex, ErrNotPort)
	}
	return mode, nil
}
