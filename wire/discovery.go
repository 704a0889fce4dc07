package wire

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Multicast router discovery: PIM hellos (RFC 7761 §4.9.2) and Multicast
// Router Discovery (RFC 4286), in both address families. Both tell a
// snooper that a multicast router sits behind the port (RFC 4541 C2, M5).

// MRDIntervalUnit is the unit of the MRD Advertisement Interval and Query
// Interval fields (RFC 4286 §3): seconds.
const MRDIntervalUnit = time.Second

// PIM hello options (RFC 7761 §4.9.2): OptionType and OptionLength of 2
// bytes each, then OptionLength bytes of value, with no padding.
const (
	pimOptHeaderLen    = 4
	pimOptHoldtime     = 1 // Holdtime: 2 bytes of seconds
	pimHoldtimeLen     = 2
	pimHoldtimeForever = 0xffff
)

// DefaultPIMHoldtime is how long to keep a router whose hello has no
// Holdtime option: RFC 7761 §4.11's Default_Hello_Holdtime, 3.5 times the
// 30 s Hello_Period.
const DefaultPIMHoldtime = 105 * time.Second

// HoldtimeForever is the Holdtime of a hello whose option carries 0xffff:
// the neighbor never times out (RFC 7761 §4.9.2). It is 1<<62 ns, about
// 146 years: longer than any timer, yet far enough from the int64 limit
// that adding it to a time or another duration does not overflow.
const HoldtimeForever = time.Duration(1 << 62)

// decodePIM accepts a PIMv2 hello to ALL-PIM-ROUTERS of either family and
// refuses every other PIM message. Of the hello options it reads the
// Holdtime, and refuses a hello whose options run past its end.
func decodePIM(p []byte, m *Message) error {
	if len(p) < pimHeaderLen {
		return errShortPIM
	}
	if p[0] != pimV2Hello {
		return errNotPIMHello
	}
	if !validSourceMAC(m.SrcMAC) {
		return errSourceMAC
	}
	// RFC 7761 §4.9: the checksum covers the whole PIM message, and for
	// IPv6 the pseudo-header too.
	v6 := m.Src.Is6()
	if v6 && Checksum6(m.Src, m.Dst, ipProtoPIM, p) != 0 || !v6 && Checksum(p) != 0 {
		return errPIMChecksum
	}
	m.Proto, m.Kind, m.IGMPType = IGMP, KindPIMHello, TypePIMHello
	dst := AllPIMRouters
	if v6 {
		m.Proto, dst = MLD, AllPIMRouters6
	}
	// Hellos are only ever multicast to ALL-PIM-ROUTERS (RFC 7761 §4.9).
	if m.Dst != dst {
		return errPIMDst
	}
	return decodeHelloOptions(p[pimHeaderLen:], m)
}

// decodeHelloOptions walks a hello's options for the Holdtime. Unknown
// options are skipped, as RFC 7761 §4.9.2 requires; of several Holdtime
// options the first counts.
func decodeHelloOptions(o []byte, m *Message) error {
	for len(o) > 0 {
		if len(o) < pimOptHeaderLen {
			return errPIMOptionHeader
		}
		typ, n := binary.BigEndian.Uint16(o[0:2]), int(binary.BigEndian.Uint16(o[2:4]))
		if pimOptHeaderLen+n > len(o) {
			return errPIMOptionLength
		}
		if typ == pimOptHoldtime {
			if n != pimHoldtimeLen {
				return errPIMHoldtimeLength
			}
			if !m.HasHoldtime {
				m.HasHoldtime, m.Holdtime = true, holdtime(binary.BigEndian.Uint16(o[4:6]))
			}
		}
		o = o[pimOptHeaderLen+n:]
	}
	return nil
}

// holdtime converts a Holdtime option's seconds; 0 stays 0, a goodbye
// (RFC 7761 §4.9.2: the neighbor is timed out at once).
func holdtime(sec uint16) time.Duration {
	if sec == pimHoldtimeForever {
		return HoldtimeForever
	}
	return time.Duration(sec) * time.Second
}

