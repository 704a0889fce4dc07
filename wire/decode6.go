package wire

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// IPv6 next-header values the extension-header walk knows (RFC 8200 §4).
const (
	nhHopByHop = 0
	nhRouting  = 43
	nhFragment = 44
	nhESP      = 50
	nhAH       = 51
	nhNoNext   = 59
	nhDestOpts = 60
)

// Hop-by-Hop options (RFC 8200 §4.2, RFC 2711).
const (
	optPad1        = 0
	optRouterAlert = 5
)

// The IPv6 decoder's refusals, built once (see Refusal).
var (
	errShortIPv6       = refuse(ReasonTruncated, "IPv6 header")
	errIPv6BeyondFrame = refuse(ReasonTruncated, "IPv6 payload length beyond frame")
	errShortExtHeader  = refuse(ReasonTruncated, "extension header beyond packet")
	errShortICMPv6     = refuse(ReasonTruncated, "ICMPv6 header")
	errShortMLD        = refuse(ReasonTruncated, "MLD message shorter than 24 bytes")
	errShortMLDv2      = refuse(ReasonTruncated, "MLDv2 report shorter than 8 bytes")
	errNotMLD          = refuse(ReasonNotMLD, "")
	errNotMLDType      = refuse(ReasonNotMLD, "ICMPv6 type is neither MLD nor MRD")
	errIPv6Version     = refuse(ReasonBadIPHeader, "IP version is not 6")
	errIPv6Jumbo       = refuse(ReasonBadIPHeader, "IPv6 payload length 0 (jumbogram)")
	errTooManyExt      = refuse(ReasonBadIPHeader, "too many extension headers")
	errHopByHopNotNext = refuse(ReasonBadIPHeader, "Hop-by-Hop header not right after the IPv6 header")
	errHopByHopOptions = refuse(ReasonBadIPHeader, "malformed Hop-by-Hop options")
	errRoutingLeft     = refuse(ReasonBadIPHeader, "routing header with segments left")
	errFragment6       = refuse(ReasonFragment, "IPv6 fragment header")
	errICMPv6Checksum  = refuse(ReasonBadICMPv6Checksum, "")
	errMLDHopLimit     = refuse(ReasonBadHopLimit, "MLD message with Hop Limit other than 1")
	errMRDHopLimit     = refuse(ReasonBadHopLimit, "MRD message with Hop Limit other than 1")
	errNoHopByHop      = refuse(ReasonNoRouterAlert, "no Hop-by-Hop header")
	errNoRouterAlert   = refuse(ReasonNoRouterAlert, "no Router Alert option")
	errRouterAlertVal  = refuse(ReasonNoRouterAlert, "Router Alert value is not MLD (0)")
	errQuerySource     = refuse(ReasonBadSource, "MLD query source not link-local")
	errReportSource    = refuse(ReasonBadSource, "MLD report or done source neither link-local nor ::")
	errMRDSource       = refuse(ReasonBadSource, "MRD source not link-local")
	errMLDQueryLength  = refuse(ReasonBadQueryLength, "MLD query neither 24 nor at least 28 bytes")
	errQueryGroup6     = refuse(ReasonBadGroup, "MLD query group neither :: nor multicast")
	errReportGroup6    = refuse(ReasonBadGroup, "MLD report group not multicast")
	errDoneGroup6      = refuse(ReasonBadGroup, "MLD done group not multicast")
	errGeneralDst6     = refuse(ReasonBadDestination, "general query not sent to ff02::1")
	errMRDDst6         = refuse(ReasonBadDestination, "MRD advertisement or termination not sent to ff02::6a")
)

