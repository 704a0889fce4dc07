package wire

import (
	"reflect"
	"testing"
	"time"
)

// TestNoStaleState decodes a sequence of frames with one Decoder into one
// Message and checks each result against a fresh decode: nothing from a
// previous frame (records, sources, flags, VLAN, Router Alert) may survive.
// The old google/gopacket IGMP layer appended records across packets.
func TestNoStaleState(t *testing.T) {
	src := addr("192.0.2.9")
	big := mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: src, VLAN: 5, Records: []GroupRecord{
		{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4")},
		{Type: ModeIsExclude, Group: addr("239.1.1.2"), Sources: addrs("10.0.0.5", "10.0.0.6")},
		{Type: AllowNewSources, Group: addr("232.1.1.3"), Sources: addrs("10.0.0.7")},
	}})
	small := mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: src, Records: []GroupRecord{
		{Type: BlockOldSources, Group: addr("232.9.9.9"), Sources: addrs("10.9.9.9")},
	}})
	noSources := mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: src, Records: []GroupRecord{
		{Type: ChangeToExclude, Group: addr("239.2.2.2")},
		{Type: ChangeToExclude, Group: addr("239.2.2.3")},
	}})
	empty := mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: src})
	v2 := stripOptions(mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: src, Group: addr("239.1.1.1")}))
	gsq := mustQuery(t, Query{Version: 3, SrcMAC: testMAC, Src: src, Group: addr("232.1.1.1"), MaxResp: time.Second,
		QRV: 2, QueryInterval: 125 * time.Second, SuppressRouterSide: true, Sources: addrs("10.0.0.1", "10.0.0.2")})
	gq := mustQuery(t, Query{Version: 2, SrcMAC: testMAC, Src: src, MaxResp: 10 * time.Second})
	bad := append([]byte{}, big...)
	bad[len(bad)-1] ^= 0xff // IGMP checksum now wrong, after the records were partly decoded
	ll := addr(llSrc)
	big6 := mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: ll, VLAN: 6, Records: []GroupRecord{
		{Type: ModeIsInclude, Group: addr("ff3e::1"), Sources: addrs("2001:db8::1", "2001:db8::2", "2001:db8::3")},
		{Type: AllowNewSources, Group: addr("ff3e::2"), Sources: addrs("2001:db8::4")},
	}})
	gssq6 := mustQuery(t, Query{Version: 2, SrcMAC: testMAC, Src: ll, Group: addr("ff3e::1"), MaxResp: time.Second,
		QRV: 2, QueryInterval: 125 * time.Second, SuppressRouterSide: true, Sources: addrs("2001:db8::1")})
	done6 := mustReport(t, Report{Version: 1, Leave: true, SrcMAC: testMAC, Src: ll, Group: addr("ff05::1:3")})
	noRA6 := raw6(llSrc, "ff05::1:3", 1, nil, ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	advert6 := raw6(llSrc, "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 125, 2))
	pim6 := raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHello())
	pimBare := rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(19, 0, 0, 0, 1)), true)
	pimForever := rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0xff, 0xff)), true)
	pimGoodbye6 := raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHelloWith(pimOpt(1, 0, 0)))
	badHoldtime := rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0, 9), pimOpt(1, 0, 0, 9)), true)

	seq := []struct {
		name  string
		frame []byte
	}{
		{"big v3 report", big}, {"small v3 report", small}, {"v2 report without RA", v2},
		{"big again", big}, {"refused big", bad}, {"v3 records without sources", noSources},
		{"big again", big}, {"v3 report without records", empty}, {"v3 group-and-source query", gsq},
		{"v2 general query", gq}, {"big again", big}, {"small again", small},
		{"big MLDv2 report", big6}, {"MLD done", done6}, {"MLD report without Router Alert", noRA6},
		{"big MLDv2 report again", big6}, {"MLDv2 GSSQ", gssq6}, {"IPv6 MRD advert", advert6},
		{"small v3 report after MLD", small}, {"IPv6 PIM hello", pim6}, {"v2 report without RA after MLD", v2},
		{"big again", big}, {"big MLDv2 report after IGMP", big6},
		{"PIM hello with Holdtime 0xffff", pimForever}, {"PIM hello without Holdtime", pimBare},
		{"IPv6 PIM goodbye", pimGoodbye6}, {"v2 report after a goodbye", v2},
		{"PIM hello with Holdtime 0xffff again", pimForever}, {"refused second Holdtime", badHoldtime},
		{"PIM hello without Holdtime after a refusal", pimBare}, {"IPv6 PIM hello after IGMP", pim6},
	}
	d := NewDecoder()
	var m Message
	for i, s := range seq {
		err := d.Decode(s.frame, &m)
		fresh, ferr := Decode(s.frame)
		if (err == nil) != (ferr == nil) {
			t.Fatalf("%d %s: reused err %v, fresh err %v", i, s.name, err, ferr)
		}
		if err != nil {
			continue
		}
		if !sameMessage(&m, fresh) {
			t.Errorf("%d %s: reused decode\n %v\nfresh decode\n %v", i, s.name, &m, fresh)
		}
	}
	// Spell the worst case out: after the big report, the small one has
	// exactly one record with one source.
	if err := d.Decode(big, &m); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(small, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Records) != 1 || len(m.Records[0].Sources) != 1 || m.Records[0].Sources[0] != addr("10.9.9.9") || m.VLAN != 0 {
		t.Errorf("after big then small: %v", &m)
	}
	// And a hello without the Holdtime option after one with it.
	if err := d.Decode(pimForever, &m); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(pimBare, &m); err != nil {
		t.Fatal(err)
	}
	if m.HasHoldtime || m.Holdtime != 0 {
		t.Errorf("after a hello with Holdtime 0xffff, one without has holdtime %v (present %v)", m.Holdtime, m.HasHoldtime)
	}
}

