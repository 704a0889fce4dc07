package snoop

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// GroupView is one membership row as `show groups` prints it: a port's
// any-source (EXCLUDE mode) membership of a group, or one source of its
// INCLUDE-mode membership. The JSON names are part of the CLI's contract.
type GroupView struct {
	Bridge string `json:"bridge"`
	VLAN   uint16 `json:"vlan"`
	Group  string `json:"group"`
	Port   string `json:"port"`
	// Peer is what is behind the port (filled in by the daemon).
	Peer *PeerView `json:"peer,omitempty"`
	// Source is empty for any-source (EXCLUDE mode) rows.
	Source string `json:"source"`
	// Mode is the port's filter mode for the group: "include" or "exclude".
	Mode string `json:"mode"`
	// Excluded lists the sources an EXCLUDE-mode membership blocks (its
	// Y set, RFC 3376 §6.2.1), Requested the sources it still has running
	// timers for (its X set: forwarded, and kept in INCLUDE mode when the
	// group timer runs out). The MDB entry carries only Y.
	Excluded  []string          `json:"excluded,omitempty"`
	Requested []SourceTimerView `json:"requested,omitempty"`
	// Version is the protocol version of the latest report (IGMP 1-3,
	// MLD 1-2); 0 if unknown (adopted from an earlier run).
	Version int `json:"version"`
	// Compat is the group's compatibility mode, in IGMP terms (v1, v2, v3)
	// or MLD terms (v1, v2): older hosts make a group any-source.
	Compat string `json:"compat"`
	// ExpiresMs is the group timer (EXCLUDE) or the source timer (INCLUDE).
	ExpiresMs int64 `json:"expires_ms"`
	// SinceMs is the membership's uptime: how long ago the port joined the
	// group (or the daemon adopted or configured it), kept across
	// refreshes. An INCLUDE-mode row shows its membership's, as sources
	// have no start of their own.
	SinceMs int64 `json:"since_ms"`
	// Reporters are the tracked hosts wanting this row's traffic, newest first.
	Reporters []string `json:"reporters"`
	// Leaving is true while last-member queries run after a leave.
	Leaving bool `json:"leaving"`
	// Static memberships come from the configuration and never expire.
	Static bool `json:"static"`
	// Via is "nd" for a solicited-node group learned from a guest's
	// neighbour discovery (an nd_guests port), whose reporters are the
	// guest's addresses; empty for one learned from reports alone.
	Via string `json:"via,omitempty"`
}

// SourceTimerView is a source with its timer.
type SourceTimerView struct {
	Source    string `json:"source"`
	ExpiresMs int64  `json:"expires_ms"`
}

// RouterView is one router port.
type RouterView struct {
	Bridge    string `json:"bridge"`
	Port      string `json:"port"`
	VLAN      uint16 `json:"vlan"`
	Protocol  string `json:"protocol"`
	Via       string `json:"via"`
	ExpiresMs int64  `json:"expires_ms"` // 0 for static router ports
}

// QuerierView is the querier of one protocol in one VLAN.
type QuerierView struct {
	Bridge   string `json:"bridge"`
	VLAN     uint16 `json:"vlan"`
	Protocol string `json:"protocol"`
	Present  bool   `json:"present"`
	// Self is true when this daemon is the querier.
	Self      bool   `json:"self"`
	Address   string `json:"address,omitempty"`
	Port      string `json:"port,omitempty"`
	Version   int    `json:"version,omitempty"`
	SinceMs   int64  `json:"since_ms,omitempty"`
	ExpiresMs int64  `json:"expires_ms,omitempty"`
	// Timers in force: configured, or adopted from the querier.
	Robustness            int   `json:"robustness"`
	QueryIntervalMs       int64 `json:"query_interval_ms"`
	QueryResponseMs       int64 `json:"query_response_interval_ms"`
	MembershipIntervalMs  int64 `json:"membership_interval_ms"`
	OtherQuerierPresentMs int64 `json:"other_querier_present_interval_ms"`
}

// PortName returns the name the engine knows a port by, or its index.
func (e *Engine) PortName(ifindex int) string {
	if p := e.ports[ifindex]; p != nil && p.name != "" {
		return p.name
	}
	return "#" + strconv.Itoa(ifindex)
}

func protoName(v6 bool) string {
	if v6 {
		return "mld"
	}
	return "igmp"
}

