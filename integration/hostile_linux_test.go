package integration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/igmpsnoop/igmpsnoop/lab"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// hostileCase is one kind of malformed or hostile frame and what the
// daemon must make of it: refused under a named reason, ignored under a
// named reason (a valid message for a group it never learns), or, where
// that is right, accepted (counted as received) without learning anything.
type hostileCase struct {
	name    string
	frame   []byte
	refused string // wire.Reason name
	ignored string // ignore reason name (snoop/stats.go)
	// accepted is the received label of a frame that is valid and must
	// be taken, yet teaches the daemon nothing.
	accepted string
	// perFrame is how many times one frame is counted (records ignored
	// one by one); 0 means 1.
	perFrame int
}

// hostileSends is how many times each frame is sent.
const hostileSends = 3

// Frame layout of the frames the wire encoders build, which most cases
// start from: Ethernet, IPv4 with a Router Alert option (24 bytes), IGMP;
// or Ethernet, IPv6, a Hop-by-Hop header of 8 bytes, ICMPv6.
const (
	hxIP     = 14      // IP header
	hxIGMP   = 14 + 24 // IGMP message
	hxHBH    = 14 + 40 // IPv6 Hop-by-Hop header
	hxICMPv6 = 14 + 48 // ICMPv6 message
)

// Addresses the hostile frames use. Groups in 239.66/16 and ff0e::66:0/112
// are ones the daemon would learn if it accepted the frame; none may ever
// show up in its tables.
var (
	hxSrc4      = netip.MustParseAddr("10.77.0.12") // h2's address
	hxLL        = netip.MustParseAddr("fe80::77:12")
	hxQuerierLL = netip.MustParseAddr("fe80::ffff:ffff:ffff:fffe") // never wins an election
	hxGlobal    = netip.MustParseAddr("fd77::12")
	hxUnicast4  = netip.MustParseAddr("10.1.1.1")
	hxUnicast6  = netip.MustParseAddr("fd77::99")
	hxLocal4    = netip.MustParseAddr("224.0.0.5")
	hxAllNodes  = netip.MustParseAddr("ff02::1")
	hxIfLocal6  = netip.MustParseAddr("ff01::5")
)

func hxGroup4(i int) netip.Addr { return netip.AddrFrom4([4]byte{239, 66, 0, byte(i)}) }
func hxGroup6(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x0e, 12: 0, 13: 0x66, 15: byte(i)})
}

// hxSum is the Internet checksum (RFC 1071) of b after the partial sum s.
func hxSum(s uint32, b []byte) uint16 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// hxFixIP recomputes the IPv4 header checksum of frame f.
func hxFixIP(f []byte) []byte {
	ihl := int(f[hxIP]&0x0f) * 4
	f[hxIP+10], f[hxIP+11] = 0, 0
	binary.BigEndian.PutUint16(f[hxIP+10:], hxSum(0, f[hxIP:hxIP+ihl]))
	return f
}

// hxFixIGMP recomputes the IGMP checksum over the whole IP payload (as far
// as the frame holds it), then the IPv4 header checksum.
func hxFixIGMP(f []byte) []byte {
	ihl := int(f[hxIP]&0x0f) * 4
	end := min(hxIP+int(binary.BigEndian.Uint16(f[hxIP+2:])), len(f))
	p := f[hxIP+ihl : end]
	p[2], p[3] = 0, 0
	binary.BigEndian.PutUint16(p[2:], hxSum(0, p))
	return hxFixIP(f)
}

// hxSetIGMP replaces the IGMP message of an encoder frame with p (its
// checksum recomputed) and fixes the IP total length.
func hxSetIGMP(f, p []byte) []byte {
	f = append(f[:hxIGMP:hxIGMP], p...)
	binary.BigEndian.PutUint16(f[hxIP+2:], uint16(24+len(p)))
	return hxFixIGMP(f)
}

// hxSetOptions replaces the IPv4 options (the encoder's Router Alert) of
// an encoder frame with opts, a multiple of 4 bytes, with valid checksums.
func hxSetOptions(f, opts []byte) []byte {
	igmp := slices.Clone(f[hxIGMP:])
	out := append(slices.Clone(f[:hxIP+20]), opts...)
	out = append(out, igmp...)
	out[hxIP] = 0x40 | byte((20+len(opts))/4)
	binary.BigEndian.PutUint16(out[hxIP+2:], uint16(20+len(opts)+len(igmp)))
	return hxFixIGMP(out)
}

// hxPlen sets the IPv6 payload length of f to what follows the header.
func hxPlen(f []byte) []byte {
	binary.BigEndian.PutUint16(f[hxIP+4:], uint16(len(f)-hxIP-40))
	return f
}

// hxFixICMPv6 recomputes the checksum of the ICMPv6 message at offset off
// of f, pseudo-header included (RFC 8200 §8.1).
func hxFixICMPv6(f []byte, off int) []byte {
	p := f[off : hxIP+40+int(binary.BigEndian.Uint16(f[hxIP+4:]))]
	p[2], p[3] = 0, 0
	var ph [40]byte
	copy(ph[0:32], f[hxIP+8:hxIP+40])
	binary.BigEndian.PutUint32(ph[32:], uint32(len(p)))
	ph[39] = 58
	var s uint32
	for i := 0; i < 40; i += 2 {
		s += uint32(ph[i])<<8 | uint32(ph[i+1])
	}
	binary.BigEndian.PutUint16(p[2:], hxSum(s, p))
	return f
}

// hxSetICMPv6 replaces the ICMPv6 message of an encoder frame with p and
// fixes the payload length and checksum.
func hxSetICMPv6(f, p []byte) []byte {
	f = append(f[:hxICMPv6:hxICMPv6], p...)
	return hxFixICMPv6(hxPlen(f), hxICMPv6)
}

// hxSetExt replaces the Hop-by-Hop header of an encoder frame with the
// extension headers ext, of which the IPv6 header's next header is first
// (the last one's must be 58), and fixes length and checksum.
func hxSetExt(f []byte, first byte, ext []byte) []byte {
	icmp := slices.Clone(f[hxICMPv6:])
	out := append(slices.Clone(f[:hxHBH]), ext...)
	out = append(out, icmp...)
	out[hxIP+6] = first
	return hxFixICMPv6(hxPlen(out), hxHBH+len(ext))
}

// hxSetSrc6 replaces the IPv6 source of an encoder frame and fixes the
// ICMPv6 checksum, which covers it.
func hxSetSrc6(f []byte, src netip.Addr) []byte {
	a := src.As16()
	copy(f[hxIP+8:], a[:])
	return hxFixICMPv6(f, hxICMPv6)
}