// decodeMRD decodes an MRD advertisement or termination of either family
// (IGMP 0x30/0x32, ICMPv6 151/153) whose checksum was verified. RFC 4286
// sends every MRD message with TTL or Hop Limit 1 and advertisements and
// terminations to All-Snoopers; an IPv6 router speaks from its link-local
// address. Anything else did not come from a router on this link.
func decodeMRD(p []byte, m *Message) error {
	advert := p[0] == TypeMRDAdvert || p[0] == TypeMRDAdvert6
	m.Kind = KindMRDTermination
	if advert {
		m.Kind = KindMRDAdvert
	}
	if m.Proto == MLD {
		if m.TTL != 1 {
			return errMRDHopLimit
		}
		if !isLinkLocal6(m.Src) {
			return errMRDSource
		}
		if m.Dst != AllSnoopers6 {
			return errMRDDst6
		}
	} else {
		if m.TTL != 1 {
			return errMRDTTL
		}
		if m.Dst != AllSnoopers {
			return errMRDDst
		}
	}
	if !advert {
		return nil
	}
	if len(p) < mrdAdvertLen {
		return errShortMRD
	}
	m.AdvertInterval = time.Duration(p[1]) * MRDIntervalUnit
	m.QueryInterval = time.Duration(binary.BigEndian.Uint16(p[4:6])) * MRDIntervalUnit
	// The Robustness Variable field is 16 bits wide; no sane value is
	// above 255 (IGMPv3 and MLDv2 carry 3 bits of it).
	m.QRV = uint8(min(binary.BigEndian.Uint16(p[6:8]), 0xff))
	return nil
}

// Solicitation describes a Multicast Router Solicitation to send (RFC 4286
// §5): it asks the multicast routers on the link to advertise at once, so
// that a snooper that starts, or a port that comes up, learns where the
// routers are without waiting for their next advertisement.
type Solicitation struct {
	SrcMAC net.HardwareAddr
	// Src is the IP source, and its family picks the form: IPv4 (0.0.0.0
	// allowed, for a switch without an address) makes the IGMP one, type
	// 0x31; IPv6 the ICMPv6 one, type 152, which must come from a
	// link-local address as every IPv6 MRD message does.
	Src  netip.Addr
	VLAN uint16 // 802.1Q VLAN id to tag with; 0 = untagged
}

// EncodeSolicitation builds a complete Ethernet frame carrying s: the
// 4-byte solicitation (type, reserved 0, checksum) to All-Routers
// (224.0.0.2 or ff02::2), with TTL or Hop Limit 1 and a Router Alert, as
// RFC 4286 §2 and §5 require of it.
func EncodeSolicitation(s Solicitation) ([]byte, error) { return AppendSolicitation(nil, s) }

// AppendSolicitation is EncodeSolicitation appending to b.
func AppendSolicitation(b []byte, s Solicitation) ([]byte, error) {
	if s.Src.Is6() {
		if err := checkLink(s.SrcMAC, s.VLAN); err != nil {
			return b, fmt.Errorf("solicitation: %w", err)
		}
		if !isLinkLocal6(s.Src) {
			return b, fmt.Errorf("solicitation: MRD source %v is not link-local (RFC 4286): %w", s.Src, ErrInvalid)
		}
		// The Router Alert RFC 4286 §2 asks for is appendHeaders6's,
		// with value 0 as for MLD (RFC 2711).
		out, p := appendHeaders6(b, s.SrcMAC, s.VLAN, s.Src, AllRouters6, mrdShortLen)
		p[0] = TypeMRDSolicit6
		binary.BigEndian.PutUint16(p[2:4], Checksum6(s.Src, AllRouters6, ipProtoICMPv6, p))
		return out, nil
	}
	if err := checkFrame(s.SrcMAC, s.Src, s.VLAN); err != nil {
		return b, fmt.Errorf("solicitation: %w", err)
	}
	out, p := appendHeaders(b, s.SrcMAC, s.VLAN, s.Src, AllRouters, mrdShortLen)
	p[0] = TypeMRDSolicit
	binary.BigEndian.PutUint16(p[2:4], Checksum(p))
	return out, nil
}
