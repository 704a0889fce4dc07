package snoop

import (
	"net/netip"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// ActionKind says what the caller must do.
type ActionKind uint8

// Action kinds.
const (
	_ ActionKind = iota
	// ActInstall: create or refresh the MDB entry (Key, Port) with Mode
	// and Sources: INCLUDE forwards only Sources, EXCLUDE all but Sources.
	ActInstall
	// ActRemove: delete the MDB entry (Key, Port); it may already be gone.
	ActRemove
	// ActTransmit: send Frame out of Port, or into the bridge device when
	// Port is ThroughBridge (the bridge floods it to every port and sees it
	// as a query from a querier).
	ActTransmit
	// ActEvent: something the operator may want to know happened (Event).
	ActEvent
	// ActRouterPort: Port is (Router true) or is no longer (false) a
	// router port: the kernel must forward all multicast to it. A true one
	// is repeated now and then, to renew a temporary kernel setting.
	ActRouterPort
)

// ThroughBridge is the Port of an ActTransmit that goes into the bridge
// device rather than out of one port.
const ThroughBridge = 0

// EventKind names an event.
type EventKind uint8

// Event kinds.
const (
	_                  EventKind = iota // none
	EventJoin                           // a new membership
	EventLeave                          // a membership removed after a leave
	EventExpire                         // a membership aged out
	EventFlush                          // a membership removed because its port went down or away
	EventAdopt                          // a membership taken over from an earlier run's MDB entry
	EventLimit                          // a join or source refused by a limit
	EventRouterAdd                      // a port became a router port
	EventRouterExpire                   // a router port aged out or was withdrawn
	EventQuerierHeard                   // another querier is present (again), or a better one
	EventQuerierLost                    // no querier heard for the other-querier-present interval
	EventQuerierSelf                    // we became the querier
	EventQueryFailed                    // a query could not be built or has no usable source
	EventTimersChanged                  // the querier's timers changed the membership interval
	EventFilterDeny                     // a join refused by the port's profile
	EventQueryClamped                   // a query's response time cut to what its (older) version can carry
)

var eventNames = map[EventKind]string{
	EventJoin: "join", EventLeave: "leave", EventExpire: "expire", EventFlush: "flush",
	EventAdopt: "adopt", EventLimit: "limit_hit", EventRouterAdd: "router_add",
	EventRouterExpire: "router_expire", EventQuerierHeard: "querier_heard",
	EventQuerierLost: "querier_lost", EventQuerierSelf: "querier_self",
	EventQueryFailed: "query_failed", EventTimersChanged: "timers_changed", EventFilterDeny: "filter_deny",
	EventQueryClamped: "query_clamped",
}

func (k EventKind) String() string {
	if n, ok := eventNames[k]; ok {
		return n
	}
	return "unknown"
}

// Event describes one EventKind occurrence.
type Event struct {
	Kind EventKind
	Port int
	Key  fdb.Key
	// Addr is the reporter, querier or router address, when there is one.
	Addr netip.Addr
	// Detail is a short explanation (the limit hit, how a router was found).
	Detail string
}

// Action is one thing the engine asks the caller to do. Frame may alias the
// frame passed to HandleMessage: apply actions before reusing that buffer.
// Sources is the caller's to keep: the engine holds no reference to it.
type Action struct {
	Kind    ActionKind
	Port    int
	Key     fdb.Key
	Mode    fdb.FilterMode
	Sources []netip.Addr
	Frame   []byte
	Event   Event
	Router  bool
	// Static marks an ActInstall for a configured membership: it needs no
	// refresh, so the kernel must not age it (a permanent entry).
	Static bool
	// Refresh marks an ActInstall that rewrites an entry with the mode
	// and sources it already has: it only renews the kernel's timer.
	Refresh bool
}
