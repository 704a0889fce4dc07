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

	dirty := mustReport(f, Report{Version: 3, SrcMAC: testMAC, Src: addr("192.0.2.9"), VLAN: 9, Records: []GroupRecord{
		{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")},
		{Type: ModeIsExclude, Group: addr("239.1.1.2"), Sources: addrs("10.0.0.4")},
	}})

	f.Fuzz(func(t *testing.T, frame []byte) {
		fresh, err := Decode(frame)

		d := NewDecoder()
		var m Message
		if err := d.Decode(dirty, &m); err != nil {
			t.Fatal(err)
		}
		err2 := d.Decode(frame, &m)
		if ReasonOf(err) != ReasonOf(err2) || (err == nil) != (err2 == nil) {
			t.Fatalf("fresh decode %v, reused decode %v", err, err2)
		}
		if err != nil {
			if ReasonOf(err) == ReasonNone {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if !sameMessage(fresh, &m) {
			t.Fatalf("reused decode leaks state:\n%v\nfresh:\n%v", &m, fresh)
		}
		_ = fresh.String()

		checkRoundTrip(t, fresh)
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
			if d.Decode(fr.data, &m) == nil {
				ip := fr.data[14:]
				ihl := int(ip[0]&0x0f) * 4
				total := int(ip[2])<<8 | int(ip[3])
				f.Add(append([]byte(nil), ip[ihl:total]...), ip[16], ip[19])
			}
		}
	}
	f.Add(v3Report(2, record(9, 1, 1, "10.9.9.9", 10, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd), record(1, 0, 1, "232.1.1.1", 10, 0, 0, 1)), byte(224), byte(22))
	f.Add(append(igmp8(0x11, 0x8f, "232.1.1.1"), 0x0a, 0xff, 0, 2, 10, 0, 0, 1, 10, 0, 0, 2), byte(232), byte(1))

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
			c := checksum(p)
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
		d := NewDecoder()
		var m Message
		_ = d.Decode(b, &m)
		if !sameMessage(fresh, &m) {
			t.Fatalf("decoders disagree")
		}
		checkRoundTrip(t, fresh)
	})
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
