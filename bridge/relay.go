package bridge

import (
	"encoding/binary"
	"net/netip"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

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

// Bounds of what a guard relays: the targets of one report (its loop over
// them is unrolled), the length of a report's IGMP or MLD message, and
// the records of an IGMPv3 or MLDv2 report (also unrolled). A kernel
// host's join is one record; its answer to a general query one record per
// group, in as few reports as fit.
const (
	MaxRelayTargets = 16
	maxRelayMsg     = 256
	maxRelayRecords = 8
)

// RelayShape tells whether a guard relays frame itself when its port is
// relayed from, with the SSM ranges ssm: an untagged membership report
// (IGMPv1, v2 or v3, MLDv1 or v2) in the form every stack sends and the
// decoder accepts, checksums right, of at most maxRelayMsg bytes and
// maxRelayRecords records, that only joins or refreshes (no leave, no
// BLOCK, no TO_IN: those take the daemon's path, which is slower, so none
// can overtake its join on the way to a router), and asks for no
// any-source membership in an SSM range (RFC 4604 §2.2: the daemon
// refuses those). This is the guard's test written in Go, so that the
// daemon knows which frames it must not relay again;
// TestRelayShapeAgrees holds the two together.
func RelayShape(frame []byte, ssm []netip.Prefix) bool {
	if len(frame) < 14 || frame[6]&1 != 0 || isZero(frame[6:12]) {
		return false
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800:
		return relayShape4(frame[14:], ssm)
	case 0x86dd:
		return relayShape6(frame[14:], ssm)
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

func relayShape4(ip []byte, ssm []netip.Prefix) bool {
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
	if total < ihl+8 || total > ihl+maxRelayMsg || len(ip) < total {
		return false
	}
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 || ip[12] >= 224 || ip[12] == 127 {
		return false
	}
	msg := ip[ihl:total]
	if len(msg)%4 != 0 || wire.Checksum(ip[:ihl]) != 0 || wire.Checksum(msg) != 0 {
		return false
	}
	switch msg[0] {
	case 0x12, 0x16:
		return len(msg) == 8 && joinable(msg[4:8], false, ssm)
	case 0x22:
		return joinRecords(msg, 4, ssm)
	}
	return false
}

// mldHopByHop is the Hop-by-Hop header of an MLD message as Linux, BSD and
// Windows send it: next header ICMPv6, Router Alert with the MLD value 0
// (RFC 2711), and a two-byte PadN.
var mldHopByHop = [8]byte{58, 0, 5, 2, 0, 0, 1, 0}

// mldLen is the length of an MLDv1 message (RFC 2710 §3).
const mldLen = 24

func relayShape6(ip []byte, ssm []netip.Prefix) bool {
	const hdr = 40 + 8
	if len(ip) < hdr+8 || ip[0]>>4 != 6 || ip[6] != 0 || ip[7] != 1 || [8]byte(ip[40:48]) != mldHopByHop {
		return false
	}
	n := int(binary.BigEndian.Uint16(ip[4:6])) - 8 // the message's length
	if n < 8 || n > maxRelayMsg || n%4 != 0 || len(ip) < hdr+n {
		return false
	}
	// Link-local (fe80::/10) or :: (RFC 3810 §5.2.13, RFC 4541 M4).
	if !(ip[8] == 0xfe && ip[9]&0xc0 == 0x80) && !isZero(ip[8:24]) {
		return false
	}
	msg := ip[hdr : hdr+n]
	src, dst := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	if wire.Checksum6(src, dst, 58, msg) != 0 {
		return false
	}
	switch msg[0] {
	case 131:
		return n == mldLen && joinable(msg[8:24], false, ssm)
	case 143:
		return joinRecords(msg, 16, ssm)
	}
	return false
}

// joinRecords tells whether an IGMPv3 (alen 4) or MLDv2 (alen 16) report
// has at least one and at most maxRelayRecords records, exactly filling
// the message, each of which only joins.
func joinRecords(msg []byte, alen int, ssm []netip.Prefix) bool {
	n := int(binary.BigEndian.Uint16(msg[6:8]))
	if n == 0 || n > maxRelayRecords {
		return false
	}
	off := 8
	for range n {
		if off+4+alen > len(msg) {
			return false
		}
		typ, nsrc := msg[off], int(binary.BigEndian.Uint16(msg[off+2:off+4]))
		var anySource bool
		switch {
		case typ == 2 || typ == 4: // MODE_IS_EXCLUDE, CHANGE_TO_EXCLUDE
			anySource = true
		case typ == 5, typ == 1 && nsrc > 0: // ALLOW_NEW_SOURCES, MODE_IS_INCLUDE
		default:
			return false
		}
		if !joinable(msg[off+4:off+4+alen], !anySource, ssm) {
			return false
		}
		off += 4 + alen + alen*nsrc + 4*int(msg[off+1])
		if off > len(msg) {
			return false
		}
	}
	return off == len(msg)
}

// joinable tells whether a join of group (4 or 16 bytes) may be relayed:
// group is multicast, and an any-source join (sourced false) is outside
// the SSM ranges.
func joinable(group []byte, sourced bool, ssm []netip.Prefix) bool {
	var g netip.Addr
	if len(group) == 4 {
		if group[0] < 224 || group[0] > 239 {
			return false
		}
		g = netip.AddrFrom4([4]byte(group))
	} else {
		if group[0] != 0xff {
			return false
		}
		g = netip.AddrFrom16([16]byte(group))
	}
	if sourced {
		return true
	}
	for _, p := range ssm {
		if p.Contains(g) {
			return false
		}
	}
	return true
}
