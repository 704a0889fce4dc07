package wire

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"
)

// IGMP message types (RFC 3376 §4, RFC 2236 §2.1, RFC 1112 appendix I,
// RFC 4286 §3-§5).
const (
	TypeQuery          uint8 = 0x11
	TypeReportV1       uint8 = 0x12
	TypeReportV2       uint8 = 0x16
	TypeLeave          uint8 = 0x17
	TypeReportV3       uint8 = 0x22
	TypeMRDAdvert      uint8 = 0x30
	TypeMRDSolicit     uint8 = 0x31
	TypeMRDTermination uint8 = 0x32
)

// ICMPv6 types of MLD (RFC 2710 §3, RFC 3810 §5) and MRD (RFC 4286), and
// the PIM hello type (RFC 7761 §4.9).
const (
	TypeMLDQuery        uint8 = 130
	TypeMLDReportV1     uint8 = 131
	TypeMLDDone         uint8 = 132
	TypeMLDReportV2     uint8 = 143
	TypeMRDAdvert6      uint8 = 151
	TypeMRDSolicit6     uint8 = 152
	TypeMRDTermination6 uint8 = 153
	TypePIMHello        uint8 = 0
)

// Protocol numbers and message layout for MLD, MRD and PIM.
const (
	ipProtoPIM               = 103
	ipProtoICMPv6            = 58
	ethTypeIPv4       uint16 = 0x0800
	ethTypeIPv6       uint16 = 0x86dd
	ethTypeDot1Q      uint16 = 0x8100
	ipv6HeaderLen            = 40
	maxIPv6ExtHeaders        = 8  // a sane bound; MLD needs one (Hop-by-Hop)
	routerAlertMLD    uint16 = 0  // RFC 2711 Router Alert value for MLD
	mldMinLen                = 24 // MLDv1 messages and the MLDv1 query
	mldV2QueryMinLen         = 28
	mrdShortLen              = 4 // MRD solicitation and termination
	mrdAdvertLen             = 8
	pimHeaderLen             = 4
	pimV2Hello        uint8  = 2<<4 | TypePIMHello // version 2, type hello
)

// Well-known destinations (RFC 3376 §4.1.12, §4.2.14; RFC 2236 §3).
var (
	AllSystems    = netip.AddrFrom4([4]byte{224, 0, 0, 1})   // general queries
	AllRouters    = netip.AddrFrom4([4]byte{224, 0, 0, 2})   // v2 leaves, MRD solicitations
	IGMPv3Routers = netip.AddrFrom4([4]byte{224, 0, 0, 22})  // v3 reports
	AllPIMRouters = netip.AddrFrom4([4]byte{224, 0, 0, 13})  // PIM hellos (RFC 7761 §4.9)
	AllSnoopers   = netip.AddrFrom4([4]byte{224, 0, 0, 106}) // MRD advertisements, terminations (RFC 4286)
)

// Well-known IPv6 destinations (RFC 3810 §5.1.15, §5.2.14; RFC 2710 §3;
// RFC 7761 §4.9; RFC 4286).
var (
	AllNodes       = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x01}) // general queries
	AllRouters6    = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x02}) // MLDv1 done, MRD solicitations
	MLDv2Routers   = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x16}) // MLDv2 reports
	AllPIMRouters6 = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x0d}) // PIM hellos
	AllSnoopers6   = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x6a}) // MRD advertisements, terminations
)

// v1QueryMaxResp is what an IGMPv1 query (MRC 0) means: hosts answer within
// 10 s (RFC 2236 §4, RFC 3376 §7.1).
const v1QueryMaxResp = 10 * time.Second

const (
	ipProtoIGMP     = 2
	ipOptRouterAlrt = 0x94 // RFC 2113: copied flag + option 20
)

