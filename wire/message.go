package wire

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Kind is what a decoded message is, independent of its protocol and wire
// type code.
type Kind uint8

// Message kinds, shared by IGMP and MLD. KindOther is an IGMP type a
// snooper does not interpret (DVMRP, mtrace, PIMv1, MRD solicitation, ...)
// or an MRD solicitation over ICMPv6: RFC 4541 C4 says to flood it, not
// drop it. Other ICMPv6 types are not MLD at all and are refused
// (ReasonNotMLD).
const (
	KindQuery    Kind = iota + 1 // membership query, any version (IGMP 0x11, MLD 130)
	KindReport                   // IGMPv1/v2 report or MLDv1 report for Message.Group
	KindLeave                    // IGMPv2 leave or MLDv1 done for Message.Group
	KindReportV3                 // IGMPv3 or MLDv2 report carrying Message.Records
	KindOther                    // any other IGMP type or ICMPv6 MRD solicitation, see Message.IGMPType
	// KindPIMHello is a PIMv2 hello (RFC 7761 §4.9.2): a multicast router
	// is behind the port even if it is not the querier.
	KindPIMHello
	// KindMRDAdvert is a Multicast Router Discovery advertisement
	// (RFC 4286 §3: IGMP 0x30, ICMPv6 151); AdvertInterval is set.
	KindMRDAdvert
	// KindMRDTermination is an MRD termination (IGMP 0x32, ICMPv6 153):
	// the router behind the port is going away.
	KindMRDTermination
	// KindND is a neighbour discovery message (ICMPv6 133-136, RFC 4861),
	// decoded only when Decoder.ND asks for it: it shows which addresses
	// its sender holds (NDAddresses). IGMPType is its ICMPv6 type, Target
	// the target of a solicitation or advertisement.
	KindND
)

// Protocol is the membership protocol of a message.
type Protocol uint8

// Protocols. A PIM hello or MRD message carries the protocol of its
// address family (IGMP for IPv4, MLD for IPv6).
const (
	IGMP Protocol = iota + 1
	MLD
)

func (p Protocol) String() string {
	switch p {
	case IGMP:
		return "igmp"
	case MLD:
		return "mld"
	}
	return "unknown"
}

// String returns the kind's name, as used in logs and counters.
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
	case KindPIMHello:
		return "pim_hello"
	case KindMRDAdvert:
		return "mrd_advert"
	case KindMRDTermination:
		return "mrd_termination"
	case KindND:
		return "nd"
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

// String returns the RFC 3376 short name (IS_IN, TO_EX, ...).
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

// GroupRecord is one record of an IGMPv3 or MLDv2 report. Aux data is
// skipped.
type GroupRecord struct {
	Type    RecordType
	Group   netip.Addr
	Sources []netip.Addr
}

// Message is one decoded, validated IGMP, MLD, PIM hello or MRD message
// with the addressing the engine needs. Slices may alias the decoder's buffers: copy what you keep.
type Message struct {
	Kind  Kind
	Proto Protocol
	// IGMPType is the wire type code: IGMP (0x11, 0x12, 0x16, 0x17, 0x22,
	// ...), ICMPv6 for MLD (130, 131, 132, 143, ...), or the PIM type.
	IGMPType uint8
	// Version is the protocol's own version: for IGMP queries by length
	// and MRC (RFC 3376 §7.1), 1 for 0x12 reports, 2 for 0x16 reports and
	// 0x17 leaves, 3 for 0x22; for MLD 1 (24-byte query, 131, 132) or 2
	// (query of 28 bytes or more, 143). See Generation to compare them.
	Version int

	// AdvertInterval is the MRD advertisement interval (KindMRDAdvert),
	// whose QueryInterval and QRV carry the advertised Query Interval and
	// Robustness Variable (RFC 4286 §3; 0 when IGMP/MLD is off, QRV
	// saturated at 255).
	AdvertInterval time.Duration

	// Holdtime is a PIM hello's Holdtime option (RFC 7761 §4.9.2) when
	// HasHoldtime is set: how long the router stays a neighbor. 0 is a
	// goodbye (the router is going away); 0xffff, never time out, is
	// HoldtimeForever. A hello without the option leaves HasHoldtime
	// unset: use DefaultPIMHoldtime.
	Holdtime    time.Duration
	HasHoldtime bool

	SrcMAC net.HardwareAddr
	DstMAC net.HardwareAddr
	VLAN   uint16 // 802.1Q VLAN id, 0 if untagged or priority-tagged (VID 0)

	Src netip.Addr // IP source (0.0.0.0 or :: is legal for reports, RFC 3376 §4.2.13, RFC 4541 M4)
	Dst netip.Addr // IP destination

	// TTL (the IPv6 Hop Limit) and RouterAlert are reported, and for IGMP
	// and PIM not enforced: no IGMP RFC requires a receiver to drop
	// TTL != 1, and IGMPv1 hosts send no Router Alert (RFC 3376 §9.2).
	// MLD requires both (RFC 3810 §5: Hop Limit 1, Router Alert value 0 in
	// a Hop-by-Hop header) and MRD a TTL or Hop Limit of 1 (RFC 4286): the
	// decoder refuses messages without them.
	TTL         uint8
	RouterAlert bool // the IPv4 Router Alert option (RFC 2113), or an IPv6 one with the MLD value 0 (RFC 2711)

	// Target is the target address of a neighbour solicitation or
	// advertisement (KindND).
	Target netip.Addr

	// Group is the group of an IGMPv1/v2 or MLDv1 report, leave or done,
	// or of a query (0.0.0.0 or :: for a general query).
	Group netip.Addr

	// Query fields. "v3" means IGMPv3 or MLDv2 (Generation 3).
	MaxResp            time.Duration // decoded Max Resp Code; an IGMPv1 query (MRC 0) counts as 10 s
	QRV                uint8         // v3 (and MRD) only; 0 if absent
	QueryInterval      time.Duration // v3 QQIC decoded (or MRD Query Interval); 0 if absent
	SuppressRouterSide bool          // v3 S flag
	Sources            []netip.Addr  // v3 group-and-source-specific query sources

	// Records of an IGMPv3 or MLDv2 report, unknown record types dropped
	// (RFC 3376 §4.2.12, RFC 3810 §5.2.12); SkippedRecords counts those,
	// so that they can be counted, not silently lost.
	Records        []GroupRecord
	SkippedRecords int

	// Relayed is not decoded: the receiver sets it when the frame has
	// already gone to the router ports (the ingress guard relayed it), so
	// that the engine does not send it again. Decode clears it.
	Relayed bool
}

