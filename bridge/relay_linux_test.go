package bridge

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

// testSSM are the SSM ranges the relay tests compile in.
var testSSM = []netip.Prefix{netip.MustParsePrefix("232.0.0.0/8"), netip.MustParsePrefix("ff3e::/96"), netip.MustParsePrefix("ff35:0:0:1::/64")}

// relayGuard loads a guard that relays from the loopback device, the
// device BPF_PROG_TEST_RUN runs programs on, to none (no clone leaves the
// test).
func relayGuard(t *testing.T, opts GuardOptions) (*Guard, Relay) {
	t.Helper()
	needRoot(t)
	r, err := NewRelay(testSSM)
	if err != nil {
		t.Fatalf("NewRelay: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetPort(lo.Index, true, true); err != nil {
		t.Fatal(err)
	}
	opts.Relay = r
	g, err := loadGuard(0, opts, nil)
	if err != nil {
		t.Fatalf("loadGuard: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g, r
}

// runRelay runs frame through g and tells whether it relayed it; every
// report is dropped, relayed or not.
func runRelay(t *testing.T, g *Guard, frame []byte) bool {
	t.Helper()
	before, err := g.Relayed()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.prog.Run(&ebpf.RunOptions{Data: frame}); err != nil {
		t.Fatalf("run: %v", err)
	}
	after, err := g.Relayed()
	if err != nil {
		t.Fatal(err)
	}
	return after > before
}

// reportFrames are reports of every kind, for the mutation test.
func reportFrames() [][]byte {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	grp := netip.MustParseAddr("239.77.7.1")
	ll := netip.MustParseAddr("fe80::11")
	g6 := netip.MustParseAddr("ff0e::77:7")
	return [][]byte{
		igmpV2(mac, h1IP, 0x16, grp),
		igmpV2(mac, h1IP, 0x12, grp),
		igmpV2(mac, h1IP, 0x16, netip.MustParseAddr("232.1.2.3")),
		noOptions(igmpV2(mac, h1IP, 0x16, grp)),
		mldFrame(mac, ll, mldV1(131, g6, 0)),
		mldFrame(mac, netip.IPv6Unspecified(), mldV1(131, g6, 0)),
		encodeReport(3, mac, h1IP, rec4(4, grp), rec4(5, netip.MustParseAddr("232.1.2.3"), h1IP), rec4(2, netip.MustParseAddr("239.0.0.9"))),
		encodeReport(2, mac, ll, rec6(4, g6), rec6(1, netip.MustParseAddr("ff3e::8000:1"), ll)),
	}
}

// rec4 and rec6 are report records of type t for group, from sources.
func rec4(t wire.RecordType, group netip.Addr, sources ...netip.Addr) wire.GroupRecord {
	return wire.GroupRecord{Type: t, Group: group, Sources: sources}
}

func rec6(t wire.RecordType, group netip.Addr, sources ...netip.Addr) wire.GroupRecord {
	return rec4(t, group, sources...)
}

// encodeReport is an IGMPv3 (version 3) or MLDv2 (version 2) report as
// the daemon's encoder builds it, the form kernel hosts send.
func encodeReport(version int, mac net.HardwareAddr, src netip.Addr, recs ...wire.GroupRecord) []byte {
	f, err := wire.EncodeReport(wire.Report{Version: version, SrcMAC: mac, Src: src, Records: recs})
	if err != nil {
		panic(err)
	}
	return f
}

// withAux gives the first record of an IGMPv3 report one word of
// auxiliary data, checksums fixed.
func withAux(f []byte) []byte {
	ihl := int(f[14]&0x0f) * 4
	msg := bytes.Clone(f[14+ihl:])
	rec := 8
	end := rec + 8 + 4*int(binary.BigEndian.Uint16(msg[rec+2:]))
	msg = append(msg[:end], append([]byte{0xaa, 0xbb, 0xcc, 0xdd}, msg[end:]...)...)
	msg[rec+1] = 1
	msg[2], msg[3] = 0, 0
	binary.BigEndian.PutUint16(msg[2:4], checksum(msg))
	ip := bytes.Clone(f[14 : 14+ihl])
	binary.BigEndian.PutUint16(ip[2:4], uint16(ihl+len(msg)))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip))
	return append(append(bytes.Clone(f[:14]), ip...), msg...)
}

// noOptions rebuilds an IPv4 frame with IHL 5, without its Router Alert.
func noOptions(f []byte) []byte {
	ip := bytes.Clone(f[14:34])
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+len(f)-38))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip))
	return append(append(bytes.Clone(f[:14]), ip...), f[38:]...)
}

