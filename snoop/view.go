package snoop

import (
	"net/netip"
	"strconv"
	"time"
)

// GroupView is one (group, source, port) membership as `show groups`
// prints it. The JSON names are part of the CLI's contract.
type GroupView struct {
	Bridge string `json:"bridge"`
	VLAN   uint16 `json:"vlan"`
	Group  string `json:"group"`
	Port   string `json:"port"`
	// Source is empty for any-source (*,G) memberships.
	Source string `json:"source"`
	// Mode is the filter mode: "exclude" for any-source joins.
	Mode string `json:"mode"`
	// Version is the IGMP version of the latest report; 0 if unknown
	// (adopted from an earlier run).
	Version   int      `json:"version"`
	ExpiresMs int64    `json:"expires_ms"`
	Reporters []string `json:"reporters"`
	// Leaving is true while last-member queries run after a leave.
	Leaving bool `json:"leaving"`
}

// RouterView is one router port.
type RouterView struct {
	Bridge    string `json:"bridge"`
	Port      string `json:"port"`
	ExpiresMs int64  `json:"expires_ms"`
}

// QuerierView is the querier heard on the LAN, if any.
type QuerierView struct {
	Bridge    string `json:"bridge"`
	Present   bool   `json:"present"`
	Address   string `json:"address,omitempty"`
	Port      string `json:"port,omitempty"`
	Version   int    `json:"version,omitempty"`
	SinceMs   int64  `json:"since_ms,omitempty"`
	ExpiresMs int64  `json:"expires_ms,omitempty"`
}

// PortName returns the name the engine knows a port by, or its index.
func (e *Engine) PortName(ifindex int) string {
	if p := e.ports[ifindex]; p != nil && p.name != "" {
		return p.name
	}
	return "#" + strconv.Itoa(ifindex)
}

// Groups returns every membership in a stable order.
func (e *Engine) Groups(now time.Time) []GroupView {
	ms := e.table.Memberships()
	out := make([]GroupView, 0, len(ms))
	for i := range ms {
		m := &ms[i]
		reps := m.Reporters()
		rs := make([]string, len(reps))
		for j, r := range reps {
			rs[j] = r.String()
		}
		out = append(out, GroupView{
			Bridge:    e.cfg.Bridge,
			VLAN:      m.Key.VLAN,
			Group:     m.Key.Group.String(),
			Port:      e.PortName(m.Port),
			Source:    addrOrEmpty(m.Key.Source),
			Mode:      "exclude",
			Version:   int(m.Version),
			ExpiresMs: msUntil(now, m.Expires),
			Reporters: rs,
			Leaving:   !m.NextQuery.IsZero(),
		})
	}
	return out
}

// Routers returns the router ports in port order.
func (e *Engine) Routers(now time.Time) []RouterView {
	rs := e.table.Routers()
	out := make([]RouterView, 0, len(rs))
	for _, r := range rs {
		out = append(out, RouterView{Bridge: e.cfg.Bridge, Port: e.PortName(r.Port), ExpiresMs: msUntil(now, r.Expires)})
	}
	return out
}

// Querier returns the querier heard, if any.
func (e *Engine) Querier(now time.Time) QuerierView {
	q := e.querier
	if !q.addr.IsValid() {
		return QuerierView{Bridge: e.cfg.Bridge}
	}
	return QuerierView{
		Bridge:    e.cfg.Bridge,
		Present:   true,
		Address:   q.addr.String(),
		Port:      e.PortName(q.port),
		Version:   q.version,
		SinceMs:   now.Sub(q.since).Milliseconds(),
		ExpiresMs: msUntil(now, q.expires),
	}
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func msUntil(now, t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d.Milliseconds()
	}
	return 0
}
