package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
)

// The verbs of the control protocol. Each is a request type with its
// name (Verb) and its answer, and a line in the verbs table; a client
// sends it with EncodeRequest.

// A Request is one control request.
type Request interface {
	// Verb is the request's name on the wire ("command").
	Verb() string
}

// verbs is the protocol's table: each verb's decoder.
var verbs = map[string]func([]byte) (Request, error){
	"groups":  decodeAs[GroupsRequest],
	"ports":   decodeAs[PortsRequest],
	"routers": decodeAs[RoutersRequest],
	"querier": decodeAs[QuerierRequest],
	"stats":   decodeAs[StatsRequest],
	"check":   decodeAs[CheckRequest],
	"config":  decodeAs[ConfigRequest],
	"reload":  decodeAs[ReloadRequest],
	"events":  decodeAs[EventsRequest],
}

// bridgeRequest is a request every bridge (or the one named) answers, on
// its loop's goroutine.
type bridgeRequest interface {
	Request
	bridge() string
	// empty is the reply with no bridge's answer in it yet.
	empty() Reply
	// answer adds bridge l's answer to r.
	answer(l *bridgeLoop, now time.Time, r *Reply)
}

// daemonRequest is a request the daemon answers as a whole.
type daemonRequest interface {
	Request
	serve(ctx context.Context, d *daemon) (Reply, error)
}

// GroupsRequest asks for the learned memberships; Port and Group (an
// address or a prefix) narrow them.
type GroupsRequest struct {
	Bridge string `json:"bridge,omitempty"`
	Port   string `json:"port,omitempty"`
	Group  string `json:"group,omitempty"`
}

func (GroupsRequest) Verb() string     { return "groups" }
func (q GroupsRequest) bridge() string { return q.Bridge }
func (GroupsRequest) empty() Reply     { return Reply{Groups: []snoop.GroupView{}} }
func (q GroupsRequest) answer(l *bridgeLoop, now time.Time, r *Reply) {
	r.Groups = append(r.Groups, l.ports.withPeers(q.filter(l.engine.Groups(now)))...)
}

func (q GroupsRequest) validate() error {
	if q.Group == "" {
		return nil
	}
	if _, err := ParsePrefixOrAddr(q.Group); err != nil {
		return fmt.Errorf("group %q: not an address or prefix", q.Group)
	}
	return nil
}

// filter keeps the rows matching the request's port and group.
func (q GroupsRequest) filter(gs []snoop.GroupView) []snoop.GroupView {
	var pfx netip.Prefix
	if q.Group != "" {
		p, err := ParsePrefixOrAddr(q.Group)
		if err != nil {
			return nil
		}
		pfx = p
	}
	out := gs[:0]
	for _, g := range gs {
		if q.Port != "" && g.Port != q.Port {
			continue
		}
		if pfx.IsValid() {
			a, err := netip.ParseAddr(g.Group)
			if err != nil || !pfx.Contains(a) {
				continue
			}
		}
		out = append(out, g)
	}
	return out
}

// PortsRequest asks for each port's state, settings and counters.
type PortsRequest struct {
	Bridge string `json:"bridge,omitempty"`
}

func (PortsRequest) Verb() string     { return "ports" }
func (q PortsRequest) bridge() string { return q.Bridge }
func (PortsRequest) empty() Reply     { return Reply{Ports: []snoop.PortView{}} }
func (PortsRequest) answer(l *bridgeLoop, _ time.Time, r *Reply) {
	r.Ports = append(r.Ports, l.ports.views(l.engine.Ports())...)
}

// RoutersRequest asks for the router ports.
type RoutersRequest struct {
	Bridge string `json:"bridge,omitempty"`
}

func (RoutersRequest) Verb() string     { return "routers" }
func (q RoutersRequest) bridge() string { return q.Bridge }
func (RoutersRequest) empty() Reply     { return Reply{Routers: []snoop.RouterView{}} }
func (RoutersRequest) answer(l *bridgeLoop, now time.Time, r *Reply) {
	r.Routers = append(r.Routers, l.engine.Routers(now)...)
}

// QuerierRequest asks for each protocol's querier and the timers in force.
type QuerierRequest struct {
	Bridge string `json:"bridge,omitempty"`
}

func (QuerierRequest) Verb() string     { return "querier" }
func (q QuerierRequest) bridge() string { return q.Bridge }
func (QuerierRequest) empty() Reply     { return Reply{Queriers: []snoop.QuerierView{}} }
func (QuerierRequest) answer(l *bridgeLoop, now time.Time, r *Reply) {
	r.Queriers = append(r.Queriers, l.engine.Queriers(now)...)
}

// StatsRequest asks for the message counters and the last MDB check.
type StatsRequest struct {
	Bridge string `json:"bridge,omitempty"`
}

func (StatsRequest) Verb() string     { return "stats" }
func (q StatsRequest) bridge() string { return q.Bridge }
func (StatsRequest) empty() Reply     { return Reply{Stats: []snoop.Stats{}} }
func (StatsRequest) answer(l *bridgeLoop, _ time.Time, r *Reply) {
	s := l.engine.Stats()
	s.MDBCheck = l.lastCheck
	r.Stats = append(r.Stats, s)
}

// CheckRequest runs the MDB consistency check now, repairing what differs.
type CheckRequest struct {
	Bridge string `json:"bridge,omitempty"`
}

func (CheckRequest) Verb() string     { return "check" }
func (q CheckRequest) bridge() string { return q.Bridge }
func (CheckRequest) empty() Reply     { return Reply{Checks: []snoop.MDBCheck{}} }
func (CheckRequest) answer(l *bridgeLoop, now time.Time, r *Reply) {
	r.Checks = append(r.Checks, l.check(now))
}

// ConfigRequest asks for the configuration in force.
type ConfigRequest struct{}

func (ConfigRequest) Verb() string { return "config" }
func (ConfigRequest) serve(_ context.Context, d *daemon) (Reply, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Reply{Config: d.settings.Text, Guard: string(d.guard)}, nil
}

// ReloadRequest has the daemon re-read its configuration, as SIGHUP does.
type ReloadRequest struct{}

func (ReloadRequest) Verb() string { return "reload" }
func (ReloadRequest) serve(ctx context.Context, d *daemon) (Reply, error) {
	reply := make(chan error, 1)
	select {
	case d.reloads <- reply:
	case <-ctx.Done():
		return Reply{}, ctx.Err()
	}
	if err := <-reply; err != nil {
		return Reply{}, err
	}
	return Reply{OK: true}, nil
}

// EventsRequest streams events (EventRecord lines) until the client
// hangs up; the control server serves it itself.
type EventsRequest struct {
	Bridge string `json:"bridge,omitempty"`
}

func (EventsRequest) Verb() string { return "events" }
