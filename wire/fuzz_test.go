package wire

import (
	"testing"
	"time"
)

// FuzzDecode: no input may panic; a reused, dirty Message must decode
// exactly like a fresh one; and whatever decodes must re-encode and decode
// back to the same meaning.
func FuzzDecode(f *testing.F) {
	for _, name := range fixtures {
		for _, fr := range readPcap(f, name) {
			f.Add(fr.data)
		}
	}
	for _, fr := range allocFrames(f) {
		f.Add(fr)
	}
	f.Add(mustQuery(f, Query{Version: 1, SrcMAC: testMAC, Src: addr("192.0.2.1")}))
	f.Add(mustQuery(f, Query{Version: 3, SrcMAC: testMAC, Src: addr("192.0.2.1"), MaxResp: 100 * time.Second, QRV: 2, QueryInterval: 300 * time.Second, VLAN: 12}))
	f.Add(mustReport(f, Report{Version: 2, Leave: true, SrcMAC: testMAC, Src: addr("192.0.2.1"), Group: addr("239.1.1.1")}))
	f.Add(rawFrame("192.0.2.9", "224.0.0.22", v3Report(3,
		record(9, 1, 1, "10.9.9.9", 10, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd),
		record(1, 2, 1, "232.1.1.1", 10, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2),
		record(6, 0, 1, "232.1.1.2", 10, 0, 0, 2))))
	for _, fr := range syntheticFrames(f) {
		f.Add(fr)
	}
	for _, c := range append(append([]refusalCase(nil), refusals6...), extWalkSeeds...) {
		f.Add(c.frame(f))
	}
	for _, c := range accepts6 {
		f.Add(c.frame(f))
	}
	for _, fr := range solicitSeeds(f) {
		f.Add(fr)
	}

	f.Fuzz(func(t *testing.T, frame []byte) {
		fresh, err := Decode(frame)
		if err != nil && ReasonOf(err) == ReasonNone {
			t.Fatalf("error without a reason: %v", err)
		}
		if checkReuse(t, dirtyIGMP, frame, fresh, err) {
			checkRoundTrip(t, fresh)
		}
	})
}

// FuzzIGMP fuzzes the IGMP message behind a valid Ethernet and IPv4 header,
// with the IGMP checksum fixed up, so the fuzzer spends its time in the
// IGMP parser instead of on checksums. Same properties as FuzzDecode.
func FuzzIGMP(f *testing.F) {
	for _, name := range fixtures {
		d := NewDecoder()
		var m Message
		for _, fr := range readPcap(f, name) {
			// Untagged IGMP only: the harness rebuilds Ethernet and IPv4.
			if d.Decode(fr.data, &m) == nil && m.Proto == IGMP && m.Kind != KindPIMHello && m.VLAN == 0 && fr.data[12] == 0x08 {
				ip := fr.data[14:]
				ihl := int(ip[0]&0x0f) * 4
				total := int(ip[2])<<8 | int(ip[3])
				f.Add(append([]byte(nil), ip[ihl:total]...), ip[16], ip[19])
			}
		}
	}
	f.Add(v3Report(2, record(9, 1, 1, "10.9.9.9", 10, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd), record(1, 0, 1, "232.1.1.1", 10, 0, 0, 1)), byte(224), byte(22))
	f.Add(append(igmp8(0x11, 0x8f, "232.1.1.1"), 0x0a, 0xff, 0, 2, 10, 0, 0, 1, 10, 0, 0, 2), byte(232), byte(1))
	f.Add([]byte{TypeMRDSolicit, 0, 0, 0}, byte(224), byte(2))

	f.Fuzz(func(t *testing.T, igmp []byte, dst0, dst3 byte) {
		if len(igmp) > 1400 {
			return
		}
		// The destination varies only in its first and last byte: enough
		// to reach 224.0.0.1, 224.0.0.22, other multicast and unicast.
		dst := addr("224.0.0.1").As4()
		dst[0], dst[3] = dst0, dst3
		b, p := appendHeaders(nil, testMAC, 0, addr("192.0.2.9"), netipFrom4(dst), len(igmp))
		copy(p, igmp)
		if len(p) >= 4 {
			p[2], p[3] = 0, 0
			c := Checksum(p)
			p[2], p[3] = byte(c>>8), byte(c)
		}
		fresh, err := Decode(b)
		if err != nil {
			switch ReasonOf(err) {
			case ReasonNone, ReasonNotIGMP, ReasonBadIPHeader, ReasonBadIPChecksum, ReasonFragment, ReasonBadIGMPChecksum, ReasonBadSourceMAC:
				// The headers are built valid and the checksum fixed.
				t.Fatalf("unexpected refusal %v", err)
			}
			return
		}
		checkReuse(t, dirtyIGMP, b, fresh, nil)
		checkRoundTrip(t, fresh)
	})
}