// hxRecord is an IGMPv3 or MLDv2 group record with free counts.
func hxRecord(typ byte, aux byte, nsrc uint16, group netip.Addr, sources ...netip.Addr) []byte {
	r := []byte{typ, aux, 0, 0}
	binary.BigEndian.PutUint16(r[2:], nsrc)
	r = append(r, group.AsSlice()...)
	for _, s := range sources {
		r = append(r, s.AsSlice()...)
	}
	return r
}

// hxReportV3 is an IGMPv3 (type 0x22) or MLDv2 (143) report header with
// record count n, followed by body.
func hxReportV3(typ byte, n uint16, body ...[]byte) []byte {
	p := []byte{typ, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(p[6:], n)
	for _, b := range body {
		p = append(p, b...)
	}
	return p
}

func hxMust(f []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return f
}

// hostileCases builds the table. mac is the sending host's MAC address.
func hostileCases(mac net.HardwareAddr) []hostileCase {
	report := func(v int, g netip.Addr) []byte {
		return hxMust(wire.EncodeReport(wire.Report{Version: v, SrcMAC: mac, Src: hxSrc4, Group: g}))
	}
	reportV3 := func(recs ...wire.GroupRecord) []byte {
		return hxMust(wire.EncodeReport(wire.Report{Version: 3, SrcMAC: mac, Src: hxSrc4, Records: recs}))
	}
	leave := func(g netip.Addr) []byte {
		return hxMust(wire.EncodeReport(wire.Report{Version: 2, Leave: true, SrcMAC: mac, Src: hxSrc4, Group: g}))
	}
	// Queries come from 0.0.0.0: a source the kernel bridge never makes a
	// router port, so the hostile queries it also sees leave forwarding
	// alone; the daemon refuses them before looking at the source.
	query := func(v int, g netip.Addr) []byte {
		q := wire.Query{Version: v, SrcMAC: mac, Src: netip.IPv4Unspecified(), Group: g, MaxResp: time.Second}
		return hxMust(wire.EncodeQuery(q))
	}
	mld := func(v int, src, g netip.Addr) []byte {
		return hxMust(wire.EncodeReport(wire.Report{Version: v, SrcMAC: mac, Src: src, Group: g}))
	}
	mldV2 := func(recs ...wire.GroupRecord) []byte {
		return hxMust(wire.EncodeReport(wire.Report{Version: 2, SrcMAC: mac, Src: hxLL, Records: recs}))
	}
	mldQuery := func(v int, g netip.Addr) []byte {
		q := wire.Query{Version: v, SrcMAC: mac, Src: hxQuerierLL, Group: g, MaxResp: time.Second}
		return hxMust(wire.EncodeQuery(q))
	}
	isEx := func(g netip.Addr, srcs ...netip.Addr) wire.GroupRecord {
		return wire.GroupRecord{Type: wire.ModeIsExclude, Group: g, Sources: srcs}
	}
	with := func(f []byte, edit func(f []byte) []byte) []byte { return edit(slices.Clone(f)) }
	put16 := func(f []byte, off int, v uint16) []byte { binary.BigEndian.PutUint16(f[off:], v); return f }
	setDst4 := func(f []byte, a netip.Addr) []byte { copy(f[hxIP+16:], a.AsSlice()); return f }
	setDst6 := func(f []byte, a netip.Addr) []byte { copy(f[hxIP+24:], a.AsSlice()); return f }
	multicastMAC := net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}

	// An IPv6 Hop-by-Hop header (next header nh) holding opts, padded
	// with PadN to a multiple of 8 bytes.
	hbh := func(nh byte, opts ...byte) []byte {
		h := append([]byte{nh, 0}, opts...)
		switch pad := (8 - len(h)%8) % 8; pad {
		case 0:
		case 1:
			h = append(h, 0) // Pad1
		default:
			h = append(h, 1, byte(pad-2))
			h = append(h, make([]byte, pad-2)...)
		}
		h[1] = byte(len(h)/8 - 1)
		return h
	}
	ra := []byte{5, 2, 0, 0} // Router Alert, MLD
	destOpts := func(nh byte) []byte { return []byte{nh, 0, 1, 4, 0, 0, 0, 0} }

	var cs []hostileCase
	add := func(c hostileCase) { cs = append(cs, c) }

	// --- IPv4 header ---
	add(hostileCase{name: "ipv4 header of 10 bytes", refused: "truncated",
		frame: append(slices.Clone(report(2, hxGroup4(1))[:hxIP]), 0x45, 0, 0, 24, 0, 0, 0x40, 0, 1, 2)})
	add(hostileCase{name: "ipv4 total length beyond frame", refused: "truncated",
		frame: with(report(2, hxGroup4(2)), func(f []byte) []byte { return hxFixIP(put16(f, hxIP+2, 200)) })})
	add(hostileCase{name: "ip version 6 in an ipv4 frame", refused: "bad_ip_header",
		frame: with(report(2, hxGroup4(3)), func(f []byte) []byte { f[hxIP] = 0x66; return hxFixIP(f) })})
	add(hostileCase{name: "ipv4 header length 16", refused: "bad_ip_header",
		frame: with(report(2, hxGroup4(4)), func(f []byte) []byte { f[hxIP] = 0x44; return f })})
	add(hostileCase{name: "ipv4 total length below header length", refused: "bad_ip_header",
		frame: with(report(2, hxGroup4(5)), func(f []byte) []byte { return hxFixIP(put16(f, hxIP+2, 20)) })})
	add(hostileCase{name: "bad ip checksum", refused: "bad_ip_checksum",
		frame: with(report(2, hxGroup4(6)), func(f []byte) []byte { f[hxIP+10] ^= 0x5a; return f })})
	add(hostileCase{name: "ip option of length 0", refused: "bad_ip_header",
		frame: hxSetOptions(report(2, hxGroup4(7)), []byte{0x07, 0x00, 0, 0})})
	add(hostileCase{name: "ip option of length 1", refused: "bad_ip_header",
		frame: hxSetOptions(report(2, hxGroup4(8)), []byte{0x94, 0x01, 0, 0})})
	add(hostileCase{name: "ip option longer than the header", refused: "bad_ip_header",
		frame: hxSetOptions(report(2, hxGroup4(9)), []byte{0x44, 40, 0, 0})})
	add(hostileCase{name: "ip option type without length byte", refused: "bad_ip_header",
		frame: hxSetOptions(report(2, hxGroup4(10)), []byte{1, 1, 1, 0x83})})
	add(hostileCase{name: "40 bytes of garbage ip options", refused: "bad_ip_header",
		frame: hxSetOptions(report(2, hxGroup4(11)), func() []byte {
			o := make([]byte, 40)
			r := rand.New(rand.NewPCG(40, 40))
			for i := range o {
				o[i] = byte(r.Uint32())
			}
			o[0], o[1] = 0x83, 0xfe // loose source route claiming 254 bytes
			return o
		}())})
	add(hostileCase{name: "ipv4 more fragments", refused: "fragment",
		frame: with(report(2, hxGroup4(12)), func(f []byte) []byte { return hxFixIP(put16(f, hxIP+6, 0x2000)) })})
	add(hostileCase{name: "ipv4 fragment offset 185", refused: "fragment",
		frame: with(report(2, hxGroup4(13)), func(f []byte) []byte { return hxFixIP(put16(f, hxIP+6, 185)) })})
	add(hostileCase{name: "ipv4 fragment of a v3 report", refused: "fragment",
		frame: with(reportV3(isEx(hxGroup4(14))), func(f []byte) []byte { return hxFixIP(put16(f, hxIP+6, 0x2000|64)) })})

	// --- impossible sources (RFC 1812 §5.3.7) ---
	for i, src := range []string{"224.0.0.9", "255.255.255.255", "127.0.0.1", "240.0.0.1"} {
		src := netip.MustParseAddr(src)
		add(hostileCase{name: "report from " + src.String(), refused: "bad_source",
			frame: hxMust(wire.EncodeReport(wire.Report{Version: 2, SrcMAC: mac, Src: src, Group: hxGroup4(40 + i)}))})
	}
	add(hostileCase{name: "query from 127.0.0.1", refused: "bad_source",
		frame: hxMust(wire.EncodeQuery(wire.Query{Version: 2, SrcMAC: mac, Src: netip.MustParseAddr("127.0.0.1"), MaxResp: time.Second}))})

	// --- IGMP message ---
	add(hostileCase{name: "igmp of 4 bytes", refused: "truncated",
		frame: hxSetIGMP(report(2, hxGroup4(15)), []byte{0x16, 0, 0, 0})})
	add(hostileCase{name: "igmpv3 report of 7 bytes", refused: "truncated",
		frame: hxSetIGMP(report(2, hxGroup4(16)), []byte{0x22, 0, 0, 0, 0, 0, 0})})
	add(hostileCase{name: "bad igmp checksum", refused: "bad_igmp_checksum",
		frame: with(report(2, hxGroup4(17)), func(f []byte) []byte { f[hxIGMP+2] ^= 0xff; return f })})
	add(hostileCase{name: "igmp checksum not covering extra octets", refused: "bad_igmp_checksum",
		frame: with(report(2, hxGroup4(18)), func(f []byte) []byte {
			f = append(f, 0xde, 0xad, 0xbe, 0xef) // extra octets, checksum left as for 8 bytes
			return hxFixIP(put16(f, hxIP+2, 24+12))
		})})
	add(hostileCase{name: "igmpv3 report with bad checksum", refused: "bad_igmp_checksum",
		frame: with(reportV3(isEx(hxGroup4(19))), func(f []byte) []byte { f[hxIGMP+3]++; return f })})
	add(hostileCase{name: "multicast source mac", refused: "bad_source_mac",
		frame: with(report(2, hxGroup4(20)), func(f []byte) []byte { copy(f[6:12], multicastMAC); return f })})
	add(hostileCase{name: "all-zero source mac", refused: "bad_source_mac",
		frame: with(report(2, hxGroup4(21)), func(f []byte) []byte { clear(f[6:12]); return f })})

	// --- reports for groups never learned ---
	bad4 := func(typ byte, g netip.Addr) []byte {
		f := report(2, hxGroup4(22))
		return hxSetIGMP(setDst4(f, g), append([]byte{typ, 0, 0, 0}, g.AsSlice()...))
	}
	add(hostileCase{name: "igmpv1 report for 10.1.1.1", refused: "bad_group", frame: bad4(0x12, hxUnicast4)})
	add(hostileCase{name: "igmpv2 report for 10.1.1.1", refused: "bad_group", frame: bad4(0x16, hxUnicast4)})
	add(hostileCase{name: "igmpv2 report for 0.0.0.0", refused: "bad_group", frame: bad4(0x16, netip.IPv4Unspecified())})
	add(hostileCase{name: "igmpv2 report for 255.255.255.255", refused: "bad_group", frame: bad4(0x16, netip.MustParseAddr("255.255.255.255"))})
	add(hostileCase{name: "igmpv2 leave for 10.1.1.1", refused: "bad_group",
		frame: hxSetIGMP(leave(hxGroup4(23)), append([]byte{0x17, 0, 0, 0}, hxUnicast4.AsSlice()...))})
	add(hostileCase{name: "igmpv2 report for 224.0.0.5", ignored: "link_local_or_invalid_group", frame: report(2, hxLocal4)})
	add(hostileCase{name: "igmpv1 report for 224.0.0.5", ignored: "link_local_or_invalid_group", frame: report(1, hxLocal4)})
	add(hostileCase{name: "igmpv3 record for 10.1.1.1", refused: "bad_group",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 1, hxRecord(2, 0, 0, hxUnicast4)))})
	add(hostileCase{name: "igmpv3 record for 0.0.0.0", refused: "bad_group",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 1, hxRecord(4, 0, 0, netip.IPv4Unspecified())))})
	add(hostileCase{name: "igmpv3 record for 224.0.0.5", ignored: "link_local_or_invalid_group", frame: reportV3(isEx(hxLocal4))})
	add(hostileCase{name: "igmpv3 records for 224.0.0.x only", ignored: "link_local_or_invalid_group", perFrame: 3,
		frame: reportV3(isEx(netip.MustParseAddr("224.0.0.1")), isEx(netip.MustParseAddr("224.0.0.2")), isEx(netip.MustParseAddr("224.0.0.251")))})

	// --- IGMPv3 records and counts ---
	add(hostileCase{name: "igmpv3 record count 65535, one record", refused: "bad_record",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 0xffff, hxRecord(2, 0, 0, hxGroup4(24))))})
	add(hostileCase{name: "igmpv3 record count 1, no record", refused: "bad_record",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 1))})
	add(hostileCase{name: "igmpv3 source count 1000, one source", refused: "bad_record",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 1, hxRecord(1, 0, 1000, hxGroup4(25), hxSrc4)))})
	add(hostileCase{name: "igmpv3 aux data length 255 words", refused: "bad_record",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 1, hxRecord(2, 255, 0, hxGroup4(26)), make([]byte, 16)))})
	add(hostileCase{name: "igmpv3 second record beyond message", refused: "bad_record",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 2, hxRecord(2, 0, 0, hxGroup4(27)), []byte{2, 0, 0, 0}))})

	// --- IGMP queries ---
	for _, n := range []int{9, 10, 11} {
		add(hostileCase{name: fmt.Sprintf("igmp query of %d bytes", n), refused: "bad_query_length",
			frame: with(query(2, netip.Addr{}), func(f []byte) []byte {
				return hxSetIGMP(f, append(slices.Clone(f[hxIGMP:]), make([]byte, n-8)...))
			})})
	}
	add(hostileCase{name: "igmpv3 general query to 224.0.0.2", refused: "bad_destination",
		frame: with(query(3, netip.Addr{}), func(f []byte) []byte { return hxFixIP(setDst4(f, wire.AllRouters)) })})
	add(hostileCase{name: "igmpv2 general query to 239.1.1.1", refused: "bad_destination",
		frame: with(query(2, netip.Addr{}), func(f []byte) []byte { return hxFixIP(setDst4(f, netip.MustParseAddr("239.1.1.1"))) })})
	add(hostileCase{name: "igmpv1 general query to unicast 10.77.0.11", refused: "bad_destination",
		frame: with(query(1, netip.Addr{}), func(f []byte) []byte { return hxFixIP(setDst4(f, netip.MustParseAddr("10.77.0.11"))) })})
	add(hostileCase{name: "igmp query for group 10.1.1.1", refused: "bad_group",
		frame: with(query(3, hxGroup4(28)), func(f []byte) []byte {
			copy(f[hxIGMP+4:], hxUnicast4.AsSlice())
			return hxFixIGMP(setDst4(f, hxUnicast4))
		})})
	add(hostileCase{name: "igmpv3 query source count beyond message", refused: "truncated",
		frame: with(query(3, hxGroup4(29)), func(f []byte) []byte { return hxFixIGMP(put16(f, hxIGMP+10, 500)) })})
	add(hostileCase{name: "igmpv3 general query with sources", refused: "bad_sources",
		frame: with(query(3, netip.Addr{}), func(f []byte) []byte {
			f = append(f, hxSrc4.AsSlice()...)
			put16(f, hxIGMP+10, 1)
			return hxFixIGMP(put16(f, hxIP+2, 24+16))
		})})

	// --- random bytes as IP protocol 2 ---
	// Fixed seeds of a PCG, whose output Go specifies, so every run sends
	// the same frames; TestHostileFramesDecode checks each reason against
	// the decoder without root.
	for _, c := range []struct {
		seed   uint64
		reason string
	}{{1, "bad_ip_header"}, {2, "bad_ip_header"}, {3, "bad_ip_header"}, {4, "bad_ip_header"}} {
		r := rand.New(rand.NewPCG(c.seed, 0xbad))
		f := slices.Clone(report(2, hxGroup4(30))[:hxIP])
		for range 20 + r.IntN(80) {
			f = append(f, byte(r.Uint32()))
		}
		f[hxIP+9] = 2
		add(hostileCase{name: fmt.Sprintf("random ip packet, protocol 2, seed %d", c.seed), refused: c.reason, frame: f})
	}
	for _, c := range []struct {
		seed       uint64
		fix        int // 1: total length fits, 2: and a valid header checksum
		reason     string
		whatsFixed string
	}{{5, 0, "truncated", ""}, {6, 0, "truncated", ""}, {7, 1, "bad_ip_checksum", ", total length right"},
		{16, 2, "fragment", ", length and checksum right"}, {17, 2, "fragment", ", length and checksum right"}} {
		// Version 4 and a 20-byte header, the rest random.
		r := rand.New(rand.NewPCG(c.seed, 0xbad))
		f := slices.Clone(report(2, hxGroup4(31))[:hxIP])
		for range 20 + r.IntN(80) {
			f = append(f, byte(r.Uint32()))
		}
		f[hxIP], f[hxIP+9] = 0x45, 2
		if c.fix > 0 {
			put16(f, hxIP+2, uint16(len(f)-hxIP))
		}
		if c.fix > 1 {
			hxFixIP(f)
		}
		add(hostileCase{name: fmt.Sprintf("random ipv4 header%s, protocol 2, seed %d", c.whatsFixed, c.seed), refused: c.reason, frame: f})
	}
	for _, seed := range []uint64{8, 9} {
		// A valid IPv4 header and random IGMP bytes.
		r := rand.New(rand.NewPCG(seed, 0xbad))
		p := make([]byte, 8+r.IntN(64))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		f := append(slices.Clone(report(2, hxGroup4(32))[:hxIGMP]), p...)
		add(hostileCase{name: fmt.Sprintf("random igmp bytes, seed %d", seed), refused: "bad_igmp_checksum",
			frame: hxFixIP(put16(f, hxIP+2, uint16(24+len(p))))})
	}
	for _, c := range []struct {
		seed   uint64
		typ    byte
		reason string
	}{{10, 0x22, "bad_record"}, {11, 0x22, "bad_record"}, {12, 0x11, "bad_group"}, {18, 0x16, "bad_group"}} {
		// Random bytes behind a known type and a correct checksum.
		r := rand.New(rand.NewPCG(c.seed, 0xbad))
		p := make([]byte, 13+r.IntN(64))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		p[0] = c.typ
		add(hostileCase{name: fmt.Sprintf("random igmp type %#x with valid checksum, seed %d", c.typ, c.seed), refused: c.reason,
			frame: hxSetIGMP(report(2, hxGroup4(33)), p)})
	}

	// --- oversize frames (the ports' MTU is raised to 9000 to carry them) ---
	add(hostileCase{name: "1600-byte igmpv3 report, record count beyond message", refused: "bad_record",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 0xffff, hxRecord(2, 0, 0, hxGroup4(34)), make([]byte, 1600-hxIGMP-16)))})
	add(hostileCase{name: "1600-byte igmpv2 report for 10.1.1.1", refused: "bad_group",
		frame: hxSetIGMP(report(2, hxGroup4(35)), append(append([]byte{0x16, 0, 0, 0}, hxUnicast4.AsSlice()...), make([]byte, 1600-hxIGMP-8)...))})
	for _, size := range []int{2049, 4000, 9014} {
		// Larger than the daemon's 2048-byte read buffer: the socket
		// hands over the first 2048 bytes, and the IP total length then
		// lies beyond the frame.
		// Valid records as far as they fit, then extra octets up to the
		// frame's end, all inside the IP packet and its checksums.
		var recs [][]byte
		for i := 0; 8+8*len(recs)+8 <= size-hxIGMP; i++ {
			recs = append(recs, hxRecord(2, 0, 0, hxGroup4(40+i%200)))
		}
		p := hxReportV3(0x22, uint16(len(recs)), recs...)
		p = append(p, make([]byte, size-hxIGMP-len(p))...)
		add(hostileCase{name: fmt.Sprintf("%d-byte igmpv3 report, truncated by the socket", size), refused: "truncated",
			frame: hxSetIGMP(reportV3(), p)})
	}

	// --- valid frames that teach nothing ---
	// An IGMP type the snooper does not interpret: RFC 4541 C4 says flood
	// it, so it is taken (received igmp_other) and nothing is learned.
	add(hostileCase{name: "unknown igmp type 0x99", accepted: "igmp_other",
		frame: hxSetIGMP(report(2, hxGroup4(36)), append([]byte{0x99, 0, 0, 0}, hxGroup4(36).AsSlice()...))})
	// Records of unknown types are skipped, the rest of the report still
	// processed (RFC 3376 §4.2.12), group unchecked: the report is taken
	// and the skipped record counted.
	add(hostileCase{name: "igmpv3 record of unknown type 7 for 10.1.1.1", ignored: "unknown_record_type",
		frame: hxSetIGMP(reportV3(), hxReportV3(0x22, 1, hxRecord(7, 0, 0, hxUnicast4)))})
	// Ethernet padding past the IP packet is dropped, so a frame cut by
	// the socket still decodes when the packet lies in its first 2048
	// bytes.
	add(hostileCase{name: "igmpv2 report for 224.0.0.5 padded to 4000 bytes", ignored: "link_local_or_invalid_group",
		frame: append(report(2, hxLocal4), make([]byte, 4000-46)...)})

	// --- IPv6 header and extension headers ---
	base6 := mld(1, hxLL, hxGroup6(1))
	add(hostileCase{name: "ipv6 header of 30 bytes", refused: "truncated", frame: slices.Clone(base6[:hxIP+30])})
	add(hostileCase{name: "ipv6 payload length beyond frame", refused: "truncated",
		frame: with(base6, func(f []byte) []byte { return put16(f, hxIP+4, 500) })})
	add(hostileCase{name: "ipv6 jumbogram (payload length 0)", refused: "bad_ip_header",
		frame: with(base6, func(f []byte) []byte { return put16(f, hxIP+4, 0) })})
	add(hostileCase{name: "ip version 4 in an ipv6 frame", refused: "bad_ip_header",
		frame: with(base6, func(f []byte) []byte { f[hxIP] = 0x40; return f })})
	add(hostileCase{name: "hop-by-hop header beyond packet", refused: "truncated",
		frame: with(base6, func(f []byte) []byte { f[hxHBH+1] = 10; return f })})
	add(hostileCase{name: "hop-by-hop options overrun", refused: "bad_ip_header",
		frame: hxSetExt(base6, 0, []byte{58, 0, 5, 2, 0, 0, 1, 7})})
	add(hostileCase{name: "router alert of length 4", refused: "bad_ip_header",
		frame: hxSetExt(base6, 0, []byte{58, 0, 5, 4, 0, 0, 0, 0})})
	add(hostileCase{name: "hop-by-hop header after destination options", refused: "bad_ip_header",
		frame: hxSetExt(base6, 0, append(hbh(60, ra...), append(destOpts(0), hbh(58, ra...)...)...))})
	add(hostileCase{name: "routing header with segments left", refused: "bad_ip_header",
		frame: hxSetExt(base6, 0, append(hbh(43, ra...), 58, 0, 0, 1, 0, 0, 0, 0))})
	add(hostileCase{name: "nine extension headers", refused: "bad_ip_header",
		frame: func() []byte {
			ext := hbh(60, ra...)
			for i := range 8 {
				nh := byte(60)
				if i == 7 {
					nh = 58
				}
				ext = append(ext, destOpts(nh)...)
			}
			return hxSetExt(base6, 0, ext)
		}()})
	add(hostileCase{name: "mld in an ipv6 first fragment", refused: "fragment",
		frame: hxSetExt(base6, 0, append(hbh(44, ra...), 58, 0, 0, 1, 0, 0, 0, 42))})
	add(hostileCase{name: "mld in an ipv6 fragment at offset 8", refused: "fragment",
		frame: hxSetExt(base6, 0, append(hbh(44, ra...), 58, 0, 0, 8, 0, 0, 0, 43))})
	add(hostileCase{name: "hop-by-hop then udp", refused: "not_mld",
		frame: with(base6, func(f []byte) []byte { f[hxHBH] = 17; return f })})
	add(hostileCase{name: "hop-by-hop then neighbour solicitation", refused: "not_mld",
		frame: hxSetICMPv6(base6, append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, hxLL.AsSlice()...))})

	// --- MLD validity ---
	add(hostileCase{name: "mldv1 report of 12 bytes", refused: "truncated",
		frame: hxSetICMPv6(base6, []byte{131, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x0e, 0, 0})})
	add(hostileCase{name: "mldv2 report of 6 bytes", refused: "truncated",
		frame: hxSetICMPv6(base6, []byte{143, 0, 0, 0, 0, 0})})
	add(hostileCase{name: "icmpv6 message of 2 bytes", refused: "truncated",
		frame: hxPlen(hxSetICMPv6(base6, []byte{131, 0, 0, 0})[:hxICMPv6+2])})
	add(hostileCase{name: "bad icmpv6 checksum", refused: "bad_icmpv6_checksum",
		frame: with(base6, func(f []byte) []byte { f[hxICMPv6+2] ^= 0xff; return f })})
	add(hostileCase{name: "icmpv6 checksum without pseudo-header", refused: "bad_icmpv6_checksum",
		frame: with(base6, func(f []byte) []byte {
			p := f[hxICMPv6:]
			p[2], p[3] = 0, 0
			put16(p, 2, hxSum(0, p))
			return f
		})})
	add(hostileCase{name: "mld multicast source mac", refused: "bad_source_mac",
		frame: with(base6, func(f []byte) []byte { copy(f[6:12], []byte{0x33, 0x33, 0, 0, 0, 1}); return f })})
	add(hostileCase{name: "mldv1 report without hop-by-hop", refused: "no_router_alert",
		frame: with(base6, func(f []byte) []byte {
			f = append(f[:hxHBH:hxHBH], f[hxICMPv6:]...)
			f[hxIP+6] = 58
			return hxFixICMPv6(hxPlen(f), hxHBH)
		})})
	add(hostileCase{name: "mldv2 report without hop-by-hop", refused: "no_router_alert",
		frame: with(mldV2(isEx(hxGroup6(2))), func(f []byte) []byte {
			f = append(f[:hxHBH:hxHBH], f[hxICMPv6:]...)
			f[hxIP+6] = 58
			return hxFixICMPv6(hxPlen(f), hxHBH)
		})})
	add(hostileCase{name: "hop-by-hop without router alert", refused: "no_router_alert",
		frame: hxSetExt(base6, 0, hbh(58))})
	add(hostileCase{name: "router alert value 1", refused: "no_router_alert",
		frame: hxSetExt(base6, 0, hbh(58, 5, 2, 0, 1))})
	add(hostileCase{name: "mldv2 report with hop limit 255", refused: "bad_hop_limit",
		frame: with(mldV2(isEx(hxGroup6(3))), func(f []byte) []byte { f[hxIP+7] = 255; return f })})
	add(hostileCase{name: "mld query with hop limit 64", refused: "bad_hop_limit",
		frame: with(mldQuery(2, netip.Addr{}), func(f []byte) []byte { f[hxIP+7] = 64; return f })})
	add(hostileCase{name: "mldv2 query from global source", refused: "bad_source",
		frame: hxSetSrc6(mldQuery(2, netip.Addr{}), hxGlobal)})
	add(hostileCase{name: "mldv1 query from ::", refused: "bad_source",
		frame: hxSetSrc6(mldQuery(1, netip.Addr{}), netip.IPv6Unspecified())})
	add(hostileCase{name: "mldv1 report from global source", refused: "bad_source",
		frame: hxSetSrc6(mld(1, hxLL, hxGroup6(4)), hxGlobal)})
	add(hostileCase{name: "mldv2 report from global source", refused: "bad_source",
		frame: hxSetSrc6(mldV2(isEx(hxGroup6(5))), hxGlobal)})

	// --- MLD groups never learned ---
	add(hostileCase{name: "mldv1 report for ff02::1", ignored: "link_local_or_invalid_group", frame: mld(1, hxLL, hxAllNodes)})
	add(hostileCase{name: "mldv1 report for ff01::5", ignored: "link_local_or_invalid_group", frame: mld(1, hxLL, hxIfLocal6)})
	add(hostileCase{name: "mldv2 record for ff02::1", ignored: "link_local_or_invalid_group", frame: mldV2(isEx(hxAllNodes))})
	add(hostileCase{name: "mldv1 report for fd77::99", refused: "bad_group",
		frame: with(mld(1, hxLL, hxGroup6(6)), func(f []byte) []byte {
			copy(f[hxICMPv6+8:], hxUnicast6.AsSlice())
			return hxFixICMPv6(setDst6(f, hxUnicast6), hxICMPv6)
		})})
	add(hostileCase{name: "mld done for ::", refused: "bad_group",
		frame: with(hxMust(wire.EncodeReport(wire.Report{Version: 1, Leave: true, SrcMAC: mac, Src: hxLL, Group: hxGroup6(7)})),
			func(f []byte) []byte { clear(f[hxICMPv6+8 : hxICMPv6+24]); return hxFixICMPv6(f, hxICMPv6) })})
	add(hostileCase{name: "mldv2 record for fd77::99", refused: "bad_group",
		frame: hxSetICMPv6(mldV2(), hxReportV3(143, 1, hxRecord(2, 0, 0, hxUnicast6)))})

	// --- MLDv2 records and counts ---
	add(hostileCase{name: "mldv2 record count 65535, one record", refused: "bad_record",
		frame: hxSetICMPv6(mldV2(), hxReportV3(143, 0xffff, hxRecord(2, 0, 0, hxGroup6(8))))})
	add(hostileCase{name: "mldv2 source count 4096, one source", refused: "bad_record",
		frame: hxSetICMPv6(mldV2(), hxReportV3(143, 1, hxRecord(1, 0, 4096, hxGroup6(9), hxGlobal)))})
	add(hostileCase{name: "mldv2 aux data length 255 words", refused: "bad_record",
		frame: hxSetICMPv6(mldV2(), hxReportV3(143, 1, hxRecord(2, 255, 0, hxGroup6(10)), make([]byte, 32)))})

	// --- MLD queries ---
	for _, n := range []int{25, 26, 27} {
		add(hostileCase{name: fmt.Sprintf("mld query of %d bytes", n), refused: "bad_query_length",
			frame: with(mldQuery(1, netip.Addr{}), func(f []byte) []byte {
				return hxSetICMPv6(f, append(slices.Clone(f[hxICMPv6:]), make([]byte, n-24)...))
			})})
	}
	add(hostileCase{name: "mldv2 general query to ff02::2", refused: "bad_destination",
		frame: with(mldQuery(2, netip.Addr{}), func(f []byte) []byte {
			return hxFixICMPv6(setDst6(f, wire.AllRouters6), hxICMPv6)
		})})
	add(hostileCase{name: "mld query for fd77::99", refused: "bad_group",
		frame: with(mldQuery(2, hxGroup6(11)), func(f []byte) []byte {
			copy(f[hxICMPv6+8:], hxUnicast6.AsSlice())
			return hxFixICMPv6(f, hxICMPv6)
		})})
	add(hostileCase{name: "mldv2 query source count beyond message", refused: "truncated",
		frame: with(mldQuery(2, hxGroup6(12)), func(f []byte) []byte { return hxFixICMPv6(put16(f, hxICMPv6+26, 300), hxICMPv6) })})
	add(hostileCase{name: "mldv2 general query with sources", refused: "bad_sources",
		frame: with(mldQuery(2, netip.Addr{}), func(f []byte) []byte {
			f = append(f, hxGlobal.AsSlice()...)
			put16(f, hxICMPv6+26, 1)
			return hxFixICMPv6(hxPlen(f), hxICMPv6)
		})})

	// --- random IPv6 and oversize MLD ---
	for _, c := range []struct {
		seed   uint64
		fix    bool // a valid checksum
		reason string
	}{{13, false, "bad_icmpv6_checksum"}, {14, false, "bad_icmpv6_checksum"}, {15, true, "bad_group"}, {19, true, "bad_group"}, {20, true, "truncated"}} {
		// IPv6 with a Hop-by-Hop header carrying a Router Alert, then
		// random bytes as ICMPv6 of an MLD type.
		r := rand.New(rand.NewPCG(c.seed, 0xbad))
		p := make([]byte, 4+r.IntN(60))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		p[0] = []byte{130, 131, 132, 143}[r.IntN(4)]
		f := hxPlen(append(slices.Clone(base6[:hxICMPv6]), p...))
		name := fmt.Sprintf("random mld bytes, seed %d", c.seed)
		if c.fix {
			hxFixICMPv6(f, hxICMPv6)
			name = fmt.Sprintf("random mld type %d with valid checksum, seed %d", p[0], c.seed)
		}
		add(hostileCase{name: name, refused: c.reason, frame: f})
	}
	add(hostileCase{name: "4000-byte mldv2 report, truncated by the socket", refused: "truncated",
		frame: func() []byte {
			var recs []wire.GroupRecord
			for i := range (4000 - hxICMPv6 - 8) / 20 {
				recs = append(recs, isEx(hxGroup6(20+i%200)))
			}
			return mldV2(recs...)
		}()})
	return cs
}

