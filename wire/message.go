package wire

import (
	"net"
	"net/netip"
	"time"
)

// Kind is what a decoded IGMP message is, independent of its wire type code.
type Kind uint8

// Message kinds. KindOther is an IGMP type a snooper does not interpret
// (DVMRP, mtrace, PIMv1, ...): RFC 4541 C4 says to flood it, not drop it.
const (
	KindQuery    Kind = iota + 1 // membership query, any version
	KindReport                   // v1/v2 membership report for Message.Group
	KindLeave                    // IGMPv2 leave group for Message.Group
	KindReportV3                 // IGMPv3 report carrying Message.Records
	KindOther                    // any other IGMP type, see Message.IGMPType
)

func (k Kind) String() string {
	switch k {
	case KindQuery:
		return "query"
	case KindReport:
		return "report"
	case KindLeave:
		return "leave"
	case KindReportV3:
		return "report_v3"
	case KindOther:
		return "other"
	}
	return "unknown"
}

// RecordType is an IGMPv3 group record type (RFC 3376 §4.2.12).
type RecordType uint8

// Group record types, numbered as on the wire.
const (
	ModeIsInclude   RecordType = 1 // IS_IN
	ModeIsExclude   RecordType = 2 // IS_EX
	ChangeToInclude RecordType = 3 // TO_IN
	ChangeToExclude RecordType = 4 // TO_EX
	AllowNewSources RecordType = 5 // ALLOW
	BlockOldSources RecordType = 6 // BLOCK
)

func (t RecordType) String() string {
	switch t {
	case ModeIsInclude:
		return "IS_IN"
	case ModeIsExclude:
		return "IS_EX"
	case ChangeToInclude:
		return "TO_IN"
	case ChangeToExclude:
		return "TO_EX"
	case AllowNewSources:
		return "ALLOW"
	case BlockOldSources:
		return "BLOCK"
	}
	return "UNKNOWN"
}

// GroupRecord is one record of an IGMPv3 report. Aux data is skipped.
type GroupRecord struct {
	Type    RecordType
	Group   netip.Addr
	Sources []netip.Addr
}

// Message is one decoded, validated IGMP message with the addressing the
// engine needs. Slices may alias the decoder's buffers: copy what you keep.
type Message struct {
	Kind     Kind
	IGMPType uint8 // the wire type code (0x11, 0x12, 0x16, 0x17, 0x22, ...)
	// Version is the IGMP version: queries by length and MRC (RFC 3376 §7.1),
	// 1 for 0x12 reports, 2 for 0x16 reports and 0x17 leaves, 3 for 0x22.
	Version int

	SrcMAC net.HardwareAddr
	DstMAC net.HardwareAddr
	VLAN   uint16 // 802.1Q VLAN id, 0 if untagged

	Src netip.Addr // IP source (0.0.0.0 is legal for reports, RFC 3376 §4.2.13)
	Dst netip.Addr // IP destination

	// Group is the group of a v1/v2 report or leave, or of a query
	// (unspecified for a general query).
	Group netip.Addr

	// Query fields.
	MaxResp            time.Duration // decoded Max Resp Code; a v1 query (MRC 0) counts as 10 s
	QRV                uint8         // v3 only; 0 if absent
	QueryInterval      time.Duration // v3 QQIC decoded; 0 if absent
	SuppressRouterSide bool          // v3 S flag
	Sources            []netip.Addr  // v3 group-and-source-specific query sources

	// Records of an IGMPv3 report, unknown record types dropped (RFC 3376 §4.2.12).
	Records []GroupRecord
}

// IsGeneralQuery reports whether m is a general query (group 0.0.0.0).
func (m *Message) IsGeneralQuery() bool {
	return m.Kind == KindQuery && (!m.Group.IsValid() || m.Group.IsUnspecified())
}
