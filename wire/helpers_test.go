package wire

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var testMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = addr(s)
	}
	return out
}

// rawFrame builds an untagged frame from src to dst carrying igmp as the IP
// payload, with correct IP and IGMP checksums (the IGMP checksum field is
// overwritten), for tests that need bytes no encoder would produce.
func rawFrame(src, dst string, igmp []byte) []byte {
	b, p := appendHeaders(nil, testMAC, 0, addr(src), addr(dst), len(igmp))
	copy(p, igmp)
	if len(p) >= 4 {
		p[2], p[3] = 0, 0
		binary.BigEndian.PutUint16(p[2:4], Checksum(p))
	}
	return b
}

// ipOffset is where the IPv4 header starts in an encoder-built frame.
func ipOffset(f []byte) int {
	if binary.BigEndian.Uint16(f[12:14]) == 0x8100 {
		return 18
	}
	return 14
}

// fixIP recomputes the IPv4 header checksum after a test edited the header.
func fixIP(f []byte) []byte {
	o := ipOffset(f)
	ihl := int(f[o]&0x0f) * 4
	h := f[o : o+ihl]
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], Checksum(h))
	return f
}

// fixIGMP recomputes the IGMP checksum over the IP payload.
func fixIGMP(f []byte) []byte {
	o := ipOffset(f)
	ihl := int(f[o]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(f[o+2:]))
	p := f[o+ihl : o+total]
	p[2], p[3] = 0, 0
	binary.BigEndian.PutUint16(p[2:], Checksum(p))
	return f
}

func mustQuery(t testing.TB, q Query) []byte {
	t.Helper()
	f, err := EncodeQuery(q)
	if err != nil {
		t.Fatalf("EncodeQuery(%+v): %v", q, err)
	}
	return f
}

func mustReport(t testing.TB, r Report) []byte {
	t.Helper()
	f, err := EncodeReport(r)
	if err != nil {
		t.Fatalf("EncodeReport(%+v): %v", r, err)
	}
	return f
}

// normalized returns a deep copy of m with empty slices made nil, so that
// messages decoded into fresh and reused Messages compare equal.
func normalized(m *Message) *Message {
	c := m.Clone()
	if len(c.Sources) == 0 {
		c.Sources = nil
	}
	if len(c.Records) == 0 {
		c.Records = nil
	}
	for i := range c.Records {
		if len(c.Records[i].Sources) == 0 {
			c.Records[i].Sources = nil
		}
	}
	return c
}

func sameMessage(a, b *Message) bool { return reflect.DeepEqual(normalized(a), normalized(b)) }

// fixtureFrame is one frame of a capture, numbered from 1 as tcpdump does.
type fixtureFrame struct {
	n    int
	data []byte
}

func readPcap(t testing.TB, name string) []fixtureFrame {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("%s: link type %v, want Ethernet", name, r.LinkType())
	}
	var frames []fixtureFrame
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break // io.EOF; a torn capture shows as a frame count mismatch
		}
		frames = append(frames, fixtureFrame{n: len(frames) + 1, data: append([]byte(nil), data...)})
	}
	return frames
}

// fixtures is every capture in testdata, for golden tests and fuzz seeds.
var fixtures = []string{
	"IGMP_V1.pcap", "IGMP_V2.pcap", "igmpv3-queries.pcap", "eapon1.pcap",
	"mtrace.pcap", "mrinfo_query.pcap", "PIMv2_hellos.pcap",
	"icmpv6.pcap", "dcb_ets.pcap", "synthetic.pcap",
}

// asQuery and asReport turn a decoded message back into encoder input, for
// round trips.
func asQuery(m *Message) Query {
	return Query{
		Version: m.Version, SrcMAC: m.SrcMAC, Src: m.Src, Group: m.Group,
		MaxResp: m.MaxResp, QRV: m.QRV, QueryInterval: m.QueryInterval,
		Sources: m.Sources, SuppressRouterSide: m.SuppressRouterSide, VLAN: m.VLAN,
	}
}

func asReport(m *Message) Report {
	return Report{
		Version: m.Version, Leave: m.Kind == KindLeave, SrcMAC: m.SrcMAC, Src: m.Src,
		Group: m.Group, Records: m.Records, VLAN: m.VLAN,
	}
}

// reencode encodes m again; ok is false for kinds the encoders do not build.
func reencode(m *Message) (frame []byte, ok bool, err error) {
	switch m.Kind {
	case KindQuery:
		f, err := EncodeQuery(asQuery(m))
		return f, true, err
	case KindReport, KindLeave, KindReportV3:
		f, err := EncodeReport(asReport(m))
		return f, true, err
	}
	return nil, false, nil
}

// semantics is what must survive decode -> encode -> decode: everything but
// the addressing the encoder chooses itself (destination, MACs, TTL) and
// the records of unknown types it leaves out.
func semantics(m *Message) *Message {
	c := normalized(m)
	c.Dst, c.DstMAC, c.TTL, c.RouterAlert = netip.Addr{}, nil, 0, false
	c.SkippedRecords = 0 // unknown records are not re-encoded
	return c
}

func netipFrom4(b [4]byte) netip.Addr { return netip.AddrFrom4(b) }
