package wire

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// IGMP message types (RFC 3376 §4, RFC 2236 §2.1, RFC 1112 appendix I).
const (
	TypeQuery    uint8 = 0x11
	TypeReportV1 uint8 = 0x12
	TypeReportV2 uint8 = 0x16
	TypeLeave    uint8 = 0x17
	TypeReportV3 uint8 = 0x22
)

// Well-known destinations (RFC 3376 §4.1.12, §4.2.14; RFC 2236 §3).
var (
	AllSystems    = netip.AddrFrom4([4]byte{224, 0, 0, 1})  // general queries
	AllRouters    = netip.AddrFrom4([4]byte{224, 0, 0, 2})  // v2 leaves
	IGMPv3Routers = netip.AddrFrom4([4]byte{224, 0, 0, 22}) // v3 reports
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
	errQuerySources   = refuse(ReasonTruncated, "query source count beyond message")
	errNotIPv4        = refuse(ReasonNotIGMP, "not IPv4")
	errNotIGMP        = refuse(ReasonNotIGMP, "IP protocol is not IGMP")
	errIPVersion      = refuse(ReasonBadIPHeader, "IP version is not 4")
	errIPIHL          = refuse(ReasonBadIPHeader, "IPv4 header length below 20")
	errIPTotalLen     = refuse(ReasonBadIPHeader, "IPv4 total length below header length")
	errIPOptions      = refuse(ReasonBadIPHeader, "malformed IPv4 options")
	errIPChecksum     = refuse(ReasonBadIPChecksum, "")
	errFragment       = refuse(ReasonFragment, "")
	errIGMPChecksum   = refuse(ReasonBadIGMPChecksum, "")
	errQueryLength    = refuse(ReasonBadQueryLength, "query neither 8 nor at least 12 bytes")
	errRecordHeader   = refuse(ReasonBadRecord, "record header beyond message")
	errRecordLength   = refuse(ReasonBadRecord, "record sources or aux data beyond message")
	errQueryGroup     = refuse(ReasonBadGroup, "query group neither 0 nor multicast")
	errReportGroup    = refuse(ReasonBadGroup, "report group not multicast")
	errLeaveGroup     = refuse(ReasonBadGroup, "leave group not multicast")
	errRecordGroup    = refuse(ReasonBadGroup, "record group not multicast")
	errGeneralDst     = refuse(ReasonBadDestination, "general query not sent to 224.0.0.1")
	errSourceMAC      = refuse(ReasonBadSourceMAC, "multicast or zero source MAC")
	errGeneralSources = refuse(ReasonBadSources, "general query with sources")
)

// Decoder decodes and validates frames. It keeps gopacket's layer structs
// between calls so steady-state decoding does not allocate; it holds no
// state from one frame that can show in the next. A Decoder is not safe for
// concurrent use: give each reading goroutine its own.
type Decoder struct {
	eth layers.Ethernet
	tag layers.Dot1Q
	ip  layers.IPv4
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
// which it resets first. It reuses m's Sources and Records backing arrays,
// and m.SrcMAC/DstMAC alias frame: use Message.Clone to keep a message past
// the next call or past the frame buffer's reuse. On refusal it returns a
// *Refusal and m is left partly filled and must not be used.
func (d *Decoder) Decode(frame []byte, m *Message) error {
	m.reset()

	if err := d.eth.DecodeFromBytes(frame, gopacket.NilDecodeFeedback); err != nil {
		return errShortEthernet
	}
	m.DstMAC, m.SrcMAC = d.eth.DstMAC, d.eth.SrcMAC
	etype, payload := d.eth.EthernetType, d.eth.Payload
	if etype == layers.EthernetTypeDot1Q {
		// One tag only: a second 0x8100 or an 802.1ad S-tag falls through to
		// "not IPv4", as the bridge would not treat it as IP either.
		if err := d.tag.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			return errShortTag
		}
		m.VLAN = d.tag.VLANIdentifier
		etype, payload = d.tag.Type, d.tag.Payload
	}
	if etype != layers.EthernetTypeIPv4 {
		return errNotIPv4
	}
	igmp, err := d.decodeIPv4(payload, m)
	if err != nil {
		return err
	}
	// Checked only once the frame is known to be IGMP, so that other
	// traffic is counted as not_igmp whatever its source.
	if !validSourceMAC(m.SrcMAC) {
		return errSourceMAC
	}
	return decodeIGMP(igmp, m)
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

// decodeIPv4 validates the IPv4 header, fills m's IP fields and returns the
// IP payload, trimmed to the IP total length.
func (d *Decoder) decodeIPv4(b []byte, m *Message) ([]byte, error) {
	// gopacket's IPv4 decoder is lenient where a snooper must not be: it
	// reads total length 0 as "TSO, use the buffer" and only flags a
	// truncated packet. So the fixed header is checked here, and gopacket
	// parses the options.
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
	if b[9] != ipProtoIGMP {
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
	if checksum(b[:ihl]) != 0 {
		return nil, errIPChecksum
	}
	ip := &d.ip
	if err := ip.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return nil, errIPOptions
	}
	if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		return nil, errFragment
	}
	m.Src = netip.AddrFrom4([4]byte(ip.SrcIP))
	m.Dst = netip.AddrFrom4([4]byte(ip.DstIP))
	m.TTL = ip.TTL
	for _, o := range ip.Options {
		if o.OptionType == ipOptRouterAlrt {
			m.RouterAlert = true
		}
	}
	return ip.Payload, nil
}

