package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// ErrInvalid is wrapped by every encoder error: the Query or Report asked
// for something IGMP or MLD cannot carry.
var ErrInvalid = errors.New("invalid input")

// Query describes a membership query to send. The family of Src picks the
// protocol: an IPv4 Src makes an IGMP query, an IPv6 one an MLD query, and
// Group and Sources must then be of the same family.
type Query struct {
	// Version is the protocol's own: IGMP 1, 2 or 3; MLD 1 or 2.
	Version int
	SrcMAC  net.HardwareAddr
	// Src is the IP source. For IGMP 0.0.0.0 is allowed (a proxy querier,
	// RFC 4541 §2.1.1). For MLD it must be link-local, or :: for the
	// proxy query of RFC 4541 M4 -- which hosts following RFC 3810
	// §5.1.14, Linux among them, discard.
	Src netip.Addr
	// Group is the queried group; invalid, 0.0.0.0 or :: makes a general
	// query, sent to 224.0.0.1 or ff02::1. A group-specific query is sent
	// to the group.
	Group netip.Addr
	// MaxResp is ignored for IGMPv1 (hosts use 10 s). IGMPv2 carries it in
	// tenths, up to MaxRespV2; IGMPv3 in the float code of EncodeCode.
	// MLDv1 carries milliseconds up to MaxRespMLDv1; MLDv2 the float code
	// of EncodeMLDCode. Every version rounds up to what its field can
	// carry (see EncodeCode), so hosts never get less time than asked.
	MaxResp time.Duration
	// IGMPv3 and MLDv2 only. A QRV above 7 is sent as 0, as RFC 3376
	// §4.1.6 and RFC 3810 §5.1.8 say.
	QRV                uint8
	QueryInterval      time.Duration // QQIC, rounded up to the code (AdvertisedCode)
	Sources            []netip.Addr  // group-and-source-specific query
	SuppressRouterSide bool          // S flag
	VLAN               uint16        // 802.1Q VLAN id to tag with; 0 = untagged
}

// Report describes a membership report or leave to send. As for Query,
// the family of Src picks IGMP or MLD.
type Report struct {
	// Version is the protocol's own: IGMP 1, 2 or 3; MLD 1 or 2.
	Version int
	// Leave asks for an IGMPv2 Leave Group (0x17) to 224.0.0.2, or an
	// MLDv1 Done (132) to ff02::2.
	Leave  bool
	SrcMAC net.HardwareAddr
	// Src is the IP source: 0.0.0.0 is allowed for IGMP (RFC 3376
	// §4.2.13); for MLD a link-local address or :: (RFC 3810 §5.2.13).
	Src     netip.Addr
	Group   netip.Addr // IGMPv1/v2, MLDv1: the group reported or left; unset for IGMPv3, MLDv2
	Records []GroupRecord
	VLAN    uint16 // 802.1Q VLAN id to tag with; 0 = untagged
}

// Frame layout of everything the encoders build.
const (
	ethLen      = 14
	tagLen      = 4
	ipHeaderLen = 24 // 20 + Router Alert
	maxIPLen    = 0xffff
)

// EncodeQuery builds a complete Ethernet frame carrying q: an IGMP query
// for an IPv4 q.Src, an MLD query for an IPv6 one.
func EncodeQuery(q Query) ([]byte, error) { return AppendQuery(nil, q) }