// The decoder's refusals, built once (see Refusal).
var (
	errShortEthernet  = refuse(ReasonTruncated, "ethernet header")
	errShortTag       = refuse(ReasonTruncated, "802.1Q tag")
	errShortIP        = refuse(ReasonTruncated, "IPv4 header")
	errIPBeyondFrame  = refuse(ReasonTruncated, "IPv4 total length beyond frame")
	errShortIGMP      = refuse(ReasonTruncated, "IGMP message shorter than 8 bytes")
	errShortMRD       = refuse(ReasonTruncated, "MRD advertisement shorter than 8 bytes")
	errQuerySources   = refuse(ReasonTruncated, "query source count beyond message")
	errNotIP          = refuse(ReasonNotIP, "neither IPv4 nor IPv6")
	errNotIGMP        = refuse(ReasonNotIGMP, "IP protocol is neither IGMP nor PIM")
	errIPVersion      = refuse(ReasonBadIPHeader, "IP version is not 4")
	errIPIHL          = refuse(ReasonBadIPHeader, "IPv4 header length below 20")
	errIPTotalLen     = refuse(ReasonBadIPHeader, "IPv4 total length below header length")
	errIPOptions      = refuse(ReasonBadIPHeader, "malformed IPv4 options")
	errIPChecksum     = refuse(ReasonBadIPChecksum, "")
	errFragment       = refuse(ReasonFragment, "")
	errIPSource       = refuse(ReasonBadSource, "IPv4 source multicast, broadcast, class E or loopback")
	errIGMPChecksum   = refuse(ReasonBadIGMPChecksum, "")
	errQueryLength    = refuse(ReasonBadQueryLength, "query neither 8 nor at least 12 bytes")
	errRecordHeader   = refuse(ReasonBadRecord, "record header beyond message")
	errRecordLength   = refuse(ReasonBadRecord, "record sources or aux data beyond message")
	errQueryGroup     = refuse(ReasonBadGroup, "query group neither 0 nor multicast")
	errReportGroup    = refuse(ReasonBadGroup, "report group not multicast")
	errLeaveGroup     = refuse(ReasonBadGroup, "leave group not multicast")
	errRecordGroup    = refuse(ReasonBadGroup, "record group not multicast")
	errGeneralDst     = refuse(ReasonBadDestination, "general query not sent to 224.0.0.1")
	errMRDDst         = refuse(ReasonBadDestination, "MRD advertisement or termination not sent to 224.0.0.106")
	errMRDTTL         = refuse(ReasonBadHopLimit, "MRD message with IPv4 TTL other than 1")
	errSourceMAC      = refuse(ReasonBadSourceMAC, "multicast or zero source MAC")
	errGeneralSources = refuse(ReasonBadSources, "general query with sources")
	errShortPIM       = refuse(ReasonTruncated, "PIM header")
	errNotPIMHello    = refuse(ReasonNotPIMHello, "")
	errPIMChecksum    = refuse(ReasonBadPIMChecksum, "")
	errPIMDst         = refuse(ReasonBadDestination, "PIM hello not sent to ALL-PIM-ROUTERS")

	errPIMOptionHeader   = refuse(ReasonTruncated, "PIM hello option header beyond message")
	errPIMOptionLength   = refuse(ReasonTruncated, "PIM hello option length beyond message")
	errPIMHoldtimeLength = refuse(ReasonBadPIMOption, "PIM Holdtime option length not 2")
)

// Decoder decodes and validates frames without allocating; it holds no
// state from one frame that can show in the next. A Decoder is not safe for
// concurrent use: give each reading goroutine its own.
//
// The Ethernet, 802.1Q and IPv4 headers are parsed here rather than with
// gopacket's layers: they are a few fixed fields, the snooper checks them
// more strictly than gopacket does anyway, and a frame is read once
// instead of twice (gopacket's layers cost as much as the whole validated
// decode of a report).
type Decoder struct {
	// ND makes the decoder decode neighbour discovery (RFC 4861: router
	// and neighbour solicitations and advertisements) as KindND, validated
	// as hosts validate it, rather than refuse it as not MLD. The daemon
	// sets it for frames from ports whose guests it learns from their ND.
	ND bool

	// What the last IPv6 extension-header walk saw; reset by each walk.
	hopByHop    bool // a Hop-by-Hop header
	routerAlert bool // a Router Alert option in it, whatever its value
}

// NewDecoder returns a reusable Decoder.
func NewDecoder() *Decoder { return &Decoder{} }

