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
	// ErrNotPort: the link exists but is not a port of a bridge.
	ErrNotPort = errors.New("not a bridge port")
	// ErrHashMax: the kernel refused an MDB entry because the bridge's
	// mcast_hash_max was reached, and as a side effect it switched multicast
	// snooping off for the whole bridge (everything floods until it is
	// switched back on).
	ErrHashMax = errors.New("mcast_hash_max reached: the kernel switched multicast snooping off on the bridge")
	// ErrTooManySources: an Entry lists more than MaxSources sources, the
	// kernel's limit per port group.
	ErrTooManySources = errors.New("too many sources for one MDB entry")
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
	// State is a bridge port's STP state (IFLA_BRPORT_STATE), set by the
	// kernel's STP, a userspace STP daemon, or by hand when STP is off (then
	// the kernel makes an up port forwarding and a down one disabled). It
	// is StateDisabled for links that are not bridge ports, the bridge
	// included.
	State STPState
	// MulticastToUnicast is a bridge port's mcast_to_unicast flag
	// (IFLA_BRPORT_MCAST_TO_UCAST; OpenWrt sets it on Wi-Fi ports): the
	// kernel delivers a group out of the port as one copy per reporting
	// host, addressed to the host's MAC. It does so only for the port
	// groups it learned itself from reports, which carry that MAC; an MDB
	// entry added over netlink carries none, and its copy goes out
	// addressed to the group.
	MulticastToUnicast bool
}

// Learning reports whether the port's STP state lets the bridge learn from
// what arrives on it (learning or forwarding): the daemon must not learn
// memberships or routers from frames read on a port where it is false.
func (l Link) Learning() bool { return l.State == StateLearning || l.State == StateForwarding }

// Forwarding reports whether the port's STP state lets the bridge forward
// frames in and out of it: the daemon must not send frames out of a port
// (PortConn.WriteFrame bypasses STP) where it is false.
func (l Link) Forwarding() bool { return l.State == StateForwarding }

func (l Link) equal(o Link) bool {
	return l.Index == o.Index && l.Name == o.Name && l.Up == o.Up &&
		l.MasterIndex == o.MasterIndex && string(l.MAC) == string(o.MAC) &&
		l.State == o.State && l.MulticastToUnicast == o.MulticastToUnicast
}

// STPState is a bridge port's spanning tree state (BR_STATE_* in
// if_bridge.h).
type STPState uint8

// STP port states. Packet sockets see frames arriving on a port whatever its
// state, so the daemon checks Link.Learning and Link.Forwarding itself.
const (
	// StateDisabled: the port is down or administratively disabled; the
	// bridge neither learns nor forwards.
	StateDisabled STPState = 0
	// StateListening: STP is deciding the port's role; no learning, no
	// forwarding.
	StateListening STPState = 1
	// StateLearning: the bridge learns from the port but forwards nothing
	// in or out of it yet.
	StateLearning STPState = 2
	// StateForwarding: the port learns and forwards.
	StateForwarding STPState = 3
	// StateBlocking: STP blocks the port to break a loop; only BPDUs pass.
	StateBlocking STPState = 4
)

func (s STPState) String() string {
	switch s {
	case StateDisabled:
		return "disabled"
	case StateListening:
		return "listening"
	case StateLearning:
		return "learning"
	case StateForwarding:
		return "forwarding"
	case StateBlocking:
		return "blocking"
	}
	return fmt.Sprintf("stp-state(%d)", uint8(s))
}

// Bridge is a Linux bridge device.
type Bridge struct {
	Link
	// IPv4 is the first IPv4 address on the bridge; invalid if it has none.
	IPv4 netip.Addr
	// IPv6 is the bridge's IPv6 link-local address (fe80::/10), the source
	// MLD queries must have; invalid if it has none (IPv6 disabled on the
	// bridge, or the address not configured yet). An address whose duplicate
	// address detection failed is not used; a tentative one is.
	IPv6 netip.Addr
}

// LinkEventKind says what happened to a link.
type LinkEventKind uint8

