package wire

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// ICMPv6 types of neighbour discovery (RFC 4861 §4).
const (
	TypeRouterSolicit   uint8 = 133
	TypeRouterAdvert    uint8 = 134
	TypeNeighborSolicit uint8 = 135
	TypeNeighborAdvert  uint8 = 136
)

// Neighbour discovery layout (RFC 4861 §4): the fixed part of each
// message, options after it; the target of NS and NA at offset 8.
const (
	ndHopLimit       = 255
	ndRSLen          = 8
	ndRALen          = 16
	ndTargetLen      = 24 // NS and NA
	ndOptSourceLLA   = 1  // Source Link-Layer Address option
	ndOptTargetLLA   = 2  // Target Link-Layer Address option
	ndFlagSolicited  = 0x40
	solicitedNodeLen = 13 // bytes of ff02::1:ff00:0/104
)

// The ND decoder's refusals, built once (see Refusal).
var (
	errShortND      = refuse(ReasonTruncated, "neighbour discovery message shorter than its fixed part")
	errNDHopLimit   = refuse(ReasonBadHopLimit, "neighbour discovery message with Hop Limit other than 255")
	errNDCode       = refuse(ReasonBadND, "ICMPv6 code is not 0")
	errNDOption     = refuse(ReasonBadND, "option of length 0 or beyond the message")
	errNDTarget     = refuse(ReasonBadND, "target address multicast, unspecified, loopback or IPv4-mapped")
	errNDSolicited  = refuse(ReasonBadND, "solicited advertisement sent to a multicast address")
	errNDDADOption  = refuse(ReasonBadND, "source link-layer address option in a message from ::")
	errNDDADDst     = refuse(ReasonBadDestination, "solicitation from :: not sent to the target's solicited-node group")
	errNDSource     = refuse(ReasonBadSource, "neighbour discovery source multicast, or :: where not allowed")
	errRASource     = refuse(ReasonBadSource, "router advertisement source not link-local")
	solicitedPrefix = [solicitedNodeLen]byte{0xff, 0x02, 11: 0x01, 12: 0xff}
)

// SolicitedNode returns the solicited-node multicast group of an IPv6
// address (RFC 4291 §2.7.1): ff02::1:ff00:0/104 and the address's low 24
// bits. Neighbour solicitations for the address go to it.
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	var g [16]byte
	copy(g[:], solicitedPrefix[:])
	copy(g[solicitedNodeLen:], b[solicitedNodeLen:])
	return netip.AddrFrom16(g)
}

// IsSolicitedNode reports whether g is a solicited-node group.
func IsSolicitedNode(g netip.Addr) bool {
	if !g.Is6() || g.Is4In6() {
		return false
	}
	b := g.As16()
	return [solicitedNodeLen]byte(b[:solicitedNodeLen]) == solicitedPrefix
}

// decodeND validates a router or neighbour solicitation or advertisement
// (RFC 4861 §6.1, §7.1) in ICMPv6 message p, already known to be one of
// them by its type. Hosts drop what fails these checks, so learning from it
// would only let a forger in.
func decodeND(p []byte, m *Message) error {
	if !validSourceMAC(m.SrcMAC) {
		return errSourceMAC
	}
	fixed := ndTargetLen
	switch p[0] {
	case TypeRouterSolicit:
		fixed = ndRSLen
	case TypeRouterAdvert:
		fixed = ndRALen
	}
	if len(p) < fixed {
		return errShortND
	}
	if Checksum6(m.Src, m.Dst, ipProtoICMPv6, p) != 0 {
		return errICMPv6Checksum
	}
	// A Hop Limit of 255 proves the message was not forwarded: it was
	// sent on this link (RFC 4861 §6.1, §7.1).
	if m.TTL != ndHopLimit {
		return errNDHopLimit
	}
	if p[1] != 0 {
		return errNDCode
	}
	m.Proto, m.IGMPType, m.Kind = MLD, p[0], KindND
	if m.Src.IsMulticast() || m.Src.Is4In6() || m.Src.IsLoopback() {
		return errNDSource
	}
	hasSLLA := false
	for o := p[fixed:]; len(o) > 0; {
		if len(o) < 2 || o[1] == 0 || 8*int(o[1]) > len(o) {
			return errNDOption
		}
		hasSLLA = hasSLLA || o[0] == ndOptSourceLLA
		o = o[8*int(o[1]):]
	}
	unspecified := m.Src.IsUnspecified()
	if unspecified && hasSLLA {
		return errNDDADOption
	}
	switch p[0] {
	case TypeRouterSolicit:
		return nil
	case TypeRouterAdvert:
		if !isLinkLocal6(m.Src) {
			return errRASource
		}
		return nil
	}
	m.Target = addrOf(p[8:24])
	if m.Target.IsMulticast() || m.Target.IsUnspecified() || m.Target.IsLoopback() || m.Target.Is4In6() {
		return errNDTarget
	}
	if p[0] == TypeNeighborSolicit {
		if unspecified && m.Dst != SolicitedNode(m.Target) {
			return errNDDADDst
		}
		return nil
	}
	// An advertisement comes from an address the sender holds.
	if unspecified {
		return errNDSource
	}
	if m.Dst.IsMulticast() && p[4]&ndFlagSolicited != 0 {
		return errNDSolicited
	}
	return nil
}

