package wire

import "fmt"

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
}

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
type Refusal struct {
	Reason Reason
	Detail string
}

func (e *Refusal) Error() string {
	if e.Detail == "" {
		return "refused: " + e.Reason.String()
	}
	return "refused: " + e.Reason.String() + ": " + e.Detail
}