// TestDecodeIsSafeToKeep checks that the convenience Decode shares nothing
// with the caller's frame.
func TestDecodeIsSafeToKeep(t *testing.T) {
	f := mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: addr("192.0.2.9"), Records: []GroupRecord{
		{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1")},
	}})
	m, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	before := m.String() + m.SrcMAC.String() + m.DstMAC.String()
	for i := range f {
		f[i] = 0xee
	}
	if after := m.String() + m.SrcMAC.String() + m.DstMAC.String(); after != before {
		t.Errorf("message changed with the frame: %s -> %s", before, after)
	}
}

// TestCloneIsDeep checks that a cloned message survives the decoder
// reusing the original's buffers.
func TestCloneIsDeep(t *testing.T) {
	d := NewDecoder()
	var m Message
	f := mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: addr("192.0.2.9"), Records: []GroupRecord{
		{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1")},
	}})
	if err := d.Decode(f, &m); err != nil {
		t.Fatal(err)
	}
	c := m.Clone()
	want := c.String()
	g := mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: addr("192.0.2.8"), Records: []GroupRecord{
		{Type: BlockOldSources, Group: addr("232.2.2.2"), Sources: addrs("10.2.2.2")},
	}})
	if err := d.Decode(g, &m); err != nil {
		t.Fatal(err)
	}
	if c.String() != want {
		t.Errorf("clone changed: %s -> %s", want, c)
	}
}

// TestCloneKeepsHoldtime: the PIM fields survive Clone and the decoder's
// reuse of the original.
func TestCloneKeepsHoldtime(t *testing.T) {
	d := NewDecoder()
	var m Message
	if err := d.Decode(rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0xff, 0xff)), true), &m); err != nil {
		t.Fatal(err)
	}
	c := m.Clone()
	if err := d.Decode(rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(), true), &m); err != nil {
		t.Fatal(err)
	}
	if !c.HasHoldtime || c.Holdtime != HoldtimeForever || m.HasHoldtime {
		t.Errorf("clone holdtime %v (present %v), reused message present %v", c.Holdtime, c.HasHoldtime, m.HasHoldtime)
	}
}