// hxHostileGroups hold every group a hostile frame names.
var hxHostileGroups = []netip.Prefix{
	netip.MustParsePrefix("239.66.0.0/16"), netip.MustParsePrefix("ff0e::66:0/112"),
	netip.MustParsePrefix("224.0.0.0/24"), netip.MustParsePrefix("0.0.0.0/32"),
	netip.MustParsePrefix("255.255.255.255/32"), netip.PrefixFrom(hxUnicast4, 32),
	netip.PrefixFrom(hxUnicast6, 128), netip.PrefixFrom(hxAllNodes, 128), netip.MustParsePrefix("ff01::/16"),
}

// nothingLearned checks the daemon's table and its MDB entries hold
// nothing the hostile frames from host h could have taught: h's port has
// only the solicited-node groups (ff02::1:ff00:0/104) its own kernel
// joined, the only IPv4 membership is member4 (on another port), and no
// group a hostile frame named is anywhere. It returns the memberships as
// group@port, and the MDB entries on ports that the kernel learned itself
// (none while every port's guard drops what the kernel would learn from).
func nothingLearned(t *testing.T, l *lab.Lab, d *lab.Daemon, h lab.Host, member4 netip.Addr) (rows []string, kernel []bridge.Entry) {
	t.Helper()
	solicited := netip.MustParsePrefix("ff02::1:ff00:0/104")
	why := func(g netip.Addr, onH bool) string {
		for _, p := range hxHostileGroups {
			if p.Contains(g) {
				return "a group the hostile frames named"
			}
		}
		switch {
		case onH && !solicited.Contains(g):
			return "on the hostile port, and not its own solicited-node group"
		case g.Is4() && (g != member4 || onH):
			return "an IPv4 membership other than the member's"
		}
		return ""
	}
	var gs groupsJSON
	if err := d.Show("groups", &gs); err != nil {
		t.Fatalf("show groups: %v", err)
	}
	for _, g := range gs.Groups {
		rows = append(rows, g.Group+"@"+g.Port)
		a, err := netip.ParseAddr(g.Group)
		if err != nil {
			t.Fatalf("show groups: group %q: %v", g.Group, err)
		}
		if w := why(a, g.Port == h.Port); w != "" {
			t.Errorf("show groups: %v on %s: %s", a, g.Port, w)
		}
	}
	hIndex := portIndex(t, l, h.Port)
	all, byGroup := portEntries(l, mdb(t, l))
	for g, es := range byGroup {
		for _, e := range es {
			if e.Proto != ourProto {
				kernel = append(kernel, e) // learned by the kernel: the guard let a frame through
				continue
			}
			if w := why(g, e.Port == hIndex); w != "" {
				t.Errorf("MDB entry %v on port %d: %s (all: %v)", g, e.Port, w, all)
			}
		}
	}
	return rows, kernel
}