// dirtyIGMP dirties a reused Message and Decoder (records, sources, a VLAN)
// before FuzzDecode and FuzzIGMP decode into it.
var dirtyIGMP = func() []byte {
	b, err := EncodeReport(Report{Version: 3, SrcMAC: testMAC, Src: addr("192.0.2.9"), VLAN: 9, Records: []GroupRecord{
		{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")},
		{Type: ModeIsExclude, Group: addr("239.1.1.2"), Sources: addrs("10.0.0.4")},
	}})
	if err != nil {
		panic(err)
	}
	return b
}()

// checkReuse decodes frame with a Decoder and Message that decoded dirty
// first, and fails unless that gives what a fresh decode gave (fresh, err):
// the same refusal, or the same message. It reports whether frame decoded.
func checkReuse(t *testing.T, dirty, frame []byte, fresh *Message, err error) bool {
	t.Helper()
	d := NewDecoder()
	var m Message
	if err := d.Decode(dirty, &m); err != nil {
		t.Fatalf("the dirtying frame does not decode: %v", err)
	}
	err2 := d.Decode(frame, &m)
	if ReasonOf(err) != ReasonOf(err2) || (err == nil) != (err2 == nil) {
		t.Fatalf("fresh decode %v, reused decode %v", err, err2)
	}
	if err != nil {
		return false
	}
	if !sameMessage(fresh, &m) {
		t.Fatalf("reused decode leaks state:\n%v\nfresh:\n%v", &m, fresh)
	}
	_ = fresh.String()
	return true
}

// checkRoundTrip re-encodes a decoded message (where an encoder exists)
// and checks it decodes back to the same meaning.
func checkRoundTrip(t *testing.T, fresh *Message) {
	t.Helper()
	again, ok, err := reencode(fresh)
	if !ok {
		return
	}
	if err != nil {
		t.Fatalf("%v does not re-encode: %v", fresh, err)
	}
	back, err := Decode(again)
	if err != nil {
		t.Fatalf("re-encoded %v does not decode: %v", fresh, err)
	}
	if !sameMessage(semantics(back), semantics(fresh)) {
		t.Fatalf("round trip changed the message:\n%v\n%v", fresh, back)
	}
}

// extWalkSeeds are extension-header chains for the fuzzers to start from.
var extWalkSeeds = []refusalCase{
	{"HBH, DestOpts, Routing, AH, MLD", func(t testing.TB) []byte {
		rh := append([]byte{0, 2, 4, 0, 0, 0, 0, 0}, a6("ff02::16")...)
		ah := []byte{0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1}
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), dest8, {nhRouting, rh}, {nhAH, ah}}, ipProtoICMPv6, mld2Report(1, record6(4, 0, 0, "ff05::7")))
	}, ReasonNone},
}