// Link event kinds.
const (
	// PortAdded: a link became a port of the bridge (its master is now the
	// bridge). Link.Up and Link.State tell its state; no separate PortUp or
	// PortState follows unless they change later.
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
	// PortState: a port's STP state changed; Link.State holds the new one.
	// It follows a PortUp or PortDown when one notification changed both.
	// Every port event carries the port's current state, so a caller that
	// keeps the latest Link of each port is always up to date.
	PortState
	// PortRenamed: a port's name changed (Linux renames only links that
	// are down); Link.Name holds the new one.
	PortRenamed
	// PortMulticastToUnicast: a port's mcast_to_unicast flag changed;
	// Link.MulticastToUnicast holds the new one.
	PortMulticastToUnicast
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
	case PortState:
		return "port-state"
	case PortRenamed:
		return "port-renamed"
	case PortMulticastToUnicast:
		return "port-mcast-to-unicast"
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
	return fmt.Sprintf("%s %s(%d) up=%t master=%d state=%s", e.Kind, e.Link.Name, e.Link.Index, e.Link.Up, e.Link.MasterIndex, e.Link.State)
}

// Options are the bridge's multicast options that matter to the daemon.
type Options struct {
	Snooping bool // mcast_snooping
	Querier  bool // mcast_querier: the bridge sends its own general queries
	// MembershipInterval (mcast_membership_interval) is the lifetime the
	// kernel gives TEMPORARY MDB entries on add and on replace.
	MembershipInterval time.Duration
	// QuerierInterval (mcast_querier_interval) is how long the kernel
	// counts a heard querier as present after its last query.
	QuerierInterval       time.Duration
	QueryInterval         time.Duration // mcast_query_interval
	QueryResponseInterval time.Duration // mcast_query_response_interval
	HashMax               uint32        // mcast_hash_max: MDB keys before E2BIG
	// IGMPVersion (mcast_igmp_version, 2 or 3) and MLDVersion
	// (mcast_mld_version, 1 or 2): only with 3 and 2 does the kernel look up
	// (S,G) entries when forwarding and honour the filter mode and source
	// lists of (*,G) entries (see Entry.Mode); with 2 and 1 it forwards by
	// (*,G) entries alone, whatever their mode and sources.
	IGMPVersion uint8
	MLDVersion  uint8
	// VLANFiltering (vlan_filtering): only then does the bridge keep MDB
	// entries per VLAN; without it lookups use VLAN 0 alone.
	VLANFiltering bool
}

// DefaultProto is the rt_protocol igmpsnoop gives the MDB entries it
// installs, so they can be told from the kernel's own (2, "kernel") and from
// an operator's (4, "static"). The kernel accepts 4..255.
const DefaultProto = 77

// ProtoKernel is the rt_protocol of entries the kernel learned by itself.
const ProtoKernel = 2

// FilterMode is the source filter mode of a (*,G) MDB entry (RFC 3376
// §3.2, RFC 3810 §4.2): MCAST_EXCLUDE or MCAST_INCLUDE in the kernel.
type FilterMode uint8

// Filter modes. The zero value is ModeExclude: an entry without sources in
// EXCLUDE mode is a plain (*,G) membership (all sources).
const (
	// ModeExclude: traffic from every source but the listed (blocked) ones.
	ModeExclude FilterMode = 0
	// ModeInclude: traffic from the listed sources only; needs at least one.
	ModeInclude FilterMode = 1
)

func (m FilterMode) String() string {
	switch m {
	case ModeExclude:
		return "exclude"
	case ModeInclude:
		return "include"
	}
	return fmt.Sprintf("filter-mode(%d)", uint8(m))
}

// MaxSources is the kernel's limit on the source list of one MDB entry
// (PG_SRC_ENT_LIMIT - 1).
const MaxSources = 31

// MDB entry flags reported by dumps (MDB_FLAGS_* in if_bridge.h).
const (
	FlagOffload       = 0x01 // offloaded to hardware
	FlagFastLeave     = 0x02 // the port has mcast_fast_leave on
	FlagStarExcl      = 0x04 // (S,G) replica of a (*,G) EXCLUDE entry, made by the kernel
	FlagBlocked       = 0x08 // (S,G) whose source is blocked: not forwarded to the port
	FlagOffloadFailed = 0x10 // hardware offload failed
)