// hxDeleteEntries removes MDB entries from the lab's bridge.
func hxDeleteEntries(t *testing.T, l *lab.Lab, es []bridge.Entry) {
	t.Helper()
	err := lab.InNetns(l.Switch, func() error {
		m, err := bridge.OpenMDBBatch()
		if err != nil {
			return err
		}
		defer m.Close()
		for _, e := range es {
			if err := m.Delete(e); err != nil {
				return fmt.Errorf("delete %v: %w", e, err)
			}
		}
		return errors.Join(m.Flush()...)
	})
	if err != nil {
		t.Fatalf("MDB: %v", err)
	}
}

type hxStatsJSON struct {
	Stats []snoop.Stats `json:"stats"`
}

func hostileStats(t *testing.T, d *lab.Daemon) snoop.Stats {
	t.Helper()
	var s hxStatsJSON
	if err := d.Show("stats", &s); err != nil {
		t.Fatalf("show stats: %v", err)
	}
	if len(s.Stats) != 1 {
		t.Fatalf("show stats: %d bridges, want 1", len(s.Stats))
	}
	return s.Stats[0]
}

// hxStatsDelta returns every refused and ignored counter, overall and of
// port, that differs between a and b, by name ("refused[x]",
// "h2.ignored[y]"), with its change.
func hxStatsDelta(a, b snoop.Stats, port string) map[string]int64 {
	d := map[string]int64{}
	diff := func(prefix string, x, y map[string]uint64) {
		for k := range y {
			if n := int64(y[k]) - int64(x[k]); n != 0 {
				d[prefix+"["+k+"]"] = n
			}
		}
		for k := range x {
			if _, ok := y[k]; !ok && x[k] != 0 {
				d[prefix+"["+k+"]"] = -int64(x[k])
			}
		}
	}
	diff("refused", a.Refused, b.Refused)
	diff("ignored", a.Ignored, b.Ignored)
	diff(port+".refused", a.Ports[port].Refused, b.Ports[port].Refused)
	diff(port+".ignored", a.Ports[port].Ignored, b.Ports[port].Ignored)
	return d
}

