package snoop

import (
	"strconv"
	"time"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// ignoreReason names why a valid message changed nothing.
type ignoreReason uint8

const (
	ignoreUnknownPort   ignoreReason = iota // received on a port that is not (yet) up
	ignoreNotLearnable                      // group in 224.0.0.0/24, ff02::1, ff00::/15, or not multicast
	ignoreLeaveUnknown                      // leave or block for a group the port is not a member of
	ignorePortLimit                         // join refused: the port's group limit
	ignoreTableLimit                        // join refused: the bridge's group limit
	ignoreSourceLimit                       // too many sources: the group forwards every source instead
	ignoreCompat                            // ignored in an older-host compatibility mode (RFC 3376 §7.3.2)
	ignoreFilterDeny                        // denied by the port's profile
	ignoreNoSnooping                        // snooping is off on the port
	ignoreRouterRefused                     // a query or router message on a port that refuses them
	ignoreUnknownRecord                     // an IGMPv3/MLDv2 record of an unknown type, skipped (RFC 3376 §4.2.12)
	ignoreSSMExclude                        // an any-source request (or v1/v2 message) for a group in an SSM range (RFC 4604 §2.2)
	ignoreNDOff                             // neighbour discovery on a port that does not learn guests from it
	ignoreNDNoAddress                       // neighbour discovery showing no address of its sender (a router solicitation from ::)
	ignoreNDLimit                           // a guest address past the port's ND bound: its oldest ND group made room
	ignoreCount
)

var ignoreNames = [ignoreCount]string{
	ignoreUnknownPort:   "unknown_port",
	ignoreNotLearnable:  "link_local_or_invalid_group",
	ignoreLeaveUnknown:  "leave_without_membership",
	ignorePortLimit:     "port_limit",
	ignoreTableLimit:    "table_limit",
	ignoreSourceLimit:   "source_limit",
	ignoreCompat:        "compat_mode",
	ignoreFilterDeny:    "filter_deny",
	ignoreNoSnooping:    "snooping_disabled",
	ignoreRouterRefused: "query_refused",
	ignoreUnknownRecord: "unknown_record_type",
	ignoreSSMExclude:    "ssm_exclude",
	ignoreNDOff:         "nd_not_enabled",
	ignoreNDNoAddress:   "nd_no_address",
	ignoreNDLimit:       "nd_limit",
}

// messageLabel names a message by type and version for counters.
func messageLabel(m *wire.Message) string {
	prefix := "igmp_"
	if m.Proto == wire.MLD {
		prefix = "mld_"
	}
	v := "v" + strconv.Itoa(m.Version)
	switch m.Kind {
	case wire.KindQuery:
		return prefix + "query_" + v
	case wire.KindReport, wire.KindReportV3:
		return prefix + "report_" + v
	case wire.KindLeave:
		return prefix + "leave_" + v
	case wire.KindPIMHello:
		return "pim_hello"
	case wire.KindMRDAdvert:
		return prefix + "mrd_advert"
	case wire.KindMRDTermination:
		return prefix + "mrd_termination"
	case wire.KindND:
		return "nd"
	}
	return prefix + "other"
}

type counters struct {
	// received counts messages by labelKey, turned into messageLabel
	// names in Stats: counting must not build a string per message.
	received map[labelKey]uint64
	refused  [256]uint64 // by wire.Reason
	ignored  [ignoreCount]uint64
	relayed  uint64
	// guardRelayed and guardRelayedRefused count reports the ingress
	// guard relayed, and those of them the engine then refused.
	guardRelayed, guardRelayedRefused uint64
	sentQueries                       uint64
	installFailed                     uint64
}

// labelKey is what messageLabel depends on.
type labelKey struct {
	mld     bool
	kind    wire.Kind
	version int
}

func (k labelKey) label() string {
	m := wire.Message{Kind: k.kind, Version: k.version, Proto: wire.IGMP}
	if k.mld {
		m.Proto = wire.MLD
	}
	return messageLabel(&m)
}

func (c *counters) count(m *wire.Message) {
	if c.received == nil {
		c.received = make(map[labelKey]uint64)
	}
	c.received[labelKey{mld: m.Proto == wire.MLD, kind: m.Kind, version: m.Version}]++
}

// Stats is a snapshot of the engine's counters. Every field is a stable
// JSON name so scripts can rely on it.
type Stats struct {
	Bridge   string            `json:"bridge"`
	Received map[string]uint64 `json:"received"`
	Refused  map[string]uint64 `json:"refused"`
	Ignored  map[string]uint64 `json:"ignored"`
	Relayed  uint64            `json:"relayed"`
	// GuardRelayed counts reports the ingress guard relayed itself (the
	// engine learned from them and relayed them no more);
	// GuardRelayedRefused those of them the engine then refused, which
	// reached the routers though they should not have (see RelaysFrom).
	GuardRelayed        uint64 `json:"guard_relayed"`
	GuardRelayedRefused uint64 `json:"guard_relayed_refused"`
	SentQueries         uint64 `json:"sent_queries"`
	// InstallFailed counts MDB writes the kernel refused.
	InstallFailed uint64 `json:"install_failed"`
	Groups        int    `json:"groups"`
	Memberships   int    `json:"memberships"`
	// Ports has each port's counters, by port name.
	Ports map[string]PortStats `json:"ports"`
	// MDBCheck is the daemon's latest comparison of the kernel's MDB with
	// this table (nil before the first).
	MDBCheck *MDBCheck `json:"mdb_check,omitempty"`
}

// MDBCheck is the result of comparing the kernel's MDB with the table:
// what was missing, extra or different, and how much was repaired.
type MDBCheck struct {
	// Bridge names the bridge checked, so several bridges' results can be
	// told apart; the engine leaves it to the daemon, which knows it.
	Bridge    string    `json:"bridge"`
	At        time.Time `json:"at"`
	Entries   int       `json:"entries"`
	Missing   int       `json:"missing"`
	Extra     int       `json:"extra"`
	Different int       `json:"different"`
	Kernel    int       `json:"kernel_learned"`
	Repaired  int       `json:"repaired"`
	Error     string    `json:"error,omitempty"`
}

// Consistent reports whether the check found the MDB equal to the table.
func (c *MDBCheck) Consistent() bool {
	return c.Error == "" && c.Missing == 0 && c.Extra == 0 && c.Different == 0 && c.Kernel == 0
}

// Stats returns a snapshot of the counters. Every refusal reason and
// ignore reason is present, zero or not, so a missing key is never
// mistaken for zero.
func (e *Engine) Stats() Stats {
	s := Stats{
		Bridge:              e.cfg.Bridge,
		Received:            make(map[string]uint64, len(e.stats.received)),
		Refused:             make(map[string]uint64),
		Ignored:             make(map[string]uint64, ignoreCount),
		Relayed:             e.stats.relayed,
		GuardRelayed:        e.stats.guardRelayed,
		GuardRelayedRefused: e.stats.guardRelayedRefused,
		SentQueries:         e.stats.sentQueries,
		InstallFailed:       e.stats.installFailed,
		Groups:              e.table.Keys(),
		Memberships:         e.table.Len(),
	}
	for k, v := range e.stats.received {
		s.Received[k.label()] += v
	}
	for _, r := range wire.Reasons() {
		s.Refused[r.String()] = e.stats.refused[r]
	}
	for i, n := range ignoreNames {
		s.Ignored[n] = e.stats.ignored[i]
	}
	s.Ports = make(map[string]PortStats, len(e.portCounters))
	for i, c := range e.portCounters {
		s.Ports[e.PortName(i)] = c.snapshot()
	}
	return s
}

// portCounters are one port's counters.
type portCounters struct {
	received uint64
	refused  [256]uint64 // by wire.Reason
	ignored  [ignoreCount]uint64
}

// portStats returns a known port's counters, or nil: a frame still queued
// from a removed port must not bring its counters back.
func (e *Engine) portStats(ifindex int) *portCounters {
	if e.ports[ifindex] == nil {
		return nil
	}
	c := e.portCounters[ifindex]
	if c == nil {
		c = &portCounters{}
		e.portCounters[ifindex] = c
	}
	return c
}

// PortStats is one port's counters in a Stats snapshot; zero counts are
// left out to keep it readable.
type PortStats struct {
	Received uint64            `json:"received"`
	Refused  map[string]uint64 `json:"refused"`
	Ignored  map[string]uint64 `json:"ignored"`
}

func (c *portCounters) snapshot() PortStats {
	s := PortStats{Received: c.received, Refused: map[string]uint64{}, Ignored: map[string]uint64{}}
	for _, r := range wire.Reasons() {
		if n := c.refused[r]; n > 0 {
			s.Refused[r.String()] = n
		}
	}
	for i, n := range c.ignored {
		if n > 0 {
			s.Ignored[ignoreNames[i]] = n
		}
	}
	return s
}

func (c *portCounters) total() (refused, ignored uint64) {
	for _, n := range c.refused {
		refused += n
	}
	for _, n := range c.ignored {
		ignored += n
	}
	return refused, ignored
}
