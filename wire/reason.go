package wire

import (
	"errors"
	"fmt"
)

// Reason names why a frame was refused. Every refusal has one, so that it can
// be counted and shown (`show stats`) instead of silently ignored.
type Reason uint8

// Refusal reasons. Keep Reasons() and String() in step when adding one.
const (
	ReasonNone Reason = iota
	// ReasonNotIGMP: IPv4 that is neither IGMP nor PIM. Not snooped.
	ReasonNotIGMP
	ReasonTruncated
	ReasonBadIPHeader
	ReasonBadIPChecksum
	ReasonFragment
	ReasonBadIGMPChecksum
	ReasonBadQueryLength
	ReasonBadRecord
	ReasonBadGroup
	ReasonBadDestination
	// ReasonBadSourceMAC: a multicast, broadcast or all-zero source MAC.
	// The Linux bridge drops such frames (br_handle_frame), so learning from
	// them would install state for traffic the bridge never accepted.
	ReasonBadSourceMAC
	// ReasonBadSources: a general query that lists sources. RFC 3376 §4.1.9
	// allows sources only in group-specific queries; Linux hosts and the
	// bridge both ignore such a query.
	ReasonBadSources
	// ReasonNotIP: neither IPv4 nor IPv6 (ARP, LLDP, EAPOL, a second VLAN
	// tag, ...). Not snooped.
	ReasonNotIP
	// ReasonNotMLD: IPv6 that is not MLD, MRD or PIM: neighbour discovery,
	// echo and every other ICMPv6 type, other upper layers, ESP or an
	// unknown extension header (RFC 4541 M7: MLD is told by ICMPv6 type
	// after the extension headers). Not snooped.
	ReasonNotMLD
	// ReasonNotPIMHello: a PIM message other than a PIMv2 hello. Only hellos
	// tell a snooper where routers are; the rest is not snooped.
	ReasonNotPIMHello
	// ReasonBadICMPv6Checksum: the ICMPv6 checksum, pseudo-header included
	// (RFC 8200 §8.1), is wrong.
	ReasonBadICMPv6Checksum
	// ReasonBadPIMChecksum: the PIM checksum (RFC 7761 §4.9) is wrong.
	ReasonBadPIMChecksum
	// ReasonBadHopLimit: an MLD message, or an MRD message of either family,
	// with an IPv6 Hop Limit or IPv4 TTL other than 1 (RFC 3810 §5,
	// RFC 4286 §2), or a neighbour discovery message with a Hop Limit
	// other than 255 (RFC 4861 §6.1, §7.1): it may have been forwarded
	// from another link.
	ReasonBadHopLimit
	// ReasonNoRouterAlert: an MLD message without a Hop-by-Hop header that
	// carries a Router Alert option with value 0 (RFC 3810 §5, RFC 2711).
	ReasonNoRouterAlert
	// ReasonBadSource: an MLD query from :: or from a source that is not
	// link-local (RFC 3810 §5.1.14), an MLD report or done from neither
	// link-local nor :: (§5.2.13; :: is accepted as RFC 4541 M4 requires),
	// or an IPv6 MRD message from a source that is not link-local.
	ReasonBadSource
	// ReasonBadPIMOption: a PIM hello option that is malformed though within
	// the message: a Holdtime option whose length is not 2 (RFC 7761
	// §4.9.2). Options cut by the message's end are ReasonTruncated.
	ReasonBadPIMOption
	// ReasonBadND: a neighbour discovery message (read only from ports
	// whose guests are learned from it) that RFC 4861 §6.1 or §7.1 has
	// hosts drop: a code other than 0, a malformed option, a multicast
	// target, a solicited advertisement to a multicast address, a link-layer
	// address option in a message from ::.
	ReasonBadND
	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonNone:              "none",
	ReasonNotIGMP:           "not_igmp",
	ReasonTruncated:         "truncated",
	ReasonBadIPHeader:       "bad_ip_header",
	ReasonBadIPChecksum:     "bad_ip_checksum",
	ReasonFragment:          "fragment",
	ReasonBadIGMPChecksum:   "bad_igmp_checksum",
	ReasonBadQueryLength:    "bad_query_length",
	ReasonBadRecord:         "bad_record",
	ReasonBadGroup:          "bad_group",
	ReasonBadDestination:    "bad_destination",
	ReasonBadSourceMAC:      "bad_source_mac",
	ReasonBadSources:        "bad_sources",
	ReasonNotIP:             "not_ip",
	ReasonNotMLD:            "not_mld",
	ReasonNotPIMHello:       "not_pim_hello",
	ReasonBadICMPv6Checksum: "bad_icmpv6_checksum",
	ReasonBadPIMChecksum:    "bad_pim_checksum",
	ReasonBadHopLimit:       "bad_hop_limit",
	ReasonNoRouterAlert:     "no_router_alert",
	ReasonBadSource:         "bad_source",
	ReasonBadPIMOption:      "bad_pim_option",
	ReasonBadND:             "bad_nd",
}

// String returns the reason's snake_case name, as used in counters.
func (r Reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// NotSnooped reports whether r refuses a frame for not being a protocol
// the snooper reads at all (as opposed to a malformed or invalid one), so
// callers can keep such frames out of error logs.
func (r Reason) NotSnooped() bool {
	switch r {
	case ReasonNotIP, ReasonNotIGMP, ReasonNotMLD, ReasonNotPIMHello:
		return true
	}
	return false
}

// Reasons lists every refusal reason except ReasonNone, for counters.
func Reasons() []Reason {
	rs := make([]Reason, 0, reasonCount)
	for r := ReasonNone + 1; r < reasonCount; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Refusal is the error returned for a frame that failed decoding or
// validation.
//
// The decoder returns shared, preallocated values so that refusing a flood
// of hostile frames costs no allocation: treat a *Refusal as read-only.
type Refusal struct {
	Reason Reason
	Detail string
}

// Error implements error.
func (e *Refusal) Error() string {
	if e.Detail == "" {
		return "refused: " + e.Reason.String()
	}
	return "refused: " + e.Reason.String() + ": " + e.Detail
}

// Is makes errors.Is(err, &Refusal{Reason: r}) match any refusal for r,
// whatever its detail.
func (e *Refusal) Is(target error) bool {
	t, ok := target.(*Refusal)
	return ok && t.Reason == e.Reason && (t.Detail == "" || t.Detail == e.Detail)
}

// ReasonOf returns the reason of a refusal anywhere in err's chain, or
// ReasonNone when err is nil or not a refusal.
func ReasonOf(err error) Reason {
	if r, ok := err.(*Refusal); ok { // the decoder's own errors: no allocation
		return r.Reason
	}
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ReasonNone
}

// refuse builds a refusal once, at package init; the decoder hands out these
// shared values (see Refusal).
func refuse(r Reason, detail string) *Refusal { return &Refusal{Reason: r, Detail: detail} }