// decodeIGMP parses the IGMP message itself. gopacket's IGMP layer is not
// used: it swaps the exponent and mantissa of the v3 float codes, ignores
// its own v3 query length errors, refuses every type but 0x11 and 0x22 in
// its DecodingLayer form, keeps unknown record types and allocates per
// source.
func decodeIGMP(p []byte, m *Message) error {
	if len(p) < 8 {
		return errShortIGMP
	}
	// The checksum covers the whole IP payload, extra octets included
	// (RFC 2236 §2.3, RFC 3376 §4.1.2).
	if checksum(p) != 0 {
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
		return decodeRecords(p, m)
	}
	// mtrace, DVMRP, PIMv1, MRD, ...: flooded, not interpreted (RFC 4541 C4).
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
	switch {
	case len(p) == 8 && mrc == 0:
		// RFC 1112: a v1 query's group field is unused and ignored on
		// receipt (Linux zeroes it too), so it is always general.
		m.Version, m.MaxResp = 1, v1QueryMaxResp
		group = zero4[:]
	case len(p) == 8:
		// The v2 Max Resp Time is linear in tenths (RFC 2236 §2.2).
		m.Version, m.MaxResp = 2, time.Duration(mrc)*MaxRespUnit
	case len(p) >= 12:
		m.Version = 3
		m.MaxResp = DecodeCode(mrc, MaxRespUnit)
		m.SuppressRouterSide = p[8]&0x08 != 0
		m.QRV = p[8] & 0x07
		m.QueryInterval = DecodeCode(p[9], QueryIntervalUnit)
	default:
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

func decodeRecords(p []byte, m *Message) error {
	n := int(binary.BigEndian.Uint16(p[6:8]))
	off := 8
	for range n {
		if off+8 > len(p) {
			return errRecordHeader
		}
		typ := RecordType(p[off])
		aux := 4 * int(p[off+1]) // Aux Data Len counts 32-bit words
		ns := int(binary.BigEndian.Uint16(p[off+2 : off+4]))
		end := off + 8 + 4*ns + aux
		if end > len(p) {
			return errRecordLength
		}
		// Unknown record types are skipped, the rest still processed
		// (RFC 3376 §4.2.12); OVS stopped at the first one.
		if typ >= ModeIsInclude && typ <= BlockOldSources {
			group := p[off+4 : off+8]
			if !isMulticast(group) {
				return errRecordGroup
			}
			r := m.nextRecord()
			r.Type, r.Group = typ, addr4(group)
			for i := 0; i < ns; i++ {
				r.Sources = append(r.Sources, addr4(p[off+8+4*i:]))
			}
		}
		off = end
	}
	return nil
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
