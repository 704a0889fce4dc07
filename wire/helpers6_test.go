package wire

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// Building blocks for hand-made IPv6 frames.

// llSrc is the link-local source most IPv6 tests use.
const llSrc = "fe80::1"

// hbhRA is a Hop-by-Hop header with a Router Alert for MLD and PadN, as
// Linux sends it; its next-header byte is filled in by raw6.
var hbhRA = []byte{0, 0, optRouterAlert, 2, 0, 0, 1, 0}

// ext6 is an extension header: its type and its bytes, whose first byte
// (next header) raw6 fills in.
type ext6 struct {
	typ  uint8
	body []byte
}

func hbh(body ...byte) ext6      { return ext6{nhHopByHop, body} }
func destOpts(body ...byte) ext6 { return ext6{nhDestOpts, body} }

// raw6 builds an untagged IPv6 frame from src to dst with the given hop
// limit, extension headers, upper-layer protocol and message. The message's
// checksum (bytes 2-3) is set with the pseudo-header when it is at least 4
// bytes long and proto is ICMPv6 or PIM.
func raw6(src, dst string, hop uint8, exts []ext6, proto uint8, msg []byte) []byte {
	f := make([]byte, 14, 128)
	d := addr(dst).As16()
	copy(f[0:6], []byte{0x33, 0x33, d[12], d[13], d[14], d[15]})
	copy(f[6:12], testMAC)
	f[12], f[13] = 0x86, 0xdd
	ip := make([]byte, 40)
	ip[0] = 0x60
	ip[7] = hop
	s := addr(src).As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	var chain []byte
	next := proto
	for i := len(exts) - 1; i >= 0; i-- {
		e := append([]byte(nil), exts[i].body...)
		if len(e) > 0 {
			e[0] = next
		}
		chain = append(e, chain...)
		next = exts[i].typ
	}
	ip[6] = next
	m := append([]byte(nil), msg...)
	if len(m) >= 4 && (proto == ipProtoICMPv6 || proto == ipProtoPIM) {
		m[2], m[3] = 0, 0
		binary.BigEndian.PutUint16(m[2:4], Checksum6(addr(src), addr(dst), proto, m))
	}
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(chain)+len(m)))
	f = append(f, ip...)
	f = append(f, chain...)
	return append(f, m...)
}

// mldFrame is an MLD message from src to dst as hosts send it: Hop Limit
// 1 and a Hop-by-Hop header with a Router Alert.
func mldFrame(src, dst string, msg []byte) []byte {
	return raw6(src, dst, 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, msg)
}

// mld1 is a 24-byte MLDv1 message (query, report or done).
func mld1(typ uint8, mrd uint16, group string) []byte {
	b := make([]byte, 24)
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], mrd)
	g := addr(group).As16()
	copy(b[8:], g[:])
	return b
}

// mld2Query is an MLDv2 query with the given code, flags byte (S|QRV),
// QQIC and sources.
func mld2Query(mrc uint16, group string, flags, qqic uint8, srcs ...string) []byte {
	b := mld1(TypeMLDQuery, mrc, group)
	b = append(b, flags, qqic, byte(len(srcs)>>8), byte(len(srcs)))
	for _, s := range srcs {
		a := addr(s).As16()
		b = append(b, a[:]...)
	}
	return b
}

// record6 is an MLDv2 multicast address record in wire form.
func record6(typ, auxWords uint8, nsrcs uint16, group string, tail ...byte) []byte {
	g := addr(group).As16()
	b := append([]byte{typ, auxWords, byte(nsrcs >> 8), byte(nsrcs)}, g[:]...)
	return append(b, tail...)
}

// mld2Report is an MLDv2 report header claiming n records, then body.
func mld2Report(n uint16, body ...[]byte) []byte {
	b := []byte{TypeMLDReportV2, 0, 0, 0, 0, 0, byte(n >> 8), byte(n)}
	for _, r := range body {
		b = append(b, r...)
	}
	return b
}

// a6 is the 16 bytes of an IPv6 address, for record tails.
func a6(s string) []byte {
	a := addr(s).As16()
	return a[:]
}

// icmp6Of returns the ICMPv6 message of an encoder-built MLD frame.
func icmp6Of(f []byte) []byte { return f[ipOffset(f)+40+hopByHopLen:] }

// ip6Of returns the IPv6 header and payload of a frame.
func ip6Of(f []byte) []byte { return f[ipOffset(f):] }

// mrd is an MRD message: type, advertisement interval, then for an
// advertisement the query interval and robustness.
func mrd(typ, interval uint8, qi, rv uint16) []byte {
	return []byte{typ, interval, 0, 0, byte(qi >> 8), byte(qi), byte(rv >> 8), byte(rv)}
}

// pimHello is a PIMv2 hello with a Holdtime option of 105 s (10 bytes);
// its checksum is left for the frame builder.
func pimHello() []byte { return []byte{0x20, 0, 0, 0, 0, 1, 0, 2, 0, 105} }

// pimHelloWith is a PIMv2 hello carrying opts; checksum left for the frame
// builder.
func pimHelloWith(opts ...[]byte) []byte {
	h := []byte{0x20, 0, 0, 0}
	for _, o := range opts {
		h = append(h, o...)
	}
	return h
}

// pimOpt is a hello option (RFC 7761 §4.9.2) of type typ whose length is
// that of value.
func pimOpt(typ uint16, value ...byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(value) >> 8), byte(len(value))}, value...)
}

// wantHoldtime checks a decoded PIM hello's Holdtime option.
func wantHoldtime(t *testing.T, m *Message, has bool, d time.Duration) {
	t.Helper()
	if m.Kind != KindPIMHello || m.HasHoldtime != has || m.Holdtime != d {
		t.Errorf("got %v with holdtime %v (present %v), want %v (present %v)", m, m.Holdtime, m.HasHoldtime, d, has)
	}
}

// rawIPv4 builds an untagged IPv4 frame with the given TTL and protocol
// from src to dst carrying payload; the payload checksum at bytes 2-3 is
// set when setSum is true.
func rawIPv4(src, dst string, ttl, proto uint8, payload []byte, setSum bool) []byte {
	f := rawFrame(src, dst, payload)
	ip := ipOf(f)
	ip[8], ip[9] = ttl, proto
	fixIP(f)
	p := igmpOf(f)
	if !setSum {
		copy(p, payload)
	}
	return f
}

var mldMaxResp10s = uint16(10 * time.Second / MLDMaxRespUnit)

func netipFrom16(b []byte) netip.Addr { return netip.AddrFrom16([16]byte(b)) }
