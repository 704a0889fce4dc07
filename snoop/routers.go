package snoop

import (
	"net/netip"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// handleRouterMessage learns router ports from PIM hellos and Multicast
// Router Discovery (RFC 4286), which reveal routers that are not the
// querier: they need the reports too (RFC 4541 §6).
func (e *Engine) handleRouterMessage(now time.Time, ifindex int, m *wire.Message) {
	k := fdb.RouterKey{Port: ifindex, VLAN: m.VLAN, IPv6: m.Src.Is6()}
	f := e.family(famKey{VLAN: m.VLAN, IPv6: k.IPv6})
	switch m.Kind {
	case wire.KindPIMHello:
		e.setRouter(now, k, now.Add(f.oqpi()), "pim", m.Src)
	case wire.KindMRDAdvert:
		// Three advertisements may be lost before the router is (RFC 4286
		// §4: the advertisement interval bounds the gap between them).
		ttl := 3 * m.AdvertInterval
		if ttl <= 0 {
			ttl = f.oqpi()
		}
		e.setRouter(now, k, now.Add(ttl), "mrd", m.Src)
	case wire.KindMRDTermination:
		if r := e.table.Router(k); r != nil && !r.Static() {
			e.table.RemoveRouter(k)
			e.event(Event{Kind: EventRouterExpire, Port: ifindex, Addr: m.Src, Detail: "mrd termination"})
			e.routerGone(ifindex)
		}
	}
}

// setRouter makes k a router port until expires (zero: static).
func (e *Engine) setRouter(now time.Time, k fdb.RouterKey, expires time.Time, via string, addr netip.Addr) {
	created := e.table.SetRouter(k, expires, via)
	if !expires.IsZero() && !e.table.Router(k).Static() {
		// The kernel must forward to it too, and may not have learned it:
		// it ignores queriers with higher addresses than the one it counts
		// (ours, when we query). Renewed at most once a refresh interval.
		if last, ok := e.routerPushed[k.Port]; created || !ok || now.Sub(last) >= e.cfg.MDBRefreshInterval {
			e.routerPushed[k.Port] = now
			e.emit(Action{Kind: ActRouterPort, Port: k.Port, Router: true})
		}
	}
	if !created {
		return
	}
	e.event(Event{Kind: EventRouterAdd, Port: k.Port, Addr: addr, Detail: via})
	if !expires.IsZero() {
		e.timers.add(routerWake(e.table.TimeOf(expires), k))
	}
}

// routerGone withdraws a dynamic router port from the kernel once no
// protocol or VLAN has a router on it any more.
func (e *Engine) routerGone(port int) {
	if e.table.RouterPort(port) {
		return
	}
	if _, ok := e.routerPushed[port]; ok {
		delete(e.routerPushed, port)
		e.emit(Action{Kind: ActRouterPort, Port: port, Router: false})
	}
}

func (e *Engine) routerTimer(now time.Time, t timer) {
	k := t.router()
	r := e.table.Router(k)
	switch {
	case r == nil || r.Expires.IsZero():
	case !r.Expires.After(now):
		e.table.RemoveRouter(k)
		e.event(Event{Kind: EventRouterExpire, Port: k.Port, Detail: r.Via})
		e.routerGone(k.Port)
	case t.at != e.table.TimeOf(r.Expires):
		e.timers.add(routerWake(e.table.TimeOf(r.Expires), k))
	}
}