// decode6 decodes an IPv6 packet carrying MLD, MRD or PIM.
func (d *Decoder) decode6(b []byte, m *Message) error {
	nh, p, err := d.decodeIPv6(b, m)
	if err != nil {
		return err
	}
	if nh == ipProtoPIM {
		return decodePIM(p, m)
	}
	// ICMPv6: MLD is told by type after the extension headers (RFC 4541
	// M7), so neighbour discovery and the rest are refused as not_mld.
	if len(p) == 0 {
		return errShortICMPv6
	}
	switch p[0] {
	case TypeMLDQuery, TypeMLDReportV1, TypeMLDDone, TypeMLDReportV2,
		TypeMRDAdvert6, TypeMRDSolicit6, TypeMRDTermination6:
	case TypeRouterSolicit, TypeRouterAdvert, TypeNeighborSolicit, TypeNeighborAdvert:
		if !d.ND {
			return errNotMLDType
		}
		return decodeND(p, m)
	default:
		return errNotMLDType
	}
	if len(p) < 4 {
		return errShortICMPv6
	}
	if !validSourceMAC(m.SrcMAC) {
		return errSourceMAC
	}
	if Checksum6(m.Src, m.Dst, ipProtoICMPv6, p) != 0 {
		return errICMPv6Checksum
	}
	m.Proto, m.IGMPType = MLD, p[0]
	switch p[0] {
	case TypeMRDAdvert6, TypeMRDTermination6:
		return decodeMRD(p, m)
	case TypeMRDSolicit6:
		// For routers to answer; flooded like an unknown IGMP type.
		m.Kind = KindOther
		return nil
	}
	// RFC 3810 §5 and §6.2 (RFC 2710 §3 for MLDv1): link-local scope,
	// Hop Limit 1 and a Router Alert in a Hop-by-Hop header, or the
	// message is dropped. Linux also requires the Hop-by-Hop header.
	if m.TTL != 1 {
		return errMLDHopLimit
	}
	switch {
	case !d.hopByHop:
		return errNoHopByHop
	case !d.routerAlert:
		return errNoRouterAlert
	case !m.RouterAlert:
		return errRouterAlertVal
	}
	if p[0] == TypeMLDQuery {
		// §5.1.14: queries from :: or a non-link-local source are
		// discarded. Reports from :: are legal for a snooper (RFC 4541 M4).
		if !isLinkLocal6(m.Src) {
			return errQuerySource
		}
		return decodeMLDQuery(p, m)
	}
	if !isLinkLocal6(m.Src) && !m.Src.IsUnspecified() {
		return errReportSource
	}
	switch p[0] {
	case TypeMLDReportV1:
		m.Kind, m.Version = KindReport, 1
		return decodeMLDGroup(p, m, errReportGroup6)
	case TypeMLDDone:
		m.Kind, m.Version = KindLeave, 1
		return decodeMLDGroup(p, m, errDoneGroup6)
	}
	m.Kind, m.Version = KindReportV3, 2
	if len(p) < 8 {
		return errShortMLDv2
	}
	return decodeRecords(p, m, 16)
}