// Generation puts IGMP and MLD versions on one scale for compatibility
// rules: 1 for IGMPv1, 2 for IGMPv2 and MLDv1 (any-source, with leaves),
// 3 for IGMPv3 and MLDv2 (source filtering). It is 0 for messages without
// a membership version (PIM hellos, MRD, KindOther).
func (m *Message) Generation() int {
	if m.Version == 0 {
		return 0
	}
	if m.protocol() == MLD {
		return m.Version + 1
	}
	return m.Version
}

// protocol is m.Proto, or for a message built by hand without it, the
// protocol of its addresses' family.
func (m *Message) protocol() Protocol {
	if m.Proto != 0 {
		return m.Proto
	}
	if m.Src.Is6() || m.Group.Is6() || m.Dst.Is6() {
		return MLD
	}
	return IGMP
}

// IsGeneralQuery reports whether m is a general query (group 0.0.0.0 or ::).
func (m *Message) IsGeneralQuery() bool {
	return m.Kind == KindQuery && (!m.Group.IsValid() || m.Group.IsUnspecified())
}

// Clone returns a deep copy of m that shares no memory with the frame or the
// Decoder it came from, for callers that keep a message past the next Decode.
func (m *Message) Clone() *Message {
	c := *m
	c.SrcMAC = cloneBytes(m.SrcMAC)
	c.DstMAC = cloneBytes(m.DstMAC)
	c.Sources = cloneAddrs(m.Sources)
	c.Records = nil
	if m.Records != nil {
		c.Records = make([]GroupRecord, len(m.Records))
		for i, r := range m.Records {
			c.Records[i] = GroupRecord{Type: r.Type, Group: r.Group, Sources: cloneAddrs(r.Sources)}
		}
	}
	return &c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func cloneAddrs(a []netip.Addr) []netip.Addr {
	if a == nil {
		return nil
	}
	return append([]netip.Addr(nil), a...)
}

// String renders m on one line for logs, replay and golden tests, e.g.
//
//	10.0.0.1 > 224.0.0.1 igmp query v2 group 0.0.0.0 maxresp 10s
//	10.0.0.9 > 224.0.0.22 igmp report v3 TO_EX 239.255.255.250 {}
//	fe80::1 > ff02::16 mld report v2 IS_EX ff02::1:ff00:1 {}
//	10.0.0.2 > 224.0.0.13 pim hello
func (m *Message) String() string {
	var b strings.Builder
	if m.VLAN != 0 {
		fmt.Fprintf(&b, "vlan %d ", m.VLAN)
	}
	proto := m.protocol()
	if m.Kind == KindPIMHello {
		fmt.Fprintf(&b, "%v > %v pim hello", m.Src, m.Dst)
		return b.String()
	}
	fmt.Fprintf(&b, "%v > %v %v ", m.Src, m.Dst, proto)
	switch m.Kind {
	case KindQuery:
		fmt.Fprintf(&b, "query v%d group %v maxresp %v", m.Version, m.Group, m.MaxResp)
		if m.Generation() == 3 {
			fmt.Fprintf(&b, " qrv %d qqi %v", m.QRV, m.QueryInterval)
			if m.SuppressRouterSide {
				b.WriteString(" suppress")
			}
			if len(m.Sources) > 0 {
				b.WriteString(" sources ")
				writeAddrs(&b, m.Sources)
			}
		}
	case KindReport, KindLeave:
		fmt.Fprintf(&b, "%v v%d group %v", m.Kind, m.Version, m.Group)
	case KindReportV3:
		fmt.Fprintf(&b, "report v%d", m.Version)
		if len(m.Records) == 0 {
			b.WriteString(" no records")
		}
		for i, r := range m.Records {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, " %v %v ", r.Type, r.Group)
			writeAddrs(&b, r.Sources)
		}
		if m.SkippedRecords > 0 {
			fmt.Fprintf(&b, " (%d of unknown type skipped)", m.SkippedRecords)
		}
	case KindMRDAdvert:
		fmt.Fprintf(&b, "mrd_advert interval %v qqi %v qrv %d", m.AdvertInterval, m.QueryInterval, m.QRV)
	case KindMRDTermination:
		b.WriteString("mrd_termination")
	case KindND:
		fmt.Fprintf(&b, "nd type %d", m.IGMPType)
		if m.Target.IsValid() {
			fmt.Fprintf(&b, " target %v", m.Target)
		}
	default:
		if proto == MLD {
			fmt.Fprintf(&b, "%v type %d", m.Kind, m.IGMPType) // ICMPv6 types are decimal
		} else {
			fmt.Fprintf(&b, "%v type 0x%02x", m.Kind, m.IGMPType)
		}
	}
	return b.String()
}

func writeAddrs(b *strings.Builder, as []netip.Addr) {
	b.WriteByte('{')
	for i, a := range as {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.String())
	}
	b.WriteByte('}')
}