// FuzzMLD fuzzes what follows a valid IPv6 header: an extension-header
// chain and an upper-layer message, with the checksum of whatever the
// decoder's own walk finds at the end fixed up, so the fuzzer spends its
// time in the walk and the MLD, MRD and PIM parsers instead of on
// checksums. Source, destination and hop limit come from small choices
// that reach every validation rule. Same properties as FuzzDecode.
func FuzzMLD(f *testing.F) {
	srcs := []string{llSrc, "::", "2001:db8::1", "fe80::2", "::ffff:169.254.1.1"}
	dsts := []string{"ff02::1", "ff02::16", "ff05::1:3", "ff02::6a", "ff02::d", "ff02::2", "fe80::2", "ff3e::1"}
	add := func(frame []byte, sel byte) {
		ip := frame[14:]
		if frame[12] == 0x81 {
			return // the harness rebuilds an untagged frame
		}
		plen := int(ip[4])<<8 | int(ip[5])
		if 40+plen > len(ip) {
			return
		}
		f.Add(ip[6], ip[40:40+plen], sel, ip[7])
	}
	for _, name := range []string{"icmpv6.pcap", "dcb_ets.pcap", "synthetic.pcap"} {
		for _, fr := range readPcap(f, name) {
			if fr.data[12] == 0x86 && fr.data[13] == 0xdd {
				add(fr.data, 0x11)
			}
		}
	}
	var seeds [][]byte
	for _, c := range append(append([]refusalCase(nil), refusals6...), extWalkSeeds...) {
		seeds = append(seeds, c.frame(f))
	}
	for _, c := range accepts6 {
		seeds = append(seeds, c.frame(f))
	}
	seeds = append(seeds, solicitSeeds(f)...)
	for i, fr := range seeds {
		if len(fr) >= 54 && fr[12] == 0x86 && fr[13] == 0xdd && fr[14]>>4 == 6 {
			add(fr, byte(i)) // vary source and destination choices
		}
	}

	f.Fuzz(func(t *testing.T, nh byte, payload []byte, sel, hop byte) {
		if len(payload) > 1400 {
			return
		}
		src, dst := srcs[int(sel>>4)%len(srcs)], dsts[int(sel&0x0f)%len(dsts)]
		frame := raw6(src, dst, hop, nil, 0xff, payload) // 0xff: raw6 leaves the payload alone
		ip := frame[14:]
		ip[6] = nh
		// Fix the checksum of the message the walk ends on, if any.
		var m Message
		m.SrcMAC = testMAC
		if up, p, err := NewDecoder().decodeIPv6(ip, &m); err == nil && len(p) >= 4 {
			p[2], p[3] = 0, 0
			c := Checksum6(m.Src, m.Dst, up, p)
			p[2], p[3] = byte(c>>8), byte(c)
		}

		fresh, err := Decode(frame)
		if err != nil {
			switch ReasonOf(err) {
			case ReasonNone, ReasonNotIP, ReasonNotIGMP, ReasonBadIPChecksum, ReasonBadIGMPChecksum,
				ReasonBadICMPv6Checksum, ReasonBadPIMChecksum, ReasonBadSourceMAC:
				// The headers are built valid and the checksum fixed.
				t.Fatalf("unexpected refusal %v", err)
			}
		}
		if checkReuse(t, v2Report6Seed, frame, fresh, err) {
			checkRoundTrip(t, fresh)
		}
	})
}

// v2Report6Seed dirties a reused Message and Decoder (records, sources,
// Router Alert) before FuzzMLD decodes into it.
var v2Report6Seed = mldFrame(llSrc, "ff02::16", mld2Report(2,
	record6(1, 0, 2, "ff3e::1", append(a6("2001:db8::1"), a6("2001:db8::2")...)...),
	record6(2, 0, 0, "ff05::1:3")))

// solicitSeeds are the MRD solicitations EncodeSolicitation builds, tagged
// and untagged, of both families.
func solicitSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range []Solicitation{
		{SrcMAC: testMAC, Src: addr("192.0.2.1")},
		{SrcMAC: testMAC, Src: addr("0.0.0.0"), VLAN: 10},
		{SrcMAC: testMAC, Src: addr(llSrc)},
		{SrcMAC: testMAC, Src: addr(llSrc), VLAN: 10},
	} {
		fr, err := EncodeSolicitation(s)
		if err != nil {
			t.Fatalf("EncodeSolicitation(%v): %v", s.Src, err)
		}
		out = append(out, fr)
	}
	return out
}