// TestRelayGuard: the guard relays exactly the reports of RelayShape whose
// group is in no SSM range, from a port marked for their protocol, and
// drops every report, relayed or not.
func TestRelayGuard(t *testing.T) {
	g, r := relayGuard(t, GuardOptions{})
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	grp := netip.MustParseAddr("239.77.7.1")
	ll := netip.MustParseAddr("fe80::11")
	g6 := netip.MustParseAddr("ff0e::77:7")
	report := igmpV2(mac, h1IP, 0x16, grp)
	mld := mldFrame(mac, ll, mldV1(131, g6, 0))
	set := func(f []byte, off int, b byte) []byte { f = bytes.Clone(f); f[off] = b; return f }
	padded := append(bytes.Clone(report), make([]byte, 20)...)
	cases := []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"v2 report", report, true},
		{"v1 report", igmpV2(mac, h1IP, 0x12, grp), true},
		{"v2 report without IP options", noOptions(report), true},
		{"v2 report with Ethernet padding", padded, true},
		{"v2 report from 0.0.0.0", igmpV2(mac, netip.IPv4Unspecified(), 0x16, grp), true},
		{"v2 report to 224.0.0.251", igmpV2(mac, h1IP, 0x16, netip.MustParseAddr("224.0.0.251")), true},
		{"v2 leave", igmpV2(mac, h1IP, 0x17, grp), false},
		{"v3 report", igmpV3Report(mac, h1IP, grp), true},
		{"v3 report, three joins", encodeReport(3, mac, h1IP, rec4(2, grp), rec4(5, grp, h1IP), rec4(1, grp, h1IP)), true},
		{"v3 report, eight records", encodeReport(3, mac, h1IP, slices.Repeat([]wire.GroupRecord{rec4(2, grp)}, 8)...), true},
		{"v3 report, nine records", encodeReport(3, mac, h1IP, slices.Repeat([]wire.GroupRecord{rec4(2, grp)}, 9)...), false},
		{"v3 report, 60 sources (over 256 bytes)", encodeReport(3, mac, h1IP, rec4(5, grp, slices.Repeat([]netip.Addr{h1IP}, 62)...)), false},
		{"v3 report, auxiliary data", withAux(encodeReport(3, mac, h1IP, rec4(5, grp, h1IP), rec4(2, grp))), true},
		{"v3 leave (TO_IN {})", encodeReport(3, mac, h1IP, rec4(3, grp)), false},
		{"v3 TO_IN with sources", encodeReport(3, mac, h1IP, rec4(3, grp, h1IP)), false},
		{"v3 BLOCK", encodeReport(3, mac, h1IP, rec4(6, grp, h1IP)), false},
		{"v3 IS_IN {}", encodeReport(3, mac, h1IP, rec4(1, grp)), false},
		{"v3 join and leave", encodeReport(3, mac, h1IP, rec4(4, grp), rec4(3, netip.MustParseAddr("239.0.0.9"))), false},
		{"v3 any-source join in the SSM range", encodeReport(3, mac, h1IP, rec4(2, grp), rec4(4, netip.MustParseAddr("232.1.2.3"))), false},
		{"v3 source-specific join in the SSM range", encodeReport(3, mac, h1IP, rec4(5, netip.MustParseAddr("232.1.2.3"), h1IP)), true},
		{"tagged v2 report", tagged(report), false},
		{"v2 report, SSM group", igmpV2(mac, h1IP, 0x16, netip.MustParseAddr("232.1.2.3")), false},
		{"v2 report, group 231.255.255.255", igmpV2(mac, h1IP, 0x16, netip.MustParseAddr("231.255.255.255")), true},
		{"v2 report, group 233.0.0.1", igmpV2(mac, h1IP, 0x16, netip.MustParseAddr("233.0.0.1")), true},
		{"v2 report, group not multicast", igmpV2(mac, h1IP, 0x16, netip.MustParseAddr("10.1.2.3")), false},
		{"v2 report, bad IP checksum", set(report, 14+10, report[14+10]^0xff), false},
		{"v2 report, bad IGMP checksum", set(report, 14+24+2, report[14+24+2]^0x01), false},
		{"v2 report, more fragments", set(report, 14+6, 0x20), false},
		{"v2 report from 127.0.0.1", igmpV2(mac, netip.MustParseAddr("127.0.0.1"), 0x16, grp), false},
		{"v2 report from 224.0.0.1", igmpV2(mac, netip.MustParseAddr("224.0.0.1"), 0x16, grp), false},
		{"v2 report from a multicast MAC", igmpV2(net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, h1IP, 0x16, grp), false},
		{"v2 report from a zero MAC", igmpV2(net.HardwareAddr{0, 0, 0, 0, 0, 0}, h1IP, 0x16, grp), false},
		{"v2 report cut short", report[:len(report)-1], false},
		{"MLDv1 report", mld, true},
		{"MLDv1 report from ::", mldFrame(mac, netip.IPv6Unspecified(), mldV1(131, g6, 0)), true},
		{"MLDv1 report from a global address", mldFrame(mac, netip.MustParseAddr("fd77::11"), mldV1(131, g6, 0)), false},
		{"MLDv1 done", mldFrame(mac, ll, mldV1(132, g6, 0)), false},
		{"MLDv2 report", mldFrame(mac, ll, mldV2Report(g6)), true},
		{"MLDv2 report, joins with sources", encodeReport(2, mac, ll, rec6(4, g6), rec6(5, g6, ll, ll), rec6(1, netip.MustParseAddr("ff3e::8000:1"), ll)), true},
		{"MLDv2 leave (TO_IN {})", encodeReport(2, mac, ll, rec6(3, g6)), false},
		{"MLDv2 any-source join in the SSM range", encodeReport(2, mac, ll, rec6(4, netip.MustParseAddr("ff3e::8000:1"))), false},
		{"MLDv2 report from a global address", icmpv6Frame(mac, netip.MustParseAddr("fd77::11"), netip.MustParseAddr("ff02::16"), 0, hopByHop(58, 0), mldV2Report(g6)), false},
		{"MLDv2 report, 16 sources (over 256 bytes)", encodeReport(2, mac, ll, rec6(5, g6, slices.Repeat([]netip.Addr{ll}, 15)...)), false},
		{"MLDv2 report, bad checksum", set(encodeReport(2, mac, ll, rec6(4, g6)), 14+48+2, 0), false},
		{"tagged MLDv1 report", tagged(mld), false},
		{"MLDv1 report, SSM group", mldFrame(mac, ll, mldV1(131, netip.MustParseAddr("ff3e::8000:1"), 0)), false},
		{"MLDv1 report, group in a /64 SSM range", mldFrame(mac, ll, mldV1(131, netip.MustParseAddr("ff35:0:0:1::5"), 0)), false},
		{"MLDv1 report, group beside a /64 SSM range", mldFrame(mac, ll, mldV1(131, netip.MustParseAddr("ff35:0:0:2::5"), 0)), true},
		{"MLDv1 report, bad checksum", set(mld, len(mld)-1, mld[len(mld)-1]^1), false},
		{"MLDv1 report, hop limit 2", set(mld, 14+7, 2), false},
		{"MLDv1 report, 16-byte HBH", icmpv6Frame(mac, ll, g6, 0, hopByHop(58, 1), mldV1(131, g6, 0)), false},
		{"MLDv1 report without HBH", icmpv6Frame(mac, ll, g6, 58, nil, mldV1(131, g6, 0)), false},
	}
	for _, c := range cases {
		if shape := RelayShape(c.frame, testSSM); shape != c.want {
			t.Errorf("%s: RelayShape %v, want %v", c.name, shape, c.want)
		}
		if got := runRelay(t, g, c.frame); got != c.want {
			t.Errorf("%s: relayed %v, want %v", c.name, got, c.want)
		}
	}

	// A port not marked, or marked for the other protocol only.
	lo, _ := net.InterfaceByName("lo")
	if err := r.SetPort(lo.Index, false, true); err != nil {
		t.Fatal(err)
	}
	if runRelay(t, g, report) {
		t.Error("relayed an IGMP report from a port relayed from for MLD only")
	}
	if !runRelay(t, g, mld) {
		t.Error("did not relay an MLD report from a port relayed from for MLD")
	}
	if err := r.SetPort(lo.Index, false, false); err != nil {
		t.Fatal(err)
	}
	if runRelay(t, g, mld) || runRelay(t, g, report) {
		t.Error("relayed from a port not relayed from")
	}

	// A closed relay: a guard still holding it relays nothing.
	if err := r.SetPort(lo.Index, true, true); err != nil {
		t.Fatal(err)
	}
	if !runRelay(t, g, report) {
		t.Fatal("not relaying before the close")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if runRelay(t, g, report) || runRelay(t, g, mld) {
		t.Error("a guard relays through a closed relay")
	}
}

