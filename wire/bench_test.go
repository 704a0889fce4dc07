package wire_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// The decoder benchmarks: decode and validate (checksums, lengths, Router
// Alert, destinations) the reports a snooper sees most, and the same frames
// through a bare gopacket DecodingLayerParser, which validates nothing, as
// the baseline. Compare the two in one run (ns/op of each pair); the
// decoder must keep 0 allocs/op.
//
//	go test -run '^$' -bench . -benchmem ./wire

var benchMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}

// benchFrames are the benchmarked frames: an IGMPv2 report, an IGMPv3
// report with 10 records (IS_IN with 2 sources each: SSM joins), and an
// MLDv2 report with 2 records (a solicited-node IS_EX {} and an SSM IS_IN
// with 2 sources).
func benchFrames(tb testing.TB) []struct {
	name  string
	frame []byte
} {
	v3 := make([]wire.GroupRecord, 10)
	for i := range v3 {
		v3[i] = wire.GroupRecord{Type: wire.ModeIsInclude, Group: netip.AddrFrom4([4]byte{232, 1, 1, byte(i + 1)}),
			Sources: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)})}}
	}
	reports := []struct {
		name string
		r    wire.Report
	}{
		{"IGMPv2Report", wire.Report{Version: 2, SrcMAC: benchMAC, Src: netip.MustParseAddr("192.0.2.10"), Group: netip.MustParseAddr("239.1.2.3")}},
		{"IGMPv3Report10Records", wire.Report{Version: 3, SrcMAC: benchMAC, Src: netip.MustParseAddr("192.0.2.10"), Records: v3}},
		{"MLDv2Report", wire.Report{Version: 2, SrcMAC: benchMAC, Src: netip.MustParseAddr("fe80::1"), Records: []wire.GroupRecord{
			{Type: wire.ModeIsExclude, Group: netip.MustParseAddr("ff02::1:ff00:1")},
			{Type: wire.ModeIsInclude, Group: netip.MustParseAddr("ff3e::8000:1"), Sources: []netip.Addr{
				netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}},
		}}},
	}
	out := make([]struct {
		name  string
		frame []byte
	}, len(reports))
	for i, r := range reports {
		f, err := wire.EncodeReport(r.r)
		if err != nil {
			tb.Fatalf("%s: %v", r.name, err)
		}
		out[i].name, out[i].frame = r.name, f
	}
	return out
}

// gopacketBaseline is a bare gopacket DecodingLayerParser over the layers
// of the benchmarked frames (its IPv6 layer parses the Hop-by-Hop header
// itself): no checksums, no validation.
type gopacketBaseline struct {
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newGopacketBaseline(v3 bool) *gopacketBaseline {
	var (
		eth  layers.Ethernet
		ip4  layers.IPv4
		ip6  layers.IPv6
		icmp layers.ICMPv6
		mld  layers.MLDv2MulticastListenerReportMessage
	)
	ls := []gopacket.DecodingLayer{&eth, &ip4, &ip6, &icmp, &mld}
	// Both IGMP layers claim LayerTypeIGMP: v1/v2 messages need the one,
	// v3 reports the other.
	if v3 {
		ls = append(ls, &layers.IGMP{})
	} else {
		ls = append(ls, &layers.IGMPv1or2{})
	}
	p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, ls...)
	return &gopacketBaseline{parser: p, decoded: make([]gopacket.LayerType, 0, 8)}
}

func (g *gopacketBaseline) decode(frame []byte) error {
	return g.parser.DecodeLayers(frame, &g.decoded)
}

// BenchmarkReportDecode decodes and validates each frame with one reused
// Decoder and Message, as a port reader does (igmpsnoop), and runs the same
// frame through the bare gopacket parser (gopacket). The ratio sub-benchmark
// alternates the two in rounds of 4096 frames and reports
// x-gopacket-rate: igmpsnoop's frames per second over gopacket's, measured
// side by side so that machine noise hits both alike.
func BenchmarkReportDecode(b *testing.B) {
	for _, f := range benchFrames(b) {
		d := wire.NewDecoder()
		var m wire.Message
		if err := d.Decode(f.frame, &m); err != nil {
			b.Fatalf("%s: %v", f.name, err)
		}
		g := newGopacketBaseline(f.name == "IGMPv3Report10Records")
		if err := g.decode(f.frame); err != nil {
			b.Fatalf("%s: baseline cannot decode: %v (layers %v)", f.name, err, g.decoded)
		}
		if last := g.decoded[len(g.decoded)-1]; last != layers.LayerTypeIGMP && last != layers.LayerTypeMLDv2MulticastListenerReport {
			b.Fatalf("%s: baseline stopped at %v", f.name, g.decoded)
		}
		ours := func() {
			if err := d.Decode(f.frame, &m); err != nil {
				b.Fatal(err)
			}
		}
		theirs := func() {
			if err := g.decode(f.frame); err != nil {
				b.Fatal(err)
			}
		}
		for _, c := range []struct {
			name string
			run  func()
		}{{"igmpsnoop", ours}, {"gopacket", theirs}} {
			b.Run(f.name+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(len(f.frame)))
				b.ReportAllocs()
				for b.Loop() {
					c.run()
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
			})
		}
		b.Run(f.name+"/ratio", func(b *testing.B) {
			const round = 4096
			var tOurs, tTheirs time.Duration
			for b.Loop() {
				t0 := time.Now()
				for range round {
					ours()
				}
				t1 := time.Now()
				for range round {
					theirs()
				}
				tOurs, tTheirs = tOurs+t1.Sub(t0), tTheirs+time.Since(t1)
			}
			b.ReportMetric(float64(tTheirs)/float64(tOurs), "x-gopacket-rate")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestReportDecodeAllocs checks what the benchmark shows, without timing:
// a reused Decoder decodes the benchmarked reports without allocating.
func TestReportDecodeAllocs(t *testing.T) {
	for _, f := range benchFrames(t) {
		d := wire.NewDecoder()
		var m wire.Message
		if err := d.Decode(f.frame, &m); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = d.Decode(f.frame, &m) }); n != 0 {
			t.Errorf("%s: %v allocations per decode, want 0", f.name, n)
		}
	}
}