// Entry is one port's membership in the bridge's MDB: a (*,G) entry when
// Source is invalid, an (S,G) entry otherwise.
//
// Source lists: a (*,G) entry may carry a filter mode and up to MaxSources
// sources (kernel 6.2+). For each listed source the kernel creates an (S,G)
// entry of its own on the same port, with the (*,G) entry's state and proto
// (FlagBlocked when the mode is EXCLUDE), and it replicates every (*,G)
// EXCLUDE port onto every (S,G) entry of the group (FlagStarExcl, proto
// ProtoKernel although no report made it). These derived entries are
// separate MDB keys: each counts toward mcast_hash_max. Dump reports them
// with Source set and Child true; they live and die with the (*,G) entries
// they come from, and must never be deleted or replaced on their own
// (deleting a replica stops that source from reaching the EXCLUDE port).
//
// Forwarding (verified on 6.18, TestMDBSourceForwarding): with
// mcast_igmp_version 3 / mcast_mld_version 2 the kernel looks up (S,G)
// first, then (*,G); a (*,G) INCLUDE port gets only its listed sources, an
// EXCLUDE port all but its listed ones. With version 2 / 1 it looks up
// (*,G) only and ignores modes and sources: every (*,G) port gets every
// source.
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
	// Flags are the kernel's MDB_FLAGS_* bits reported by a dump (Flag*).
	Flags uint8
	// Mode and Sources are the (*,G) entry's source filter. Replace sends
	// them when Sources is non-empty or Mode is ModeInclude (which needs a
	// source); otherwise the entry is EXCLUDE {} and a replace clears any
	// sources it had. Dumps report them only while the bridge runs
	// mcast_igmp_version 3 (IPv4) or mcast_mld_version 2 (IPv6); otherwise
	// Mode reads ModeExclude and Sources nil whatever the entry holds. The
	// kernel reports (S,G) entries in ModeInclude.
	Mode    FilterMode
	Sources []netip.Addr
	// Child is set by Dump on an (S,G) entry the kernel derived from a (*,G)
	// entry: a replica of a (*,G) EXCLUDE port (FlagStarExcl) or the entry
	// of a source in the same port's (*,G) source list. The latter can only
	// be recognised while dumps carry source lists (see Mode); a caller that
	// installs no (S,G) entries of its own can simply skip every entry whose
	// Source is valid.
	Child bool
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
	if e.Mode != ModeExclude || len(e.Sources) > 0 {
		fmt.Fprintf(&b, " %s %v", e.Mode, e.Sources)
	}
	if e.Child {
		b.WriteString(" child")
	}
	return b.String()
}

// Port multicast router modes (the port's mcast_router option,
// MDB_RTR_TYPE_* in if_bridge.h), for SetPortRouter and RouterPort.Type.
const (
	// PortRouterDisabled: never a router port, whatever it hears.
	PortRouterDisabled uint8 = 0
	// PortRouterLearned: a router port while queries (or PIM hellos, MRD
	// advertisements) are heard on it; the kernel default.
	PortRouterLearned uint8 = 1
	// PortRouterPermanent: always a router port (a static uplink).
	PortRouterPermanent uint8 = 2
	// PortRouterTemporary: a router port for the bridge's
	// mcast_querier_interval (255 s by default) from when it is set; setting
	// it again re-arms the timer, and so do queries the kernel heard. When
	// the timer runs out the port goes back to PortRouterLearned.
	PortRouterTemporary uint8 = 3
)

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

// GuardOptions change what a guard drops besides reports and leaves.
type GuardOptions struct {
	// DropQueries also drops every IGMP and MLD query, for a port where a
	// host must not be able to become the querier or make the port a
	// router port (RFC 4541 §6): the kernel then never hears them.
	DropQueries bool
	// PassReports lets IGMP and MLD reports and leaves through to the
	// bridge, for a port where the kernel learns (mcast_to_unicast: only
	// the kernel's own port groups carry the reporting host's MAC, which
	// it delivers to). Everything else the guard drops it still drops.
	PassReports bool
	// Relay, if set, has the guard relay the reports it can (see
	// RelayShape) to the relay's targets itself, besides dropping them:
	// the reporter's join reaches the routers without waiting for the
	// daemon. It must come from this package's NewRelay.
	Relay Relay
}