// AppendQuery is EncodeQuery appending to b, so a sender can reuse a buffer.
func AppendQuery(b []byte, q Query) ([]byte, error) {
	if q.Src.Is6() {
		return appendMLDQuery(b, q)
	}
	general := !q.Group.IsValid() || q.Group == netip.IPv4Unspecified()
	if err := checkFrame(q.SrcMAC, q.Src, q.VLAN); err != nil {
		return b, fmt.Errorf("query: %w", err)
	}
	if !general && !isMulticastAddr(q.Group) {
		return b, fmt.Errorf("query: group %v is not an IPv4 multicast address: %w", q.Group, ErrInvalid)
	}
	dst := AllSystems
	if !general {
		dst = q.Group
	}
	var mrc uint8
	switch q.Version {
	case 1:
		if !general {
			return b, fmt.Errorf("query: IGMPv1 has no group-specific query: %w", ErrInvalid)
		}
	case 2:
		// 0 would turn it into a v1 query (RFC 3376 §7.1); anything
		// positive rounds up to at least one tenth.
		if q.MaxResp <= 0 || q.MaxResp > MaxRespV2 {
			return b, fmt.Errorf("query: IGMPv2 max response %v not above 0 and at most %v (RFC 2236 §2.2): %w", q.MaxResp, MaxRespV2, ErrInvalid)
		}
		mrc = uint8(ceilDiv(q.MaxResp, MaxRespUnit))
	case 3:
		if q.MaxResp < 0 || q.MaxResp > MaxCode(MaxRespUnit) {
			return b, fmt.Errorf("query: v3 max response %v outside 0-%v: %w", q.MaxResp, MaxCode(MaxRespUnit), ErrInvalid)
		}
		if err := checkV3Query(q, general, igmpRecords); err != nil {
			return b, err
		}
		mrc = EncodeCode(q.MaxResp, MaxRespUnit)
	default:
		return b, fmt.Errorf("query: version %d not 1, 2 or 3: %w", q.Version, ErrInvalid)
	}
	if q.Version < 3 && (q.QRV != 0 || q.QueryInterval != 0 || len(q.Sources) > 0 || q.SuppressRouterSide) {
		return b, fmt.Errorf("query: QRV, query interval, sources and S flag need version 3: %w", ErrInvalid)
	}

	n := 8
	if q.Version == 3 {
		n = 12 + 4*len(q.Sources) // checkV3Query bounded the sources
	}
	b, p := appendHeaders(b, q.SrcMAC, q.VLAN, q.Src, dst, n)
	p[0], p[1] = TypeQuery, mrc
	copy(p[4:8], ip4(q.Group))
	if q.Version == 3 {
		putV3QueryTail(p[8:], q)
	}
	binary.BigEndian.PutUint16(p[2:4], Checksum(p))
	return b, nil
}

// EncodeReport builds a complete Ethernet frame carrying r. For IGMP: a v1
// (0x12) or v2 (0x16) report to the group, a v2 leave (0x17) to 224.0.0.2,
// or a v3 report (0x22) to 224.0.0.22. For MLD: a v1 report (131) to the
// group, a done (132) to ff02::2, or a v2 report (143) to ff02::16.
func EncodeReport(r Report) ([]byte, error) { return AppendReport(nil, r) }

// AppendReport is EncodeReport appending to b.
func AppendReport(b []byte, r Report) ([]byte, error) {
	if r.Src.Is6() {
		return appendMLDReport(b, r)
	}
	if err := checkFrame(r.SrcMAC, r.Src, r.VLAN); err != nil {
		return b, fmt.Errorf("report: %w", err)
	}
	var typ uint8
	dst := r.Group
	switch r.Version {
	case 1, 2:
		typ = TypeReportV1
		if r.Version == 2 {
			typ = TypeReportV2
		}
		if r.Leave {
			if r.Version == 1 {
				return b, fmt.Errorf("report: IGMPv1 has no leave: %w", ErrInvalid)
			}
			typ, dst = TypeLeave, AllRouters
		}
		if !isMulticastAddr(r.Group) {
			return b, fmt.Errorf("report: group %v is not an IPv4 multicast address: %w", r.Group, ErrInvalid)
		}
		if len(r.Records) > 0 {
			return b, fmt.Errorf("report: group records need version 3: %w", ErrInvalid)
		}
	case 3:
		if r.Leave {
			return b, fmt.Errorf("report: IGMPv3 leaves are records (TO_IN {}), not a Leave flag: %w", ErrInvalid)
		}
		if r.Group.IsValid() && r.Group != netip.IPv4Unspecified() {
			return b, fmt.Errorf("report: a v3 report carries groups in records, not Group: %w", ErrInvalid)
		}
		typ, dst = TypeReportV3, IGMPv3Routers
	default:
		return b, fmt.Errorf("report: version %d not 1, 2 or 3: %w", r.Version, ErrInvalid)
	}

	n, err := recordsLen(r.Records, igmpRecords)
	if err != nil {
		return b, fmt.Errorf("report: %w", err)
	}

	b, p := appendHeaders(b, r.SrcMAC, r.VLAN, r.Src, dst, n)
	p[0] = typ
	if r.Version != 3 {
		copy(p[4:8], ip4(r.Group))
	} else {
		putRecords(p, r.Records)
	}
	binary.BigEndian.PutUint16(p[2:4], Checksum(p))
	return b, nil
}