// version turns a generation into the protocol's own version number.
func version(gen int, v6 bool) int {
	if v6 && gen > 0 {
		return gen - 1
	}
	return gen
}

// Groups returns every membership row in a stable order.
func (e *Engine) Groups(now time.Time) []GroupView {
	pgs := e.table.Groups()
	out := make([]GroupView, 0, len(pgs))
	n := e.table.TimeOf(now)
	for i := range pgs {
		pg := &pgs[i]
		v6 := pg.Key.Group.Is6()
		row := GroupView{
			Bridge:  e.cfg.Bridge,
			VLAN:    pg.Key.VLAN,
			Group:   pg.Key.Group.String(),
			Port:    e.PortName(pg.Port),
			Mode:    pg.Mode.String(),
			Version: version(int(pg.Generation), v6),
			Compat:  "v" + strconv.Itoa(version(compat(pg, n), v6)),
			Leaving: pg.Leaving,
			Static:  pg.Static,
			SinceMs: msSince(now, e.table.TimeAt(pg.Since)),
		}
		if pg.ND {
			row.Via = "nd"
		}
		if pg.Mode == fdb.Exclude {
			if !pg.Static {
				row.ExpiresMs = msUntil(now, e.table.TimeAt(pg.GroupExpires))
			}
			for _, s := range pg.Sources {
				if s.Expires.IsZero() {
					row.Excluded = append(row.Excluded, s.Addr.String())
				} else {
					row.Requested = append(row.Requested, SourceTimerView{Source: s.Addr.String(), ExpiresMs: msUntil(now, e.table.TimeAt(s.Expires))})
				}
			}
			row.Reporters = reporters(pg, netip.Addr{}, n)
			out = append(out, row)
			continue
		}
		for _, s := range pg.Sources {
			r := row
			r.Source = s.Addr.String()
			if !pg.Static {
				r.ExpiresMs = msUntil(now, e.table.TimeAt(s.Expires))
			}
			r.Reporters = reporters(pg, s.Addr, n)
			out = append(out, r)
		}
	}
	return out
}

// reporters lists the tracked hosts at now that want src (invalid: the
// any-source row, which every tracked host wants some of: an INCLUDE-mode
// host behind an EXCLUDE-mode port is forwarded by it too).
func reporters(pg *fdb.PortGroup, src netip.Addr, now fdb.Time) []string {
	out := []string{}
	for i := range pg.Hosts {
		h := &pg.Hosts[i]
		if h.Expires > now && (!src.IsValid() || h.Wants(src)) {
			out = append(out, h.Addr.String())
		}
	}
	return out
}

// liveHosts counts the hosts tracked behind a port group at now: those
// are pruned only at the group's next report, so some may have timed out.
func liveHosts(pg *fdb.PortGroup, now fdb.Time) int {
	n := 0
	for i := range pg.Hosts {
		if pg.Hosts[i].Expires > now {
			n++
		}
	}
	return n
}

// Routers returns the router ports in port order.
func (e *Engine) Routers(now time.Time) []RouterView {
	rs := e.table.Routers()
	out := make([]RouterView, 0, len(rs))
	for _, r := range rs {
		out = append(out, RouterView{
			Bridge: e.cfg.Bridge, Port: e.PortName(r.Port), VLAN: r.VLAN,
			Protocol: protoName(r.IPv6), Via: r.Via, ExpiresMs: msUntil(now, r.Expires),
		})
	}
	return out
}

// Queriers returns the querier state of IGMP and MLD on the untagged LAN,
// and of any VLAN a query was heard in.
func (e *Engine) Queriers(now time.Time) []QuerierView {
	e.family(famKey{})
	e.family(famKey{IPv6: true})
	keys := make([]famKey, 0, len(e.families))
	for k := range e.families {
		keys = append(keys, k)
	}
	sortFamKeys(keys)
	out := make([]QuerierView, 0, len(keys))
	for _, k := range keys {
		f := e.families[k]
		q := QuerierView{
			Bridge: e.cfg.Bridge, VLAN: k.VLAN, Protocol: protoName(k.IPv6),
			Robustness: f.robustness, QueryIntervalMs: f.qi.Milliseconds(), QueryResponseMs: f.qri.Milliseconds(),
			MembershipIntervalMs: f.gmi().Milliseconds(), OtherQuerierPresentMs: f.oqpi().Milliseconds(),
		}
		switch {
		case f.ownActive:
			q.Present, q.Self = true, true
			q.Address = e.ownAddr(f).String()
			q.Version = version(e.queryGeneration(now, f), k.IPv6)
			q.SinceMs = now.Sub(f.ownSince).Milliseconds()
		case f.other.addr.IsValid():
			q.Present = true
			q.Address, q.Port = f.other.addr.String(), e.PortName(f.other.port)
			q.Version = version(f.other.generation, k.IPv6)
			q.SinceMs = now.Sub(f.other.since).Milliseconds()
			q.ExpiresMs = msUntil(now, f.other.expires)
		}
		out = append(out, q)
	}
	return out
}