// Decode is a convenience for one-off use: it decodes a private copy of
// frame into a fresh Message that shares no memory with anything, so it is
// safe to keep.
func Decode(frame []byte) (*Message, error) {
	m := new(Message)
	if err := NewDecoder().Decode(append([]byte(nil), frame...), m); err != nil {
		return nil, err
	}
	return m, nil
}

// Decode decodes and validates one Ethernet frame (without FCS) into m,
// which it resets first: IGMP, PIM hellos and MRD over IPv4; MLD, PIM
// hellos and MRD over IPv6; optionally behind one 802.1Q tag. It reuses
// m's Sources and Records backing arrays, and m.SrcMAC/DstMAC alias frame:
// use Message.Clone to keep a message past the next call or past the frame
// buffer's reuse. On refusal it returns a
// *Refusal and m is left partly filled and must not be used.
func (d *Decoder) Decode(frame []byte, m *Message) error {
	m.reset()

	if len(frame) < ethLen {
		return errShortEthernet
	}
	m.DstMAC, m.SrcMAC = net.HardwareAddr(frame[0:6:6]), net.HardwareAddr(frame[6:12:12])
	etype, payload := binary.BigEndian.Uint16(frame[12:14]), frame[ethLen:]
	if etype == ethTypeDot1Q {
		// One tag only: a second 0x8100 or an 802.1ad S-tag falls through to
		// "not IPv4", as the bridge would not treat it as IP either.
		if len(payload) < tagLen {
			return errShortTag
		}
		m.VLAN = binary.BigEndian.Uint16(payload[0:2]) & 0x0fff
		etype, payload = binary.BigEndian.Uint16(payload[2:4]), payload[tagLen:]
	}
	// An 802.3 length (below 0x600) in place of an EtherType is LLC: not IP.
	switch etype {
	case ethTypeIPv4:
		return d.decode4(payload, m)
	case ethTypeIPv6:
		return d.decode6(payload, m)
	}
	return errNotIP
}

// decode4 decodes an IPv4 packet carrying IGMP or PIM.
func (d *Decoder) decode4(b []byte, m *Message) error {
	p, err := d.decodeIPv4(b, m)
	if err != nil {
		return err
	}
	if b[9] == ipProtoPIM {
		return decodePIM(p, m)
	}
	// Checked only once the frame is known to be snooped, so that other
	// traffic is counted as not_igmp whatever its source.
	if !validSourceMAC(m.SrcMAC) {
		return errSourceMAC
	}
	return decodeIGMP(p, m)
}

// reset clears m but keeps its slices' backing arrays, and the record
// Sources arrays within them, for reuse.
func (m *Message) reset() {
	srcs, recs := m.Sources[:0], m.Records[:0]
	*m = Message{Sources: srcs, Records: recs}
}

func validSourceMAC(mac []byte) bool {
	return mac[0]&1 == 0 && (mac[0]|mac[1]|mac[2]|mac[3]|mac[4]|mac[5]) != 0
}