// appendEthernet appends an Ethernet header (with an 802.1Q tag if vlan
// is not 0) of ethertype etype and n zero bytes of payload to b. It returns
// b, the frame, and the payload's offset in it.
func appendEthernet(b []byte, dstMAC [6]byte, srcMAC net.HardwareAddr, vlan, etype uint16, n int) (out, frame []byte, payload int) {
	hdr := ethLen
	if vlan != 0 {
		hdr += tagLen
	}
	start := len(b)
	b = append(b, make([]byte, hdr+n)...)
	f := b[start:]
	copy(f[0:6], dstMAC[:])
	copy(f[6:12], srcMAC)
	o := 12
	if vlan != 0 {
		binary.BigEndian.PutUint16(f[o:], ethTypeDot1Q)
		binary.BigEndian.PutUint16(f[o+2:], vlan)
		o += tagLen
	}
	binary.BigEndian.PutUint16(f[o:], etype)
	return b, f, o + 2
}

func checkFrame(mac net.HardwareAddr, src netip.Addr, vlan uint16) error {
	if !src.Is4() {
		return fmt.Errorf("source %v is not an IPv4 address: %w", src, ErrInvalid)
	}
	return checkLink(mac, vlan)
}

// checkLink checks what every frame needs whatever its protocol.
func checkLink(mac net.HardwareAddr, vlan uint16) error {
	if len(mac) != 6 {
		return fmt.Errorf("source MAC %q is not 6 bytes: %w", mac, ErrInvalid)
	}
	if !validSourceMAC(mac) {
		return fmt.Errorf("source MAC %v is multicast or zero: %w", mac, ErrInvalid)
	}
	if vlan > 4094 {
		return fmt.Errorf("VLAN %d above 4094: %w", vlan, ErrInvalid)
	}
	return nil
}

func isMulticastAddr(a netip.Addr) bool { return a.Is4() && a.IsMulticast() }

// ip4 returns the 4 bytes of a, or 0.0.0.0 for an invalid address.
func ip4(a netip.Addr) []byte {
	if !a.Is4() {
		return zero4[:]
	}
	b := a.As4()
	return b[:]
}

// appendHeaders appends Ethernet (+802.1Q) and IPv4 headers for an IGMP
// message of n bytes, followed by n zero bytes, and returns the frame and
// the IGMP part to fill in.
func appendHeaders(b []byte, srcMAC net.HardwareAddr, vlan uint16, src, dst netip.Addr, n int) (frame, igmp []byte) {
	// 01:00:5e + the low 23 bits of the group (RFC 1112 §6.4).
	d := dst.As4()
	b, f, o := appendEthernet(b, [6]byte{0x01, 0x00, 0x5e, d[1] & 0x7f, d[2], d[3]}, srcMAC, vlan, ethTypeIPv4, ipHeaderLen+n)
	ip := f[o : o+ipHeaderLen]
	ip[0] = 0x40 | ipHeaderLen/4
	ip[1] = 0xc0 // internetwork control (RFC 3376 §4)
	binary.BigEndian.PutUint16(ip[2:], uint16(ipHeaderLen+n))
	// ID 0 and DF, as Linux sends IGMP; nothing should fragment it.
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8] = 1 // TTL 1: IGMP never leaves the link
	ip[9] = ipProtoIGMP
	s := src.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	copy(ip[20:24], []byte{ipOptRouterAlrt, 4, 0, 0}) // Router Alert (RFC 2113)
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip))
	return b, f[o+ipHeaderLen:]
}