// msSince is how long ago t was, in milliseconds (0 if unset).
func msSince(now, t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(now.Sub(t), 0).Milliseconds()
}

func msUntil(now, t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.Sub(now), 0).Milliseconds()
}

// PortView is one port as `show ports` prints it.
type PortView struct {
	Bridge       string `json:"bridge"`
	Port         string `json:"port"`
	Up           bool   `json:"up"`
	Snooping     bool   `json:"snooping"`
	FastLeave    bool   `json:"fast_leave"`
	Flood        bool   `json:"flood"`
	FloodReports bool   `json:"flood_reports"`
	// NDGuests: the port learns its guests' addresses from their
	// neighbour discovery and keeps their solicited-node groups.
	NDGuests bool `json:"nd_guests"`
	// Router says why the port is a router port ("static", "query",
	// "pim", "mrd"), or is empty.
	Router    string `json:"router"`
	Profile   string `json:"profile"`
	Groups    int    `json:"groups"`
	MaxGroups int    `json:"max_groups"` // 0: no limit
	// LimitAction is what happens past MaxGroups: "deny" or "replace".
	LimitAction string `json:"limit_action"`
	Received    uint64 `json:"received"`
	Refused     uint64 `json:"refused"`
	Ignored     uint64 `json:"ignored"`
	// GuardDropped counts reports and leaves the ingress guard kept from
	// the bridge; SocketDropped, frames the kernel dropped before the
	// daemon read them (filled in by the daemon).
	GuardDropped uint64 `json:"guard_dropped"`
	// GuardRelayed counts the reports among them that the guard relayed
	// to the router ports itself (see Engine.RelaysFrom).
	GuardRelayed  uint64 `json:"guard_relayed"`
	SocketDropped uint64 `json:"socket_dropped"`
	// STP is the port's spanning-tree state as the bridge reports it
	// (forwarding, blocking, disabled for a port that is down, ...),
	// filled in by the daemon. Up is false until it lets the port learn.
	STP string `json:"stp,omitempty"`
	// Peer is what is behind the port (filled in by the daemon).
	Peer *PeerView `json:"peer,omitempty"`
	// McastToUnicast: the port has mcast_to_unicast on, so the kernel
	// learns its memberships (see Engine.SetKernelLearns).
	McastToUnicast bool `json:"mcast_to_unicast"`
}

// Ports returns every known port in name order.
func (e *Engine) Ports() []PortView {
	out := make([]PortView, 0, len(e.ports))
	routers := e.table.Routers()
	for i, p := range e.ports {
		pol := p.policy
		v := PortView{
			Bridge: e.cfg.Bridge, Port: e.PortName(i), Up: p.up, Snooping: !pol.NoSnooping,
			FastLeave: pol.FastLeave, Flood: pol.Flood || pol.NoSnooping, FloodReports: pol.FloodReports,
			Groups: e.table.PortLen(i), MaxGroups: pol.MaxGroups, LimitAction: "deny",
			McastToUnicast: p.kernelLearns,
			NDGuests:       pol.NDGuests,
		}
		if pol.ReplaceOldest {
			v.LimitAction = "replace"
		}
		if pol.Profile != nil {
			v.Profile = pol.Profile.Name
		}
		for _, r := range routers {
			if r.Port == i {
				v.Router = r.Via
			}
		}
		if c := e.portCounters[i]; c != nil {
			v.Received = c.received
			v.Refused, v.Ignored = c.total()
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b PortView) int { return strings.Compare(a.Port, b.Port) })
	return out
}