// TestRelayShapeAgrees holds the guard's program and RelayShape together,
// and both to the decoder: over reports mutated at random, the guard
// relays exactly what RelayShape accepts outside the SSM ranges, and
// never a frame the daemon's decoder refuses or reads as anything but a
// report.
func TestRelayShapeAgrees(t *testing.T) {
	g, _ := relayGuard(t, GuardOptions{})
	rng := rand.New(rand.NewPCG(1, 2))
	relayed := 0
	for i := range 20000 {
		base := reportFrames()
		f := bytes.Clone(base[i%len(base)])
		for range 1 + rng.IntN(2) {
			f[rng.IntN(len(f))] ^= byte(1 << rng.IntN(8))
		}
		if i%2 == 0 { // most mutations fail on a checksum: past them now
			fixChecksums(f)
		}
		if i%7 == 0 { // a valid frame now and then
			f = base[i%len(base)]
		}
		got := runRelay(t, g, f)
		m, err := wire.Decode(f)
		want := RelayShape(f, testSSM)
		if got != want {
			t.Fatalf("frame %x: guard relayed %v, RelayShape and the SSM ranges say %v", f, got, want)
		}
		if got && err != nil {
			t.Fatalf("frame %x: relayed what the decoder refuses: %v", f, err)
		}
		if got && m.Kind != wire.KindReport && m.Kind != wire.KindReportV3 {
			t.Fatalf("frame %x: relayed a %v", f, m.Kind)
		}
		if got {
			relayed++
		}
	}
	if relayed < 2500 {
		t.Fatalf("only %d of 20000 frames relayed: the mutations say little", relayed)
	}
	t.Logf("%d of 20000 frames relayed", relayed)
}

// fixChecksums recomputes, where the headers allow, the IPv4 header and
// IGMP checksums or the ICMPv6 checksum of a mutated frame, so that the
// checks past them are exercised too.
func fixChecksums(f []byte) {
	if len(f) < 14+20 {
		return
	}
	ip := f[14:]
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800:
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 || ihl > len(ip) {
			return
		}
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:12], checksum(ip[:ihl]))
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if total < ihl+4 || total > len(ip) {
			return
		}
		msg := ip[ihl:total]
		msg[2], msg[3] = 0, 0
		binary.BigEndian.PutUint16(msg[2:4], checksum(msg))
	case 0x86dd:
		n := int(binary.BigEndian.Uint16(ip[4:6])) - 8
		if len(ip) < 48+4 || n < 4 || 48+n > len(ip) {
			return
		}
		msg := ip[48 : 48+n]
		msg[2], msg[3] = 0, 0
		src, dst := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		binary.BigEndian.PutUint16(msg[2:4], upperChecksum(src, dst, 58, msg))
	}
}