// decodeIPv4 validates the IPv4 header of an IGMP or PIM packet, fills m's
// IP fields and returns the IP payload, trimmed to the IP total length.
func (d *Decoder) decodeIPv4(b []byte, m *Message) ([]byte, error) {
	// Stricter than gopacket's IPv4 decoder, which reads total length 0
	// as "TSO, use the buffer" and only flags a truncated packet.
	if len(b) < 20 {
		return nil, errShortIP
	}
	if b[0]>>4 != 4 {
		return nil, errIPVersion
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return nil, errIPIHL
	}
	if b[9] != ipProtoIGMP && b[9] != ipProtoPIM {
		return nil, errNotIGMP
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < ihl {
		return nil, errIPTotalLen
	}
	if total > len(b) {
		return nil, errIPBeyondFrame
	}
	b = b[:total] // drop Ethernet padding (and anything else past the packet)
	if Checksum(b[:ihl]) != 0 {
		return nil, errIPChecksum
	}
	ra, ok := ipv4RouterAlert(b[20:ihl])
	if !ok {
		return nil, errIPOptions
	}
	// The More Fragments flag, or a fragment offset.
	if binary.BigEndian.Uint16(b[6:8])&(ipFlagMF|ipFragOffset) != 0 {
		return nil, errFragment
	}
	if impossibleSource(b[12:16]) {
		return nil, errIPSource
	}
	m.Src = netip.AddrFrom4([4]byte(b[12:16]))
	m.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	m.TTL = b[8]
	m.RouterAlert = ra
	return b[ihl:], nil
}

// IPv4 flags and fragment offset (RFC 791 §3.1), in the 16-bit word at
// offset 6.
const (
	ipFlagMF     = 0x2000
	ipFragOffset = 0x1fff
)

// ipv4RouterAlert walks IPv4 options (RFC 791 §3.1) and reports whether a
// Router Alert (RFC 2113) is among them, and false ok for malformed
// options: a length below 2 or beyond the header. End of Option List ends
// the walk; what follows it is padding.
func ipv4RouterAlert(o []byte) (ra, ok bool) {
	for len(o) > 0 {
		switch o[0] {
		case 0: // End of Option List
			return ra, true
		case 1: // No Operation
			o = o[1:]
			continue
		}
		if len(o) < 2 {
			return false, false
		}
		n := int(o[1])
		if n < 2 || n > len(o) {
			return false, false
		}
		if o[0] == ipOptRouterAlrt {
			ra = true
		}
		o = o[n:]
	}
	return ra, true
}

// impossibleSource tells whether an IPv4 source address can never send:
// multicast, class E (broadcast included) and loopback, which a router
// drops at IP input (RFC 1812 §5.3.7). 0.0.0.0 is legal for reports
// (RFC 3376 §4.2.13).
func impossibleSource(b []byte) bool {
	return b[0] >= 224 || b[0] == 127
}

// decodeIGMP parses the IGMP message itself. gopacket's IGMP layer is not
// used: it swaps the exponent and mantissa of the v3 float codes, ignores
// its own v3 query length errors, refuses every type but 0x11 and 0x22 in
// its DecodingLayer form, keeps unknown record types and allocates per
// source.
func decodeIGMP(p []byte, m *Message) error {
	if len(p) < 8 {
		// RFC 4286 solicitations and terminations are one word long.
		if len(p) < mrdShortLen || (p[0] != TypeMRDSolicit && p[0] != TypeMRDTermination) {
			return errShortIGMP
		}
	}
	// The checksum covers the whole IP payload, extra octets included
	// (RFC 2236 §2.3, RFC 3376 §4.1.2).
	if Checksum(p) != 0 {
		return errIGMPChecksum
	}
	m.Proto, m.IGMPType = IGMP, p[0]
	switch p[0] {
	case TypeQuery:
		return decodeQuery(p, m)
	case TypeReportV1:
		m.Kind, m.Version = KindReport, 1
		return decodeGroup(p, m, errReportGroup)
	case TypeReportV2:
		m.Kind, m.Version = KindReport, 2
		return decodeGroup(p, m, errReportGroup)
	case TypeLeave:
		m.Kind, m.Version = KindLeave, 2
		return decodeGroup(p, m, errLeaveGroup)
	case TypeReportV3:
		m.Kind, m.Version = KindReportV3, 3
		return decodeRecords(p, m, 4)
	case TypeMRDAdvert, TypeMRDTermination:
		return decodeMRD(p, m)
	}
	// mtrace, DVMRP, PIMv1, MRD solicitations, ...: flooded, not
	// interpreted (RFC 4541 C4). Solicitations are for routers to answer.
	m.Kind = KindOther
	return nil
}

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

func isMulticast(b []byte) bool { return b[0]&0xf0 == 0xe0 }

var zero4 [4]byte

func isZero(b []byte) bool { return b[0]|b[1]|b[2]|b[3] == 0 }

func decodeGroup(p []byte, m *Message, bad *Refusal) error {
	if !isMulticast(p[4:8]) {
		return bad
	}
	m.Group = addr4(p[4:8])
	return nil
}

func decodeQuery(p []byte, m *Message) error {
	m.Kind = KindQuery
	mrc, group := p[1], p[4:8]
	// RFC 3376 §7.1: the version is told by length, and for 8 octets by
	// the code. (If chains rather than a switch here and below: coverage
	// tools see a case's condition as outside every block.)
	if len(p) == 8 && mrc == 0 {
		// RFC 1112: a v1 query's group field is unused and ignored on
		// receipt (Linux zeroes it too), so it is always general.
		m.Version, m.MaxResp = 1, v1QueryMaxResp
		group = zero4[:]
	} else if len(p) == 8 {
		// The v2 Max Resp Time is linear in tenths (RFC 2236 §2.2).
		m.Version, m.MaxResp = 2, time.Duration(mrc)*MaxRespUnit
	} else if len(p) >= 12 {
		m.Version = 3
		m.MaxResp = DecodeCode(mrc, MaxRespUnit)
		m.SuppressRouterSide = p[8]&0x08 != 0
		m.QRV = p[8] & 0x07
		m.QueryInterval = DecodeCode(p[9], QueryIntervalUnit)
	} else {
		// RFC 3376 §7.1: any other length MUST be ignored.
		return errQueryLength
	}
	general := isZero(group)
	if !general && !isMulticast(group) {
		return errQueryGroup
	}
	if general && m.Dst != AllSystems {
		return errGeneralDst
	}
	m.Group = addr4(group)
	if m.Version != 3 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(p[10:12]))
	if 12+4*n > len(p) {
		return errQuerySources
	}
	if general && n > 0 {
		return errGeneralSources
	}
	for i := 0; i < n; i++ {
		m.Sources = append(m.Sources, addr4(p[12+4*i:]))
	}
	return nil
}