// TestHostileFrames injects from a host's namespace dozens of kinds of
// malformed and hostile IGMP and MLD frames (issue #6): the daemon stays
// up, learns nothing from them, a member on another port keeps receiving,
// and each frame is counted under a named reason in `show stats`, on the
// port it came from.
func TestHostileFrames(t *testing.T) {
	needRoot(t)
	l := newLab(t, lab.Config{Hosts: 3, IPv6: true})
	h1, h2, h3 := l.Hosts[0], l.Hosts[1], l.Hosts[2]
	// Oversize frames need a path that carries them: veths drop frames
	// above the receiving end's MTU, and a packet socket refuses to send
	// beyond its device's. The bridge keeps the 1500 of its other ports.
	if err := l.Run(h2.Name, "ip", "link", "set", "eth0", "mtu", "9000"); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(l.Switch, "ip", "link", "set", h2.Port, "mtu", "9000"); err != nil {
		t.Fatal(err)
	}
	caps := captures(t, l, h1.Name, h3.Name, l.Router)
	d := startDaemon(t, l, fastTimers...)
	waitFor(t, 10*time.Second, "IGMP and MLD queriers heard", func() (bool, string) {
		q4, q6 := querierOf(t, d, "igmp"), querierOf(t, d, "mld")
		return q4.Present && q6.Present && !q6.Self, fmt.Sprintf("igmp %+v mld %+v", q4, q6)
	})

	gv4, gv6 := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("ff0e::77:1")
	for _, g := range []netip.Addr{gv4, gv6} {
		m, err := l.Join(h1, g)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Leave()
		waitFor(t, 10*time.Second, fmt.Sprintf("%v learned on %s", g, h1.Port), func() (bool, string) {
			_, ok, seen := member(t, d, g, h1.Port)
			return ok, seen
		})
	}
	time.Sleep(1500 * time.Millisecond) // the bridge floods for one response interval after a new querier
	delivery := func(when string) {
		t.Helper()
		for _, g := range []netip.Addr{gv4, gv6} {
			expectDelivery(t, l, g, 20, map[string]int{h1.Name: 20, h3.Name: 0, l.Router: 20}, caps)
		}
		if t.Failed() {
			t.Fatalf("delivery %s the hostile frames failed", when)
		}
	}
	delivery("before")

	conn, mac, err := lab.RawSocket(h2.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	cases := hostileCases(mac)
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("case %q twice", c.name)
		}
		names[c.name] = true
	}
	var table []string
	for _, c := range cases {
		ok := t.Run(c.name, func(t *testing.T) {
			key, per := "", max(c.perFrame, 1)
			switch {
			case c.refused != "":
				key = "refused[" + c.refused + "]"
			case c.ignored != "":
				key = "ignored[" + c.ignored + "]"
			}
			before := hostileStats(t, d)
			for range hostileSends {
				if _, err := conn.WriteTo(c.frame, &packet.Addr{HardwareAddr: net.HardwareAddr(c.frame[:6])}); err != nil {
					t.Fatalf("send %d-byte frame: %v", len(c.frame), err)
				}
			}
			want := int64(hostileSends * per)
			var delta map[string]int64
			var after snoop.Stats
			waitFor(t, 3*time.Second, "frames counted", func() (bool, string) {
				after = hostileStats(t, d)
				delta = hxStatsDelta(before, after, h2.Port)
				if key == "" {
					return after.Ports[h2.Port].Received-before.Ports[h2.Port].Received >= uint64(want), fmt.Sprint(delta)
				}
				return delta[h2.Port+"."+key] >= want, fmt.Sprint(delta)
			})
			time.Sleep(150 * time.Millisecond) // anything counted twice or late
			after = hostileStats(t, d)
			delta = hxStatsDelta(before, after, h2.Port)
			wantDelta := map[string]int64{}
			if key != "" {
				wantDelta[key], wantDelta[h2.Port+"."+key] = want, want
			} else {
				// Other hosts' messages count there too: at least ours.
				if n := after.Received[c.accepted] - before.Received[c.accepted]; n < uint64(want) {
					t.Errorf("received[%s] rose by %d, want at least %d", c.accepted, n, want)
				}
				if n := after.Ports[h2.Port].Received - before.Ports[h2.Port].Received; n < uint64(want) {
					t.Errorf("%s received rose by %d, want at least %d", h2.Port, n, want)
				}
			}
			if fmt.Sprint(delta) != fmt.Sprint(wantDelta) {
				t.Errorf("%d-byte frame sent %d times: counters changed by %v, want %v\nframe: % x",
					len(c.frame), hostileSends, delta, wantDelta, c.frame[:min(len(c.frame), 128)])
			}
			if d.Exited() {
				t.Fatalf("daemon exited: %v\n%s", d.Err(), d.Log())
			}
			if _, kernel := nothingLearned(t, l, d, h2, gv4); len(kernel) > 0 {
				// Gone at the daemon's next MDB check (every 10 s); removed
				// now so the next case starts clean.
				hxDeleteEntries(t, l, kernel)
				t.Fatalf("the kernel learned %v from the frame: the guard let it through", kernel)
			}
		})
		out := c.refused
		if c.ignored != "" {
			out = "ignored " + c.ignored
		}
		if c.accepted != "" {
			out = "accepted as " + c.accepted
		}
		mark := ""
		if !ok {
			mark = " FAILED"
		}
		table = append(table, fmt.Sprintf("%-58s %5d B  %s%s", c.name, len(c.frame), out, mark))
	}
	t.Logf("%d cases, each frame sent %d times:\n%s", len(cases), hostileSends, strings.Join(table, "\n"))

	if d.Exited() {
		t.Fatalf("daemon exited: %v", d.Err())
	}
	rows, kernel := nothingLearned(t, l, d, h2, gv4)
	if len(kernel) > 0 {
		t.Errorf("MDB entries learned by the kernel: %v", kernel)
	}
	for _, g := range []netip.Addr{gv4, gv6} {
		if _, ok, seen := member(t, d, g, h1.Port); !ok {
			t.Errorf("h1 lost %v: %s", g, seen)
		}
	}
	if t.Failed() {
		t.Fatalf("memberships after the hostile frames: %v", rows)
	}
	t.Logf("memberships after the hostile frames: %v", rows)
	delivery("after")
	if d.Exited() {
		t.Fatalf("daemon exited: %v", d.Err())
	}
}

// TestHostileFramesDecode checks the table against the decoder, without
// root: each frame (cut to the daemon's 2048-byte read buffer) is refused
// for the reason the table names, or decodes if the table expects it
// ignored or accepted.
func TestHostileFramesDecode(t *testing.T) {
	for _, c := range hostileCases(net.HardwareAddr{0x02, 0x77, 0, 0, 0, 0x12}) {
		_, err := wire.Decode(c.frame[:min(len(c.frame), 2048)])
		got := wire.ReasonOf(err).String()
		want := c.refused
		if want == "" {
			want = "none"
		}
		if got != want {
			t.Errorf("%s: decoder says %s (%v), table says %s", c.name, got, err, want)
		}
	}
}
