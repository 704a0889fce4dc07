package snoop

import (
	"net/netip"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// ActionKind says what the caller must do.
type ActionKind uint8

// Action kinds.
const (
	// ActInstall: create or refresh the MDB entry (Key, Port).
	ActInstall ActionKind = iota + 1
	// ActRemove: delete the MDB entry (Key, Port); it may already be gone.
	ActRemove
	// ActTransmit: send Frame out of Port.
	ActTransmit
	// ActEvent: something the operator may want to know happened (Event).
	ActEvent
)

// EventKind names an event.
type EventKind uint8

// Event kinds.
const (
	EventJoin         EventKind = iota + 1 // a new membership
	EventLeave                             // a membership removed by a leave
	EventExpire                            // a membership aged out
	EventFlush                             // a membership removed because its port went down or away
	EventAdopt                             // a membership taken over from an earlier run's MDB entry
	EventLimit                             // a join refused by a table limit
	EventRouterAdd                         // a port became a router port
	EventRouterExpire                      // a router port aged out
	EventQuerierHeard                      // a querier is present (again)
	EventQuerierLost                       // no querier heard for the other-querier-present interval
	EventQueryFailed                       // a last-member query could not be built
)

var eventNames = map[EventKind]string{
	EventJoin: "join", EventLeave: "leave", EventExpire: "expire", EventFlush: "flush",
	EventAdopt: "adopt", EventLimit: "limit_hit", EventRouterAdd: "router_add",
	EventRouterExpire: "router_expire", EventQuerierHeard: "querier_heard",
	EventQuerierLost: "querier_lost", EventQueryFailed: "query_failed",
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
	// Addr is the reporter or querier address, when there is one.
	Addr netip.Addr
	// Detail is a short explanation (the limit hit, an encoding error).
	Detail string
}

// Action is one thing the engine asks the caller to do. Frame may alias the
// frame passed to HandleMessage: apply actions before reusing that buffer.
type Action struct {
	Kind  ActionKind
	Port  int
	Key   fdb.Key
	Frame []byte
	Event Event
}
