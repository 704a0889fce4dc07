package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Sentinel errors. Returned errors wrap them, so test with errors.Is.
var (
	// ErrNotFound: the MDB entry to delete does not exist.
	ErrNotFound = errors.New("mdb entry not found")
	// ErrNotBridge: the named or numbered link exists but is not a bridge.
	ErrNotBridge = errors.New("not a bridge")
	// ErrNoLink: no link has that name or index.
	ErrNoLink = errors.New("no such link")
	// ErrHashMax: the kernel refused an MDB entry because the bridge's
	// mcast_hash_max was reached, and as a side effect it switched multicast
	// snooping off for the whole bridge (everything floods until it is
	// switched back on).
	ErrHashMax = errors.New("mcast_hash_max reached: the kernel switched multicast snooping off on the bridge")
)

// Link is a network interface as seen by rtnetlink.
type Link struct {
	Index int
	Name  string
	MAC   net.HardwareAddr
	// Up is true when the link is operationally up (IF_OPER_UP) or the kernel
	// reports IFF_RUNNING: it can carry frames now.
	Up bool
	// MasterIndex is the ifindex of the bridge the link is a port of, or 0.
	MasterIndex int
}

func (l Link) equal(o Link) bool {
	return l.Index == o.Index && l.Name == o.Name && l.Up == o.Up &&
		l.MasterIndex == o.MasterIndex && string(l.MAC) == string(o.MAC)
}

// Bridge is a Linux bridge device.
type Bridge struct {
	Link
	// IPv4 is the first IPv4 address on the bridge; invalid if it has none.
	IPv4 netip.Addr
}

// LinkEventKind says what happened to a link.
type LinkEventKind uint8

// Link event kinds.
const (
	// PortAdded: a link became a port of the bridge (its master is now the
	// bridge). Link.Up tells its state; no separate PortUp follows.
	PortAdded LinkEventKind = iota + 1
	// PortRemoved: a port left the bridge (its master changed) or was deleted.
	PortRemoved
	// PortUp: a port became operationally up.
	PortUp
	// PortDown: a port stopped being operationally up.
	PortDown
	// BridgeChanged: the bridge's name, MAC, state or multicast options
	// changed (LinkEvent.Options holds the new options). The kernel flips
	// mcast_snooping off by itself when mcast_hash_max is reached; this is how
	// the daemon hears about it.
	BridgeChanged
	// BridgeGone: the bridge was deleted. No more events follow.
	BridgeGone
)

func (k LinkEventKind) String() string {
	switch k {
	case PortAdded:
		return "port-added"
	case PortRemoved:
		return "port-removed"
	case PortUp:
		return "port-up"
	case PortDown:
		return "port-down"
	case BridgeChanged:
		return "bridge-changed"
	case BridgeGone:
		return "bridge-gone"
	}
	return fmt.Sprintf("link-event(%d)", uint8(k))
}

// LinkEvent is one change to the watched bridge or one of its ports.
type LinkEvent struct {
	Kind LinkEventKind
	Link Link
	// Options is set for BridgeChanged when the kernel's notification carried
	// the bridge's options (it always does on current kernels).
	Options *Options
}

func (e LinkEvent) String() string {
	return fmt.Sprintf("%s %s(%d) up=%t master=%d", e.Kind, e.Link.Name, e.Link.Index, e.Link.Up, e.Link.MasterIndex)
}

// Options are the bridge's multicast options that matter to the daemon.
type Options struct {
	Snooping bool // mcast_snooping
	Querier  bool // mcast_querier: the bridge sends its own general queries
	// MembershipInterval (mcast_membership_interval) is the lifetime the
	// kernel gives TEMPORARY MDB entries on add and on replace.
	MembershipInterval    time.Duration
	QueryInterval         time.Duration // mcast_query_interval
	QueryResponseInterval time.Duration // mcast_query_response_interval
	HashMax               uint32        // mcast_hash_max: MDB keys before E2BIG
	IGMPVersion           uint8         // mcast_igmp_version, 2 or 3
}

// DefaultProto is the rt_protocol igmpsnoop gives the MDB entries it
// installs, so they can be told from the kernel's own (2, "kernel") and from
// an operator's (4, "static"). The kernel accepts 4..255.
const DefaultProto = 77

// ProtoKernel is the rt_protocol of entries the kernel learned by itself.
const ProtoKernel = 2

// Entry is one port's membership in the bridge's MDB: a (*,G) entry when
// Source is invalid, an (S,G) entry otherwise.
type Entry struct {
	Bridge int // bridge ifindex
	Port   int // port ifindex; the bridge's own ifindex would be a host join
	Group  netip.Addr
	Source netip.Addr // invalid: (*,G)
	VID    uint16     // 0: no VLAN
	// Permanent entries never expire in the kernel; temporary ones live for
	// the bridge's membership interval from their last add or replace.
	Permanent bool
	// Proto is the entry's rt_protocol. On Replace, 0 means DefaultProto.
	Proto uint8
	// Timer is the remaining lifetime reported by a dump (0: not running).
	Timer time.Duration
	// Flags are the kernel's MDB_FLAGS_* bits reported by a dump.
	Flags uint8
}

func (e Entry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bridge %d port %d ", e.Bridge, e.Port)
	if e.Source.IsValid() {
		fmt.Fprintf(&b, "(%s,%s)", e.Source, e.Group)
	} else {
		fmt.Fprintf(&b, "(*,%s)", e.Group)
	}
	if e.VID != 0 {
		fmt.Fprintf(&b, " vid %d", e.VID)
	}
	if e.Permanent {
		b.WriteString(" permanent")
	} else {
		b.WriteString(" temp")
	}
	if e.Proto != 0 {
		fmt.Fprintf(&b, " proto %d", e.Proto)
	}
	return b.String()
}

// RouterPort is a port the bridge considers a multicast router port, as
// reported by an MDB dump.
type RouterPort struct {
	Bridge, Port int
	// Type is the port's mcast_router setting: 0 disabled, 1 learned from
	// queries, 2 permanent, 3 temporary.
	Type uint8
	// Timer is the remaining time before a learned router port times out.
	Timer time.Duration
	// IPv4 and IPv6 say for which families the port is a router port.
	IPv4, IPv6 bool
	VID        uint16
}
