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
	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonNone:            "none",
	ReasonNotIGMP:         "not_igmp",
	ReasonTruncated:       "truncated",
	ReasonBadIPHeader:     "bad_ip_header",
	ReasonBadIPChecksum:   "bad_ip_checksum",
	ReasonFragment:        "fragment",
	ReasonBadIGMPChecksum: "bad_igmp_checksum",
	ReasonBadQueryLength:  "bad_query_length",
	ReasonBadRecord:       "bad_record",
	ReasonBadGroup:        "bad_group",
	ReasonBadDestination:  "bad_destination",
	ReasonBadSourceMAC:    "bad_source_mac",
	ReasonBadSources:      "bad_sources",
}

// String returns the reason's snake_case name, as used in counters.
func (r Reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Reasons lists every refusal reason except ReasonNone, for counters.
func Reasons() []Reason {
	rs := make([]Reason, 0, reasonCount-1)
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
