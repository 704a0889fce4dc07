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
		// The hello's Holdtime is how long the neighbour lasts (RFC 7761
		// §4.9.2, 105 s without the option); 0 is a goodbye (§4.3.1).
		hold := wire.DefaultPIMHoldtime
		if m.HasHoldtime {
			hold = m.Holdtime
		}
		if hold == 0 {
			e.withdrawRouter(now, f, k, m.Src, "pim goodbye")
			return
		}
		expires := now.Add(hold)
		if hold == wire.HoldtimeForever { // 0xffff: never times out
			expires = forever
		}
		e.setRouter(now, k, expires, "pim", m.Src)
	case wire.KindMRDAdvert:
		// Three advertisements may be lost before the router is (RFC 4286
		// §4: the advertisement interval bounds the gap between them).
		ttl := 3 * m.AdvertInterval
		if ttl <= 0 {
			ttl = f.oqpi()
		}
		e.setRouter(now, k, now.Add(ttl), "mrd", m.Src)
	case wire.KindMRDTermination:
		e.withdrawRouter(now, f, k, m.Src, "mrd termination")
	}
}

// withdrawRouter ends a router port at its router's word (a PIM goodbye,
// an MRD termination), unless it is static or the querier is heard there:
// that one still needs the reports.
func (e *Engine) withdrawRouter(now time.Time, f *family, k fdb.RouterKey, addr netip.Addr, why string) {
	r := e.table.Router(k)
	if r == nil || r.Static() {
		return
	}
	if o := f.other; o.addr.IsValid() && o.port == k.Port && o.expires.After(now) {
		r.Via, r.Expires = "query", o.expires
		e.scheduleRouter(now, k, r)
		return
	}
	e.table.RemoveRouter(k)
	e.event(Event{Kind: EventRouterExpire, Port: k.Port, Addr: addr, Detail: why})
	e.routerGone(k.Port)
}

// solicit asks the routers behind a port to announce themselves with MRD
// advertisements (RFC 4286 §5.1: when an interface starts snooping), so
// router ports are known before their next advertisement. Not on ports
// that refuse router messages: the answers would be refused.
func (e *Engine) solicit(ifindex int, p *port) {
	src4 := e.cfg.QuerierAddr4
	if !src4.IsValid() {
		src4 = netip.IPv4Unspecified()
	}
	e.solicitFrom(ifindex, p, src4)
	// Without a link-local address yet, SetQuerierAddr6 solicits later.
	if e.cfg.QuerierAddr6.IsValid() {
		e.solicitFrom(ifindex, p, e.cfg.QuerierAddr6)
	}
}

// solicitFrom sends one MRD solicitation from src out of a port.
func (e *Engine) solicitFrom(ifindex int, p *port, src netip.Addr) {
	if p.policy.RefuseQueries {
		return
	}
	frame, err := wire.EncodeSolicitation(wire.Solicitation{SrcMAC: e.cfg.QuerySourceMAC, Src: src})
	if err != nil {
		e.event(Event{Kind: EventQueryFailed, Port: ifindex, Addr: src, Detail: "MRD solicitation: " + err.Error()})
		return
	}
	e.emit(Action{Kind: ActTransmit, Port: ifindex, Frame: frame})
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
		e.scheduleRouter(now, k, e.table.Router(k))
	}
}

// scheduleRouter sets the wake-up of a dynamic router port: its expiry, or
// before it the renewal of its kernel state. The kernel keeps a temporary
// router port for the bridge's querier interval only (which the daemon
// sets to the other querier present interval), while a PIM or MRD router
// lasts its Holdtime or three advertisement intervals, and hellos come
// every 30 s: unrenewed, the kernel would stop forwarding to it long
// before we forget it.
func (e *Engine) scheduleRouter(now time.Time, k fdb.RouterKey, r *fdb.Router) {
	at := r.Expires
	if renew := now.Add(e.OtherQuerierPresentInterval() / 2); renew.Before(at) {
		at = renew
	}
	t := e.table.TimeOf(at)
	r.Wake = t
	e.timers.add(routerWake(t, k))
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
	if r == nil || r.Expires.IsZero() || r.Wake != t.at {
		return // gone, static, or rescheduled: a stale wake-up
	}
	if !r.Expires.After(now) {
		e.table.RemoveRouter(k)
		e.event(Event{Kind: EventRouterExpire, Port: k.Port, Detail: r.Via})
		e.routerGone(k.Port)
		return
	}
	e.routerPushed[k.Port] = now
	e.emit(Action{Kind: ActRouterPort, Port: k.Port, Router: true})
	e.scheduleRouter(now, k, r)
}