// decodeRecords parses the group records of an IGMPv3 (alen 4) or MLDv2
// (alen 16) report, which share one layout: the record count at offset 6,
// records from offset 8 (RFC 3376 §4.2, RFC 3810 §5.2).
func decodeRecords(p []byte, m *Message, alen int) error {
	n := int(binary.BigEndian.Uint16(p[6:8]))
	off := 8
	for range n {
		if off+4+alen > len(p) {
			return errRecordHeader
		}
		typ := RecordType(p[off])
		aux := 4 * int(p[off+1]) // Aux Data Len counts 32-bit words
		ns := int(binary.BigEndian.Uint16(p[off+2 : off+4]))
		start := off + 4 + alen
		end := start + alen*ns + aux
		if end > len(p) {
			return errRecordLength
		}
		// Unknown record types are skipped, the rest still processed
		// (RFC 3376 §4.2.12, RFC 3810 §5.2.12); OVS stopped at the first one.
		if typ < ModeIsInclude || typ > BlockOldSources {
			m.SkippedRecords++
		} else {
			group := p[off+4 : start]
			if !isMulticastBytes(group) {
				return errRecordGroup
			}
			r := m.nextRecord()
			r.Type, r.Group = typ, addrOf(group)
			for i := 0; i < ns; i++ {
				r.Sources = append(r.Sources, addrOf(p[start+alen*i:start+alen*(i+1)]))
			}
		}
		off = end
	}
	return nil
}

// addrOf returns the IPv4 (4 bytes) or IPv6 (16 bytes) address in b.
func addrOf(b []byte) netip.Addr {
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.AddrFrom16([16]byte(b))
}

// isMulticastBytes reports whether the IPv4 or IPv6 address in b is
// multicast (224.0.0.0/4 or ff00::/8).
func isMulticastBytes(b []byte) bool {
	if len(b) == 4 {
		return isMulticast(b)
	}
	return b[0] == 0xff
}

// nextRecord appends a record to m.Records, reusing a previous record's
// Sources array when the backing array already holds one.
func (m *Message) nextRecord() *GroupRecord {
	if len(m.Records) < cap(m.Records) {
		m.Records = m.Records[:len(m.Records)+1]
		r := &m.Records[len(m.Records)-1]
		*r = GroupRecord{Sources: r.Sources[:0]}
		return r
	}
	m.Records = append(m.Records, GroupRecord{})
	return &m.Records[len(m.Records)-1]
}