func allocFrames(t testing.TB) map[string][]byte {
	src := addr("192.0.2.9")
	return map[string][]byte{
		"v3 report": mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: src, Records: []GroupRecord{
			{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")},
			{Type: ModeIsExclude, Group: addr("239.1.1.2")},
			{Type: AllowNewSources, Group: addr("232.1.1.3"), Sources: addrs("10.0.0.7")},
		}}),
		"v2 report": mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: src, Group: addr("239.1.1.1")}),
		"v3 query": mustQuery(t, Query{Version: 3, SrcMAC: testMAC, Src: src, Group: addr("232.1.1.1"),
			MaxResp: time.Second, QRV: 2, Sources: addrs("10.0.0.1", "10.0.0.2")}),
		"refused": func() []byte {
			f := mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: src, Group: addr("239.1.1.1")})
			f[len(f)-1] ^= 1
			return f
		}(),
		"MLDv2 report": mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr(llSrc), Records: []GroupRecord{
			{Type: ModeIsInclude, Group: addr("ff3e::1"), Sources: addrs("2001:db8::1", "2001:db8::2", "2001:db8::3")},
			{Type: ModeIsExclude, Group: addr("ff05::2")},
		}}),
		"MLDv2 query": mustQuery(t, Query{Version: 2, SrcMAC: testMAC, Src: addr(llSrc), Group: addr("ff3e::1"),
			MaxResp: time.Second, QRV: 2, Sources: addrs("2001:db8::1", "2001:db8::2")}),
		"MLDv1 report behind extension headers": raw6(llSrc, "ff05::1:3", 1, []ext6{hbh(hbhRA...), dest8},
			ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff05::1:3")),
		"refused neighbour solicitation": raw6("::", "ff02::1:ff00:2", 255, nil, ipProtoICMPv6,
			append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, a6("fe80::2")...)),
		"refused MLD checksum": func() []byte {
			f := mustReport(t, Report{Version: 1, SrcMAC: testMAC, Src: addr(llSrc), Group: addr("ff05::1:3")})
			f[len(f)-1] ^= 1
			return f
		}(),
		"IPv6 PIM hello":  raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHello()),
		"IPv4 MRD advert": rawIPv4("10.0.0.1", "224.0.0.106", 1, ipProtoIGMP, mrd(TypeMRDAdvert, 20, 125, 2), true),
		"IPv6 MRD advert": raw6(llSrc, "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 125, 2)),
		"IPv4 PIM hello":  rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHello(), true),
		"IPv4 PIM hello with options": rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(
			pimOpt(1, 0, 105), pimOpt(20, 0x3f, 0x0e, 0xf4, 0xcd), pimOpt(19, 0, 0, 0, 1), pimOpt(21, 1, 0, 0, 0)), true),
		"IPv6 PIM goodbye with options": raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHelloWith(
			pimOpt(20, 1, 2, 3, 4), pimOpt(1, 0, 0), pimOpt(24, make([]byte, 18)...))),
		"refused PIM option beyond message": rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, append(pimHello(), 0, 20, 0, 8, 1), true),
		"refused UDP over v6":               raw6(llSrc, "ff02::fb", 255, nil, 17, make([]byte, 16)),
	}
}

// TestDecodeDoesNotAllocate pins the steady state: once a Message has grown
// to fit, decoding (or refusing) a frame allocates nothing.
func TestDecodeDoesNotAllocate(t *testing.T) {
	for name, f := range allocFrames(t) {
		d := NewDecoder()
		var m Message
		_ = d.Decode(f, &m) // grow m's slices once
		if n := testing.AllocsPerRun(100, func() { _ = d.Decode(f, &m) }); n != 0 {
			t.Errorf("%s: %.1f allocations per Decode, want 0", name, n)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for name, f := range allocFrames(b) {
		b.Run(name, func(b *testing.B) {
			d := NewDecoder()
			var m Message
			b.ReportAllocs()
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				_ = d.Decode(f, &m)
			}
		})
	}
}

// TestCloneEqualsOriginal: Clone is a deep copy, so it equals what it
// copies, field for field: slices present stay present with the same
// contents, and absent ones stay absent.
func TestCloneEqualsOriginal(t *testing.T) {
	frames := map[string][]byte{
		"IGMPv3 report with records": mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: addr("192.0.2.9"), Records: []GroupRecord{
			{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1", "10.0.0.2")},
			{Type: ModeIsExclude, Group: addr("239.1.1.1")},
		}}),
		"IGMPv3 group-and-source-specific query": v3GSQuery(t),
		"IGMPv2 report (no records, no sources)": v2ReportFrame(t),
		"MLDv2 report":                           v2Report6(t),
	}
	for name, f := range frames {
		m, err := Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c := m.Clone(); !reflect.DeepEqual(c, m) {
			t.Errorf("%s: clone\n %+v\ndiffers from\n %+v", name, *c, *m)
		}
	}
	var zero Message
	if c := zero.Clone(); !reflect.DeepEqual(c, &zero) {
		t.Errorf("clone of the zero Message: %+v", *c)
	}
}