// NDAddresses returns the addresses a valid ND message shows its sender
// holds: its unicast source, the target of an advertisement (the sender
// advertises its own address), and the target of a solicitation from ::
// (duplicate address detection: the address the sender is about to use).
// The target of any other solicitation is someone else's. It appends to
// dst and returns it.
func NDAddresses(dst []netip.Addr, m *Message) []netip.Addr {
	if m.Kind != KindND {
		return dst
	}
	if !m.Src.IsUnspecified() {
		dst = append(dst, m.Src)
	}
	switch {
	case m.IGMPType == TypeNeighborAdvert, m.IGMPType == TypeNeighborSolicit && m.Src.IsUnspecified():
		if m.Target != m.Src {
			dst = append(dst, m.Target)
		}
	}
	return dst
}

// ND is a neighbour solicitation or advertisement to encode (EncodeND).
type ND struct {
	Type uint8 // TypeNeighborSolicit or TypeNeighborAdvert
	// DstMAC is the Ethernet destination; zero means 33:33 and the low 32
	// bits of Dst (RFC 2464 §7), right for a multicast Dst.
	DstMAC   net.HardwareAddr
	SrcMAC   net.HardwareAddr
	VLAN     uint16
	Src, Dst netip.Addr
	Target   netip.Addr
	// Flags are an advertisement's R, S and O bits (0x80, 0x40, 0x20).
	Flags uint8
}

// EncodeND builds a neighbour solicitation or advertisement frame, with a
// source (solicitation) or target (advertisement) link-layer address
// option holding SrcMAC unless Src is :: (RFC 4861 §4.3, §4.4). The
// daemon sends none: tests and the lab do.
func EncodeND(nd ND) ([]byte, error) {
	if nd.Type != TypeNeighborSolicit && nd.Type != TypeNeighborAdvert {
		return nil, fmt.Errorf("ND type %d: %w", nd.Type, ErrInvalid)
	}
	if !nd.Src.Is6() || !nd.Dst.Is6() || !nd.Target.Is6() {
		return nil, fmt.Errorf("ND addresses %v > %v target %v: must be IPv6: %w", nd.Src, nd.Dst, nd.Target, ErrInvalid)
	}
	if err := checkLink(nd.SrcMAC, nd.VLAN); err != nil {
		return nil, err
	}
	n := ndTargetLen
	if !nd.Src.IsUnspecified() {
		n += 8
	}
	d := nd.Dst.As16()
	dmac := [6]byte{0x33, 0x33, d[12], d[13], d[14], d[15]}
	if len(nd.DstMAC) == 6 {
		dmac = [6]byte(nd.DstMAC)
	}
	out, f, o := appendEthernet(nil, dmac, nd.SrcMAC, nd.VLAN, ethTypeIPv6, ipv6HeaderLen+n)
	ip := f[o : o+ipv6HeaderLen]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(n))
	ip[6], ip[7] = ipProtoICMPv6, ndHopLimit
	copy(ip[8:24], nd.Src.AsSlice())
	copy(ip[24:40], d[:])
	p := f[o+ipv6HeaderLen:]
	p[0] = nd.Type
	if nd.Type == TypeNeighborAdvert {
		p[4] = nd.Flags
	}
	copy(p[8:24], nd.Target.AsSlice())
	if !nd.Src.IsUnspecified() {
		p[24], p[25] = ndOptSourceLLA, 1
		if nd.Type == TypeNeighborAdvert {
			p[24] = ndOptTargetLLA
		}
		copy(p[26:32], nd.SrcMAC)
	}
	binary.BigEndian.PutUint16(p[2:4], Checksum6(nd.Src, nd.Dst, ipProtoICMPv6, p))
	return out, nil
}
