package wire

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Frame layout of the MLD frames the encoders build: IPv6, then a
// Hop-by-Hop header holding the Router Alert, then ICMPv6.
const (
	hopByHopLen = 8 // Router Alert (4) + PadN (4) fills one 8-octet unit
	maxIPv6Plen = 0xffff
)

// appendMLDQuery is AppendQuery for an IPv6 q.Src (RFC 2710 §3, RFC 3810
// §5.1).
func appendMLDQuery(b []byte, q Query) ([]byte, error) {
	general := !q.Group.IsValid() || q.Group == netip.IPv6Unspecified()
	if err := checkLink(q.SrcMAC, q.VLAN); err != nil {
		return b, fmt.Errorf("query: %w", err)
	}
	if !isLinkLocal6(q.Src) && !q.Src.IsUnspecified() {
		return b, fmt.Errorf("query: MLD source %v is neither link-local nor :: (RFC 3810 §5.1.14): %w", q.Src, ErrInvalid)
	}
	if !general && !isMulticast6(q.Group) {
		return b, fmt.Errorf("query: group %v is not an IPv6 multicast address: %w", q.Group, ErrInvalid)
	}
	dst := AllNodes
	if !general {
		dst = q.Group
	}
	var mrc uint16
	n := mldMinLen
	switch q.Version {
	case 1:
		if q.MaxResp < 0 || q.MaxResp > MaxRespMLDv1 {
			return b, fmt.Errorf("query: MLDv1 max response %v outside 0-%v (RFC 2710 §3.4): %w", q.MaxResp, MaxRespMLDv1, ErrInvalid)
		}
		if q.QRV != 0 || q.QueryInterval != 0 || len(q.Sources) > 0 || q.SuppressRouterSide {
			return b, fmt.Errorf("query: QRV, query interval, sources and S flag need MLD version 2: %w", ErrInvalid)
		}
		mrc = uint16(ceilDiv(q.MaxResp, MLDMaxRespUnit)) // rounded up, as EncodeMLDCode
	case 2:
		if q.MaxResp < 0 || q.MaxResp > MaxMLDMaxResp {
			return b, fmt.Errorf("query: MLDv2 max response %v outside 0-%v: %w", q.MaxResp, MaxMLDMaxResp, ErrInvalid)
		}
		if err := checkV3Query(q, general, mldRecords); err != nil {
			return b, err
		}
		mrc = EncodeMLDCode(q.MaxResp)
		n = mldV2QueryMinLen + 16*len(q.Sources)
	default:
		return b, fmt.Errorf("query: MLD version %d not 1 or 2: %w", q.Version, ErrInvalid)
	}

	b, p := appendHeaders6(b, q.SrcMAC, q.VLAN, q.Src, dst, n)
	p[0] = TypeMLDQuery
	binary.BigEndian.PutUint16(p[4:6], mrc)
	g := q.Group.As16()
	if general {
		g = [16]byte{}
	}
	copy(p[8:24], g[:])
	if q.Version == 2 {
		putV3QueryTail(p[24:], q)
	}
	binary.BigEndian.PutUint16(p[2:4], Checksum6(q.Src, dst, ipProtoICMPv6, p))
	return b, nil
}

// appendMLDReport is AppendReport for an IPv6 r.Src (RFC 2710 §3, RFC 3810
// §5.2).
func appendMLDReport(b []byte, r Report) ([]byte, error) {
	if err := checkLink(r.SrcMAC, r.VLAN); err != nil {
		return b, fmt.Errorf("report: %w", err)
	}
	if !isLinkLocal6(r.Src) && !r.Src.IsUnspecified() {
		return b, fmt.Errorf("report: MLD source %v is neither link-local nor :: (RFC 3810 §5.2.13): %w", r.Src, ErrInvalid)
	}
	var typ uint8
	dst := r.Group
	n := mldMinLen
	switch r.Version {
	case 1:
		typ = TypeMLDReportV1
		if r.Leave {
			typ, dst = TypeMLDDone, AllRouters6
		}
		if !isMulticast6(r.Group) {
			return b, fmt.Errorf("report: group %v is not an IPv6 multicast address: %w", r.Group, ErrInvalid)
		}
		if len(r.Records) > 0 {
			return b, fmt.Errorf("report: group records need MLD version 2: %w", ErrInvalid)
		}
	case 2:
		if r.Leave {
			return b, fmt.Errorf("report: MLDv2 leaves are records (TO_IN {}), not a Leave flag: %w", ErrInvalid)
		}
		if r.Group.IsValid() && r.Group != netip.IPv6Unspecified() {
			return b, fmt.Errorf("report: an MLDv2 report carries addresses in records, not Group: %w", ErrInvalid)
		}
		var err error
		if n, err = recordsLen(r.Records, mldRecords); err != nil {
			return b, fmt.Errorf("report: %w", err)
		}
		typ, dst = TypeMLDReportV2, MLDv2Routers
	default:
		return b, fmt.Errorf("report: MLD version %d not 1 or 2: %w", r.Version, ErrInvalid)
	}

	b, p := appendHeaders6(b, r.SrcMAC, r.VLAN, r.Src, dst, n)
	p[0] = typ
	if r.Version == 1 {
		g := r.Group.As16()
		copy(p[8:24], g[:])
	} else {
		putRecords(p, r.Records)
	}
	binary.BigEndian.PutUint16(p[2:4], Checksum6(r.Src, dst, ipProtoICMPv6, p))
	return b, nil
}

// isMulticast6 reports whether a is an IPv6 multicast address (ff00::/8),
// not an IPv4 one mapped into IPv6.
func isMulticast6(a netip.Addr) bool { return a.Is6() && a.As16()[0] == 0xff }

// appendHeaders6 appends Ethernet (+802.1Q), IPv6 and Hop-by-Hop headers
// for an ICMPv6 message of n bytes, followed by n zero bytes, and returns
// the frame and the ICMPv6 part to fill in.
func appendHeaders6(b []byte, srcMAC net.HardwareAddr, vlan uint16, src, dst netip.Addr, n int) (frame, icmp []byte) {
	// 33:33 + the low 32 bits of the destination (RFC 2464 §7).
	d := dst.As16()
	b, f, o := appendEthernet(b, [6]byte{0x33, 0x33, d[12], d[13], d[14], d[15]}, srcMAC, vlan, ethTypeIPv6, ipv6HeaderLen+hopByHopLen+n)
	ip := f[o : o+ipv6HeaderLen]
	ip[0] = 0x60 // version 6, traffic class 0 and no flow label, as Linux sends MLD
	binary.BigEndian.PutUint16(ip[4:], uint16(hopByHopLen+n))
	ip[6] = nhHopByHop
	ip[7] = 1 // Hop Limit 1: MLD never leaves the link (RFC 3810 §5)
	s := src.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	o += ipv6HeaderLen
	// Router Alert with the MLD value 0 (RFC 2711), then PadN to 8 octets.
	copy(f[o:o+hopByHopLen], []byte{ipProtoICMPv6, 0, optRouterAlert, 2, 0, 0, 1, 0})
	return b, f[o+hopByHopLen:]
}
