package bridge

import "encoding/binary"

// Relay is what a bridge's guards share to relay reports in the kernel
// (RFC 4541 C1: to router ports only): the ports to relay to, per
// protocol, and which ingress ports may be relayed from. The daemon keeps
// both current; a guard relays only while its port is marked and only
// frames of RelayShape, and drops the rest as ever, for the daemon to
// relay. It is one per bridge (NewRelay).
type Relay interface {
	// SetTargets sets where the guards relay IGMP (mld false) or MLD
	// reports to: at most MaxRelayTargets ports, by ifindex. More than
	// that, or none, turns that protocol's relay off.
	SetTargets(mld bool, ports []int) error
	// SetPort marks a port as relayed from, per protocol, or not.
	SetPort(ifindex int, igmp, mld bool) error
	// Close frees the relay's maps; guards holding it relay nothing more.
	Close() error
}

// MaxRelayTargets bounds the ports a guard relays one report to: its
// loop over them is unrolled.
const MaxRelayTargets = 16

// RelayShape tells whether a guard relays frame itself when its port is
// relayed from: an untagged IGMPv1 or IGMPv2 membership report or MLDv1
// report in the one form every stack sends and the decoder accepts,
// checksums right. Leaves and MLD dones never are: they take the daemon's
// path, which is slower, so a leave cannot overtake its join on the way to
// a router. IGMPv3 and MLDv2 reports are not either (their records would
// have to be walked and checked against each port's profile). The guard
// also leaves out groups in the SSM ranges, which the daemon refuses
// anyway. This is the guard's test written in Go, so that the daemon knows
// which frames it must not relay again; TestRelayShapeAgrees holds the two
// together.
func RelayShape(frame []byte) bool {
	if len(frame) < 14 || frame[6]&1 != 0 || isZero(frame[6:12]) {
		return false
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800:
		return relayShape4(frame[14:])
	case 0x86dd:
		return relayShape6(frame[14:])
	}
	return false
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// routerAlert4 is the IPv4 Router Alert option (RFC 2113), the one option
// an IGMP report carries.
var routerAlert4 = [4]byte{0x94, 0x04, 0, 0}

func relayShape4(ip []byte) bool {
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 2 {
		return false
	}
	ihl := int(ip[0]&0x0f) * 4
	switch {
	case ihl == 20:
	case ihl == 24 && len(ip) >= 24 && [4]byte(ip[20:24]) == routerAlert4:
	default:
		return false
	}
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if total != ihl+8 || len(ip) < total {
		return false
	}
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 || ip[12] >= 224 || ip[12] == 127 {
		return false
	}
	igmp := ip[ihl:total]
	if sum16(ip[:ihl]) != 0xffff || sum16(igmp) != 0xffff {
		return false
	}
	return (igmp[0] == 0x12 || igmp[0] == 0x16) && igmp[4] >= 224 && igmp[4] <= 239
}

// mldHopByHop is the Hop-by-Hop header of an MLD message as Linux, BSD and
// Windows send it: next header ICMPv6, Router Alert with the MLD value 0
// (RFC 2711), and a two-byte PadN.
var mldHopByHop = [8]byte{58, 0, 5, 2, 0, 0, 1, 0}

// mldLen is the length of an MLDv1 message (RFC 2710 §3).
const mldLen = 24

func relayShape6(ip []byte) bool {
	const hdr = 40 + 8
	if len(ip) < hdr+mldLen || ip[0]>>4 != 6 || ip[6] != 0 || ip[7] != 1 {
		return false
	}
	if binary.BigEndian.Uint16(ip[4:6]) != 8+mldLen || [8]byte(ip[40:48]) != mldHopByHop {
		return false
	}
	// Link-local (fe80::/10) or :: (RFC 3810 §5.2.13, RFC 4541 M4).
	if !(ip[8] == 0xfe && ip[9]&0xc0 == 0x80) && !isZero(ip[8:24]) {
		return false
	}
	msg := ip[hdr : hdr+mldLen]
	if msg[0] != 131 || msg[8] != 0xff {
		return false
	}
	// The ICMPv6 checksum covers a pseudo-header: source, destination,
	// upper-layer length and next header (RFC 8200 §8.1).
	return fold(sum(ip[8:40])+mldLen+58+sum(msg)) == 0xffff
}

// sum16 is the folded ones' complement sum of b's 16-bit words: 0xffff
// when b holds its own right checksum.
func sum16(b []byte) uint32 { return fold(sum(b)) }

func sum(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint32 {
	s = s&0xffff + s>>16
	return s&0xffff + s>>16
}
