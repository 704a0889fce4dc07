package wire

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var updateSynthetic = flag.Bool("update-synthetic", false, "rewrite testdata/synthetic.pcap from syntheticFrames")

// syntheticFrames are frames this package builds (its encoders, or the
// test builders for what no encoder makes), for testdata/synthetic.pcap.
// tcpdump's decode of that capture (synthetic.tcpdump.txt) is the
// independent check that the encoders' bytes and checksums are right and
// that the decoder reads MLDv1, MRD, IPv6 PIM and extension headers as
// tcpdump does. Append only: frame numbers are in the golden file.
func syntheticFrames(t testing.TB) [][]byte {
	ll := addr(llSrc)
	// A segment routing header (type 4) with no segments left. Not type 0
	// or 2: for those tcpdump takes the pseudo-header destination from the
	// routing header even with no segments left, where RFC 8200 §8.1 has
	// the recipient use the IPv6 destination, as the decoder does.
	rh := append([]byte{0, 2, 4, 0, 0, 0, 0, 0}, a6("ff02::16")...)
	badSum := mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: ll, Records: []GroupRecord{{Type: ModeIsExclude, Group: addr("ff05::2")}}})
	icmp6Of(badSum)[3] ^= 0x01
	badPIM := raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHello())
	badPIM[len(badPIM)-1] ^= 0x01
	return [][]byte{
		mustQuery(t, Query{Version: 1, SrcMAC: testMAC, Src: ll, MaxResp: 10 * time.Second}),
		mustQuery(t, Query{Version: 1, SrcMAC: testMAC, Src: ll, Group: addr("ff05::1:3"), MaxResp: time.Second}),
		mustQuery(t, Query{Version: 2, SrcMAC: testMAC, Src: ll, MaxResp: 40 * time.Second, QRV: 2, QueryInterval: 125 * time.Second}),
		mustQuery(t, Query{Version: 2, SrcMAC: testMAC, Src: ll, Group: addr("ff3e::1"), MaxResp: time.Second, QRV: 2,
			QueryInterval: 200 * time.Second, SuppressRouterSide: true, Sources: addrs("2001:db8::1", "2001:db8::2"), VLAN: 5}),
		mustQuery(t, Query{Version: 2, SrcMAC: testMAC, Src: ll, MaxResp: MaxMLDMaxResp, QueryInterval: MaxCode(QueryIntervalUnit)}),
		mustQuery(t, Query{Version: 2, SrcMAC: testMAC, Src: ll, MaxResp: 32768 * time.Millisecond, QRV: 7, QueryInterval: 128 * time.Second}),
		mustReport(t, Report{Version: 1, SrcMAC: testMAC, Src: ll, Group: addr("ff05::1:3")}),
		mustReport(t, Report{Version: 1, Leave: true, SrcMAC: testMAC, Src: ll, Group: addr("ff05::1:3")}),
		mustReport(t, Report{Version: 1, SrcMAC: testMAC, Src: addr("::"), Group: addr("ff02::1:ff00:1")}),
		mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr("::"), Records: []GroupRecord{
			{Type: ChangeToExclude, Group: addr("ff02::1:ff00:1")},
			{Type: AllowNewSources, Group: addr("ff3e::9"), Sources: addrs("2001:db8::7", "2001:db8::8")},
		}}),
		mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: ll, VLAN: 100, Records: []GroupRecord{
			{Type: ModeIsInclude, Group: addr("ff3e::1"), Sources: addrs("2001:db8::1")},
			{Type: ModeIsExclude, Group: addr("ff05::2")},
			{Type: ChangeToInclude, Group: addr("ff05::3")},
			{Type: ChangeToExclude, Group: addr("ff05::4")},
			{Type: AllowNewSources, Group: addr("ff3e::5"), Sources: addrs("2001:db8::5")},
			{Type: BlockOldSources, Group: addr("ff3e::6"), Sources: addrs("2001:db8::6")},
		}}),
		raw6(llSrc, "ff05::1:3", 1, []ext6{hbh(hbhRA...), dest8}, ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff05::1:3")),
		raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), {nhRouting, rh}}, ipProtoICMPv6, mld2Report(1, record6(4, 0, 0, "ff05::7"))),
		raw6(llSrc, "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 125, 2)),
		raw6(llSrc, "ff02::2", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, []byte{TypeMRDSolicit6, 0, 0, 0}),
		raw6(llSrc, "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, []byte{TypeMRDTermination6, 0, 0, 0}),
		raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHello()),
		rawIPv4("10.0.0.1", "224.0.0.106", 1, ipProtoIGMP, mrd(TypeMRDAdvert, 20, 125, 2), true),
		rawIPv4("10.0.0.1", "224.0.0.2", 1, ipProtoIGMP, []byte{TypeMRDSolicit, 0, 0, 0}, true),
		rawIPv4("10.0.0.1", "224.0.0.106", 1, ipProtoIGMP, []byte{TypeMRDTermination, 0, 0, 0}, true),
		rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, append(pimHello(), 0x7f), true), // option cut: refused
		raw6("::", "ff02::1:ff00:2", 255, nil, ipProtoICMPv6, append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, a6("fe80::2")...)),
		badSum,
		badPIM,
	}
}

// TestSyntheticCapture pins the encoders to the bytes tcpdump checked:
// testdata/synthetic.pcap must be what syntheticFrames builds today.
func TestSyntheticCapture(t *testing.T) {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, f := range syntheticFrames(t) {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), 0).UTC(), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join("testdata", "synthetic.pcap")
	if *updateSynthetic {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, buf.Bytes()) {
		t.Errorf("%s differs from syntheticFrames: rerun with -update-synthetic, then tcpdump (testdata/README.md) and review", path)
	}
}