// decodeIPv6 validates the IPv6 header, walks the extension headers and
// returns the upper-layer protocol (ICMPv6 or PIM) and its message,
// trimmed to the payload length. It records in d whether a Hop-by-Hop
// header and a Router Alert option were seen, and sets m.RouterAlert for
// a Router Alert with the MLD value 0.
func (d *Decoder) decodeIPv6(b []byte, m *Message) (uint8, []byte, error) {
	d.hopByHop, d.routerAlert = false, false
	if len(b) < ipv6HeaderLen {
		return 0, nil, errShortIPv6
	}
	if b[0]>>4 != 6 {
		return 0, nil, errIPv6Version
	}
	nh := b[6]
	// Refuse other traffic before anything else, so that it is counted
	// as not_mld whatever its other faults, as IPv4 counts not_igmp.
	if !walkable(nh) {
		return 0, nil, errNotMLD
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen == 0 {
		// A jumbogram (RFC 2675): never MLD, and nothing to bound it by.
		return 0, nil, errIPv6Jumbo
	}
	if ipv6HeaderLen+plen > len(b) {
		return 0, nil, errIPv6BeyondFrame
	}
	b = b[:ipv6HeaderLen+plen] // drop Ethernet padding
	m.Src = netip.AddrFrom16([16]byte(b[8:24]))
	m.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	m.TTL = b[7]

	off := ipv6HeaderLen
	for n := 0; ; n++ {
		switch nh {
		case ipProtoICMPv6, ipProtoPIM:
			return nh, b[off:], nil
		case nhHopByHop, nhRouting, nhDestOpts, nhAH, nhFragment:
		default:
			return 0, nil, errNotMLD // ESP, No Next Header, UDP, unknown, ...
		}
		if n == maxIPv6ExtHeaders {
			return 0, nil, errTooManyExt
		}
		if off+8 > len(b) { // every extension header is at least 8 bytes
			return 0, nil, errShortExtHeader
		}
		next := b[off]
		var hlen int
		switch nh {
		case nhFragment:
			// MLD is not fragmented (an MLDv2 host splits its records
			// into reports that fit the link MTU, RFC 3810 §5.2.15), and
			// a fragment cannot be checksummed alone. Other fragmented
			// traffic is not_mld.
			if !walkable(next) {
				return 0, nil, errNotMLD
			}
			return 0, nil, errFragment6
		case nhAH:
			hlen = (int(b[off+1]) + 2) * 4 // RFC 4302 §2.2: 32-bit words, minus 2
		default:
			hlen = (int(b[off+1]) + 1) * 8 // RFC 8200 §4: 8-octet units, minus 1
		}
		if off+hlen > len(b) {
			return 0, nil, errShortExtHeader
		}
		switch nh {
		case nhHopByHop:
			// RFC 8200 §4.1: only right after the IPv6 header.
			if off != ipv6HeaderLen {
				return 0, nil, errHopByHopNotNext
			}
			d.hopByHop = true
			if err := d.hopByHopOptions(b[off+2:off+hlen], m); err != nil {
				return 0, nil, err
			}
		case nhRouting:
			// With segments left the packet is still on its way to another
			// node, and its checksum uses a destination not in the header
			// (RFC 8200 §8.1).
			if b[off+3] != 0 {
				return 0, nil, errRoutingLeft
			}
		}
		nh, off = next, off+hlen
	}
}

// walkable reports whether next header nh is one the walk follows or
// stops at to decode: extension headers that may precede MLD or PIM, and
// those two protocols.
func walkable(nh uint8) bool {
	switch nh {
	case nhHopByHop, nhRouting, nhDestOpts, nhAH, nhFragment, ipProtoICMPv6, ipProtoPIM:
		return true
	}
	return false
}

// hopByHopOptions scans the options of a Hop-by-Hop header for a Router
// Alert (RFC 2711). Unknown options are skipped whatever their action
// bits: a snooper does not process them, the hosts do.
func (d *Decoder) hopByHopOptions(o []byte, m *Message) error {
	for len(o) > 0 {
		if o[0] == optPad1 {
			o = o[1:]
			continue
		}
		if len(o) < 2 || 2+int(o[1]) > len(o) {
			return errHopByHopOptions
		}
		if o[0] == optRouterAlert {
			if o[1] != 2 {
				return errHopByHopOptions
			}
			if !d.routerAlert { // the first one counts
				d.routerAlert = true
				m.RouterAlert = binary.BigEndian.Uint16(o[2:4]) == routerAlertMLD
			}
		}
		o = o[2+int(o[1]):]
	}
	return nil
}

// isLinkLocal6 reports whether a is an IPv6 link-local unicast address
// (fe80::/10). netip's IsLinkLocalUnicast also accepts IPv4-mapped
// 169.254.0.0/16, which is not link-local to IPv6.
func isLinkLocal6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() && a.IsLinkLocalUnicast() }

func isZero16(b []byte) bool {
	var x byte
	for _, c := range b[:16] {
		x |= c
	}
	return x == 0
}

func decodeMLDGroup(p []byte, m *Message, bad *Refusal) error {
	if len(p) < mldMinLen {
		return errShortMLD
	}
	if p[8] != 0xff {
		return bad
	}
	m.Group = addrOf(p[8:24])
	return nil
}

// decodeMLDQuery parses an MLD query; its version is told by length
// (RFC 3810 §8.1).
func decodeMLDQuery(p []byte, m *Message) error {
	m.Kind = KindQuery
	mrc := binary.BigEndian.Uint16(p[4:6])
	if len(p) == mldMinLen {
		// MLDv1 Maximum Response Delay: plain milliseconds (RFC 2710 §3.4).
		m.Version, m.MaxResp = 1, time.Duration(mrc)*MLDMaxRespUnit
	} else if len(p) >= mldV2QueryMinLen {
		m.Version = 2
		m.MaxResp = DecodeMLDCode(mrc)
		m.SuppressRouterSide = p[24]&0x08 != 0
		m.QRV = p[24] & 0x07
		m.QueryInterval = DecodeCode(p[25], QueryIntervalUnit)
	} else {
		// Any other length MUST be ignored (RFC 3810 §8.1).
		return errMLDQueryLength
	}
	group := p[8:24]
	general := isZero16(group)
	if !general && group[0] != 0xff {
		return errQueryGroup6
	}
	if general && m.Dst != AllNodes {
		return errGeneralDst6
	}
	m.Group = addrOf(group)
	if m.Version == 1 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(p[26:28]))
	if mldV2QueryMinLen+16*n > len(p) {
		return errQuerySources
	}
	if general && n > 0 {
		return errGeneralSources
	}
	for i := 0; i < n; i++ {
		o := mldV2QueryMinLen + 16*i
		m.Sources = append(m.Sources, addrOf(p[o:o+16]))
	}
	return nil
}
