package wire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// Building blocks for hand-made frames.
var (
	v2ReportFrame = func(t testing.TB) []byte {
		return mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr("192.0.2.9"), Group: addr("239.1.1.1")})
	}
	v3GSQuery = func(t testing.TB) []byte {
		return mustQuery(t, Query{Version: 3, SrcMAC: testMAC, Src: addr("192.0.2.1"), Group: addr("232.1.1.1"),
			MaxResp: time.Second, QRV: 2, QueryInterval: 125 * time.Second, Sources: addrs("10.0.0.1", "10.0.0.2")})
	}
)

// ipOf returns the IPv4 header of an encoder-built frame, for editing.
func ipOf(f []byte) []byte { return f[ipOffset(f):] }

// igmpOf returns the IGMP message of an encoder-built frame.
func igmpOf(f []byte) []byte { return f[ipOffset(f)+24:] }

// record is an IGMPv3 group record in wire form.
func record(typ, auxWords uint8, nsrcs uint16, group string, tail ...byte) []byte {
	g := addr(group).As4()
	b := []byte{typ, auxWords, byte(nsrcs >> 8), byte(nsrcs), g[0], g[1], g[2], g[3]}
	return append(b, tail...)
}

// v3Report is an IGMPv3 report header claiming n records, then body.
func v3Report(n uint16, body ...[]byte) []byte {
	b := []byte{0x22, 0, 0, 0, 0, 0, byte(n >> 8), byte(n)}
	for _, r := range body {
		b = append(b, r...)
	}
	return b
}

func igmp8(typ, code byte, group string) []byte {
	g := addr(group).As4()
	return []byte{typ, code, 0, 0, g[0], g[1], g[2], g[3]}
}

// refusalCase is a frame the decoder must refuse, and why.
type refusalCase struct {
	name   string
	frame  func(t testing.TB) []byte
	reason Reason
}

// acceptCase is a frame the decoder must accept, and what to check.
type acceptCase struct {
	name  string
	frame func(t testing.TB) []byte
	check func(t *testing.T, m *Message)
}

// TestRefusals runs every refusal case, IPv4 ones here and IPv6, PIM and
// MRD ones from refusals6, and checks each reason has at least one.
func TestRefusals(t *testing.T) {
	tests := []refusalCase{
		// not_ip
		{"ARP", func(t testing.TB) []byte {
			f := make([]byte, 60)
			copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06})
			return f
		}, ReasonNotIP},
		{"802.3 length field", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			f[12], f[13] = 0x00, 0x20
			return f
		}, ReasonNotIP},

		// not_igmp
		{"UDP", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			ipOf(f)[9] = 17
			return fixIP(f)
		}, ReasonNotIGMP},
		{"IPv4 header alone (20 bytes), of UDP", func(t testing.TB) []byte {
			f := stripOptions(v2ReportFrame(t))[:14+20]
			ip := ipOf(f)
			ip[9] = 17
			binary.BigEndian.PutUint16(ip[2:], 20)
			return fixIP(f)
		}, ReasonNotIGMP},
		{"two 802.1Q tags", func(t testing.TB) []byte {
			f := mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr("192.0.2.9"), Group: addr("239.1.1.1"), VLAN: 10})
			return append(append(append([]byte{}, f[:16]...), 0x81, 0x00, 0x00, 0x14), f[16:]...)
		}, ReasonNotIP},
		// The Ethernet header, or the tag, with nothing after it: its
		// type says what it is, not that something is cut.
		{"Ethernet header alone, of ARP", func(t testing.TB) []byte {
			f := v2ReportFrame(t)[:14]
			f[12], f[13] = 0x08, 0x06
			return f
		}, ReasonNotIP},
		{"802.1Q tag alone, of ARP", func(t testing.TB) []byte {
			f := mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr("192.0.2.9"), Group: addr("239.1.1.1"), VLAN: 10})[:18]
			f[16], f[17] = 0x08, 0x06
			return f
		}, ReasonNotIP},
		{"802.1ad S-tag", func(t testing.TB) []byte {
			f := mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr("192.0.2.9"), Group: addr("239.1.1.1"), VLAN: 10})
			f[12], f[13] = 0x88, 0xa8
			return f
		}, ReasonNotIP},

		// truncated
		{"empty", func(t testing.TB) []byte { return nil }, ReasonTruncated},
		{"short ethernet", func(t testing.TB) []byte { return v2ReportFrame(t)[:10] }, ReasonTruncated},
		{"802.1Q tag cut", func(t testing.TB) []byte {
			f := mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr("192.0.2.9"), Group: addr("239.1.1.1"), VLAN: 10})
			return f[:16]
		}, ReasonTruncated},
		{"IP header cut", func(t testing.TB) []byte { return v2ReportFrame(t)[:14+19] }, ReasonTruncated},
		{"IP total length beyond frame", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			return f[:len(f)-1]
		}, ReasonTruncated},
		{"IP total length equal to the header: no IGMP message (RFC 791 §3.1)", func(t testing.TB) []byte {
			f := v2ReportFrame(t) // the IGMP octets that follow are padding now
			binary.BigEndian.PutUint16(ipOf(f)[2:], 24)
			return fixIP(f)
		}, ReasonTruncated},
		{"IGMP under 8 bytes", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "239.1.1.1", []byte{0x16, 0, 0, 0, 239, 1})
		}, ReasonTruncated},
		{"query source count beyond message", func(t testing.TB) []byte {
			f := v3GSQuery(t)
			binary.BigEndian.PutUint16(igmpOf(f)[10:], 3)
			return fixIGMP(f)
		}, ReasonTruncated},
		{"query source count 65535", func(t testing.TB) []byte {
			f := v3GSQuery(t)
			binary.BigEndian.PutUint16(igmpOf(f)[10:], 0xffff)
			return fixIGMP(f)
		}, ReasonTruncated},

		// bad_ip_header
		{"IPv4 under IPv6 ethertype", func(t testing.TB) []byte {
			f := append(v2ReportFrame(t), make([]byte, 20)...)
			f[12], f[13] = 0x86, 0xdd
			return f
		}, ReasonBadIPHeader},
		{"IP version 6 under IPv4 ethertype", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			ipOf(f)[0] = 0x66
			return fixIP(f)
		}, ReasonBadIPHeader},
		{"IHL 4", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			ipOf(f)[0] = 0x44
			return f
		}, ReasonBadIPHeader},
		{"total length below header", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			binary.BigEndian.PutUint16(ipOf(f)[2:], 20)
			return fixIP(f)
		}, ReasonBadIPHeader},
		{"total length 0 (not TSO here)", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			binary.BigEndian.PutUint16(ipOf(f)[2:], 0)
			return fixIP(f)
		}, ReasonBadIPHeader},
		{"option longer than header", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			copy(ipOf(f)[20:24], []byte{0x07, 0x08, 0, 0})
			return fixIP(f)
		}, ReasonBadIPHeader},
		{"option length 1", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			copy(ipOf(f)[20:24], []byte{0x94, 0x01, 0, 0})
			return fixIP(f)
		}, ReasonBadIPHeader},

		// bad_ip_checksum
		{"IP checksum", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			ipOf(f)[10] ^= 0x01
			return f
		}, ReasonBadIPChecksum},
		{"IP header bit flip", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			ipOf(f)[15] ^= 0x40 // source address
			return f
		}, ReasonBadIPChecksum},

		// fragment
		{"more fragments", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			ipOf(f)[6] = 0x20
			return fixIP(f)
		}, ReasonFragment},
		{"fragment offset", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			ipOf(f)[6], ipOf(f)[7] = 0, 1
			return fixIP(f)
		}, ReasonFragment},

		// bad_igmp_checksum
		{"IGMP checksum", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			igmpOf(f)[3] ^= 0xff
			return f
		}, ReasonBadIGMPChecksum},
		{"IGMP checksum covers extra octets", func(t testing.TB) []byte {
			f := rawFrame("192.0.2.9", "239.1.1.1", append(igmp8(0x16, 0, "239.1.1.1"), 1, 2, 3, 4))
			igmpOf(f)[11] ^= 0x10
			return f
		}, ReasonBadIGMPChecksum},
		{"IGMP checksum on an unknown type", func(t testing.TB) []byte {
			f := rawFrame("10.0.0.1", "10.0.0.2", igmp8(0x1f, 0, "0.0.0.0"))
			igmpOf(f)[7] ^= 0x01
			return f
		}, ReasonBadIGMPChecksum},

		// bad_query_length (RFC 3376 §7.1)
		{"9-byte query", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.1", append(igmp8(0x11, 100, "0.0.0.0"), 0))
		}, ReasonBadQueryLength},
		{"10-byte query", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.1", append(igmp8(0x11, 100, "0.0.0.0"), 0, 0))
		}, ReasonBadQueryLength},
		{"11-byte query", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.1", append(igmp8(0x11, 100, "0.0.0.0"), 2, 125, 0))
		}, ReasonBadQueryLength},

		// bad_record
		{"record count beyond message", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(2, record(2, 0, 0, "239.1.1.1")))
		}, ReasonBadRecord},
		{"record count 65535", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(0xffff, record(2, 0, 0, "239.1.1.1")))
		}, ReasonBadRecord},
		{"source count beyond message", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(1, record(1, 0, 5, "239.1.1.1", 10, 0, 0, 1)))
		}, ReasonBadRecord},
		{"huge aux len", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(1, record(2, 255, 0, "239.1.1.1", 1, 2, 3, 4)))
		}, ReasonBadRecord},
		{"aux len counts words, not bytes", func(t testing.TB) []byte {
			// 4 bytes of aux data follow: fine if read as bytes, 12 short as words.
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(1, record(2, 4, 0, "239.1.1.1", 1, 2, 3, 4)))
		}, ReasonBadRecord},
		{"unknown record type still bounds-checked", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(1, record(9, 0, 3, "239.1.1.1")))
		}, ReasonBadRecord},

		// bad_group
		{"v1 report unicast group", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "10.1.1.1", igmp8(0x12, 0, "10.1.1.1"))
		}, ReasonBadGroup},
		{"v2 report group 0.0.0.0", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.1", igmp8(0x16, 0, "0.0.0.0"))
		}, ReasonBadGroup},
		{"v2 report broadcast group", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "239.1.1.1", igmp8(0x16, 0, "255.255.255.255"))
		}, ReasonBadGroup},
		{"v2 report class E group", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "239.1.1.1", igmp8(0x16, 0, "240.0.0.1"))
		}, ReasonBadGroup},
		{"leave unicast group", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.2", igmp8(0x17, 0, "10.0.0.1"))
		}, ReasonBadGroup},
		{"v2 query unicast group", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "10.0.0.1", igmp8(0x11, 10, "10.0.0.1"))
		}, ReasonBadGroup},
		{"v3 query class E group", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "240.0.0.1", append(igmp8(0x11, 10, "240.0.0.1"), 2, 125, 0, 0))
		}, ReasonBadGroup},
		{"v3 record unicast group after a good one", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(2, record(2, 0, 0, "239.1.1.1"), record(2, 0, 0, "10.1.1.1")))
		}, ReasonBadGroup},

		// bad_destination
		{"v2 general query to 224.0.0.2", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.2", igmp8(0x11, 100, "0.0.0.0"))
		}, ReasonBadDestination},
		{"v3 general query to unicast", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "192.0.2.2", append(igmp8(0x11, 100, "0.0.0.0"), 2, 125, 0, 0))
		}, ReasonBadDestination},
		{"v1 query to a group", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "239.1.1.1", igmp8(0x11, 0, "239.1.1.1"))
		}, ReasonBadDestination},

		// bad_source_mac
		{"multicast source MAC", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			f[6] |= 0x01
			return f
		}, ReasonBadSourceMAC},
		{"broadcast source MAC", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			copy(f[6:12], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			return f
		}, ReasonBadSourceMAC},
		{"zero source MAC", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			copy(f[6:12], make([]byte, 6))
			return f
		}, ReasonBadSourceMAC},

		// bad_source: sources that can never send (RFC 1812 §5.3.7)
		{"IPv4 source 224.0.0.1, the first multicast address", func(t testing.TB) []byte {
			return rawFrame("224.0.0.1", "239.1.1.1", igmp8(0x16, 0, "239.1.1.1"))
		}, ReasonBadSource},
		{"IPv4 source 255.255.255.255, broadcast", func(t testing.TB) []byte {
			return rawFrame("255.255.255.255", "239.1.1.1", igmp8(0x16, 0, "239.1.1.1"))
		}, ReasonBadSource},
		{"IPv4 source 127.0.0.1, loopback", func(t testing.TB) []byte {
			return rawFrame("127.0.0.1", "224.0.0.1", igmp8(0x11, 100, "0.0.0.0"))
		}, ReasonBadSource},

		// bad_sources
		{"general query with sources", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.1", append(igmp8(0x11, 100, "0.0.0.0"), 2, 125, 0, 1, 10, 0, 0, 1))
		}, ReasonBadSources},
	}
	tests = append(tests, refusals6...)
	covered := map[Reason]bool{}
	d := NewDecoder()
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.frame(t)
			err := d.Decode(f, &m)
			var r *Refusal
			if !errors.As(err, &r) {
				t.Fatalf("Decode = %v, want a *Refusal (%v); message %v", err, tt.reason, &m)
			}
			if r.Reason != tt.reason {
				t.Fatalf("refused for %v (%v), want %v", r.Reason, r, tt.reason)
			}
			if _, err := Decode(f); ReasonOf(err) != tt.reason {
				t.Errorf("Decode() convenience: %v", err)
			}
			covered[tt.reason] = true
		})
	}
	covered[ReasonBadND] = true // needs Decoder.ND: TestNDRefused
	for _, r := range Reasons() {
		if !covered[r] {
			t.Errorf("no refusal test for %v", r)
		}
	}
}

// stripOptions rewrites an encoder-built untagged frame to a 20-byte IP
// header with no options.
func stripOptions(f []byte) []byte {
	ip := f[14:]
	total := int(binary.BigEndian.Uint16(ip[2:]))
	out := append(append([]byte{}, f[:14+20]...), f[14+24:14+total]...)
	out[14] = 0x45
	binary.BigEndian.PutUint16(out[14+2:], uint16(total-4))
	return fixIP(out)
}

// TestAccepts runs every acceptance case, IPv4 ones here and IPv6, PIM
// and MRD ones from accepts6.
func TestAccepts(t *testing.T) {
	tests := []acceptCase{
		{"ethernet padding trimmed", func(t testing.TB) []byte {
			return append(v2ReportFrame(t), make([]byte, 20)...)
		}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 2, "239.1.1.1") }},
		{"trailing bytes beyond IP length ignored", func(t testing.TB) []byte {
			return append(v2ReportFrame(t), 0xde, 0xad, 0xbe, 0xef, 0xff)
		}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 2, "239.1.1.1") }},
		{"extra octets in a v2 report", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "239.1.1.1", append(igmp8(0x16, 0, "239.1.1.1"), 1, 2, 3, 4, 5))
		}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 2, "239.1.1.1") }},
		{"v1 report keeps a link-local group", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.251", igmp8(0x12, 0, "224.0.0.251"))
		}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 1, "224.0.0.251") }},
		{"v2 report to a unicast address (RFC 3376 §4.2.14)", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "192.0.2.1", igmp8(0x16, 0, "239.1.1.1"))
		}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 2, "239.1.1.1") }},
		{"leave sent to the group (RFC 2236 §9)", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "239.1.1.1", igmp8(0x17, 0, "239.1.1.1"))
		}, func(t *testing.T, m *Message) { wantGroup(t, m, KindLeave, 2, "239.1.1.1") }},
		{"report from 0.0.0.0", func(t testing.TB) []byte {
			return rawFrame("0.0.0.0", "239.1.1.1", igmp8(0x16, 0, "239.1.1.1"))
		}, func(t *testing.T, m *Message) {
			if m.Src != netip.IPv4Unspecified() {
				t.Errorf("Src = %v", m.Src)
			}
		}},
		{"group-specific query to a unicast address", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "192.0.2.2", igmp8(0x11, 10, "239.1.1.1"))
		}, func(t *testing.T, m *Message) { wantGroup(t, m, KindQuery, 2, "239.1.1.1") }},
		{"v1 query ignores its group field", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.1", igmp8(0x11, 0, "239.1.1.1"))
		}, func(t *testing.T, m *Message) {
			wantGroup(t, m, KindQuery, 1, "0.0.0.0")
			if !m.IsGeneralQuery() || m.MaxResp != 10*time.Second {
				t.Errorf("v1 query: general %v, MaxResp %v", m.IsGeneralQuery(), m.MaxResp)
			}
		}},
		{"v2 MRC is linear, not float", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.1", igmp8(0x11, 200, "0.0.0.0"))
		}, func(t *testing.T, m *Message) {
			if m.Version != 2 || m.MaxResp != 20*time.Second {
				t.Errorf("v%d MaxResp %v, want v2 20s", m.Version, m.MaxResp)
			}
		}},
		{"v3 query with MRC 0 and a float QQIC", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.1", append(igmp8(0x11, 0, "0.0.0.0"), 0x0a, 0x8f, 0, 0))
		}, func(t *testing.T, m *Message) {
			if m.Version != 3 || m.MaxResp != 0 || m.QRV != 2 || !m.SuppressRouterSide || m.QueryInterval != 248*time.Second {
				t.Errorf("got %v", m)
			}
		}},
		{"v3 query flags ignore reserved bits", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "224.0.0.1", append(igmp8(0x11, 100, "0.0.0.0"), 0xf3, 125, 0, 0))
		}, func(t *testing.T, m *Message) {
			if m.QRV != 3 || m.SuppressRouterSide {
				t.Errorf("QRV %d S %v", m.QRV, m.SuppressRouterSide)
			}
		}},
		{"v3 query with trailing octets", func(t testing.TB) []byte {
			return rawFrame("192.0.2.1", "232.1.1.1", append(igmp8(0x11, 100, "232.1.1.1"), 2, 125, 0, 1, 10, 0, 0, 1, 9, 9, 9))
		}, func(t *testing.T, m *Message) {
			if len(m.Sources) != 1 || m.Sources[0] != addr("10.0.0.1") {
				t.Errorf("Sources %v", m.Sources)
			}
		}},
		{"unknown record types skipped, the rest kept", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(4,
				record(9, 1, 1, "10.9.9.9", 10, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd), // unknown, non-multicast group: ignored entirely
				record(2, 0, 0, "239.1.1.1"),
				record(0, 0, 0, "239.9.9.9"),
				record(3, 0, 1, "239.1.1.2", 10, 0, 0, 2)))
		}, func(t *testing.T, m *Message) {
			want := []GroupRecord{
				{Type: ModeIsExclude, Group: addr("239.1.1.1")},
				{Type: ChangeToInclude, Group: addr("239.1.1.2"), Sources: addrs("10.0.0.2")},
			}
			wantRecords(t, m, want)
			if m.SkippedRecords != 2 {
				t.Errorf("SkippedRecords = %d, want 2", m.SkippedRecords)
			}
		}},
		{"aux data skipped by words", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(2,
				record(1, 2, 1, "232.1.1.1", 10, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2),
				record(6, 0, 1, "232.1.1.2", 10, 0, 0, 2)))
		}, func(t *testing.T, m *Message) {
			wantRecords(t, m, []GroupRecord{
				{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1")},
				{Type: BlockOldSources, Group: addr("232.1.1.2"), Sources: addrs("10.0.0.2")},
			})
		}},
		{"v3 report with trailing octets after records", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(1, record(4, 0, 0, "239.1.1.1"), []byte{0, 0, 0, 0}))
		}, func(t *testing.T, m *Message) {
			wantRecords(t, m, []GroupRecord{{Type: ChangeToExclude, Group: addr("239.1.1.1")}})
		}},
		{"v3 report with zero records", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "224.0.0.22", v3Report(0))
		}, func(t *testing.T, m *Message) {
			if m.Kind != KindReportV3 || len(m.Records) != 0 {
				t.Errorf("got %v", m)
			}
		}},
		{"no IP options", func(t testing.TB) []byte { return stripOptions(v2ReportFrame(t)) },
			func(t *testing.T, m *Message) {
				wantGroup(t, m, KindReport, 2, "239.1.1.1")
				if m.RouterAlert {
					t.Error("RouterAlert without the option")
				}
			}},
		{"other IP options, no Router Alert", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			copy(ipOf(f)[20:24], []byte{0x01, 0x01, 0x01, 0x00}) // NOP NOP NOP EOL
			return fixIP(f)
		}, func(t *testing.T, m *Message) {
			if m.RouterAlert {
				t.Error("RouterAlert without the option")
			}
		}},
		{"a two-byte IP option ends the header (RFC 791 §3.1)", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			copy(ipOf(f)[20:24], []byte{0x01, 0x01, 0x1e, 0x02}) // NOP NOP, experiment (RFC 4727) of length 2
			return fixIP(f)
		}, func(t *testing.T, m *Message) {
			wantGroup(t, m, KindReport, 2, "239.1.1.1")
			if m.RouterAlert {
				t.Error("RouterAlert without the option")
			}
		}},
		{"IPv4 source 223.255.255.255, the last below multicast", func(t testing.TB) []byte {
			return rawFrame("223.255.255.255", "239.1.1.1", igmp8(0x16, 0, "239.1.1.1"))
		}, func(t *testing.T, m *Message) {
			wantGroup(t, m, KindReport, 2, "239.1.1.1")
			if m.Src != addr("223.255.255.255") {
				t.Errorf("Src %v", m.Src)
			}
		}},
		{"TTL is reported, not enforced", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			ipOf(f)[8] = 64
			return fixIP(f)
		}, func(t *testing.T, m *Message) {
			if m.TTL != 64 || !m.RouterAlert {
				t.Errorf("TTL %d RA %v", m.TTL, m.RouterAlert)
			}
		}},
		{"DF set", func(t testing.TB) []byte { return v2ReportFrame(t) }, // encoders set DF: not a fragment
			func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 2, "239.1.1.1") }},
		{"priority tag (VLAN 0)", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			return append(append(append([]byte{}, f[:12]...), 0x81, 0x00, 0xe0, 0x00), f[12:]...)
		}, func(t *testing.T, m *Message) {
			wantGroup(t, m, KindReport, 2, "239.1.1.1")
			if m.VLAN != 0 {
				t.Errorf("VLAN %d", m.VLAN)
			}
		}},
		{"VLAN 100 with PCP bits", func(t testing.TB) []byte {
			f := v2ReportFrame(t)
			return append(append(append([]byte{}, f[:12]...), 0x81, 0x00, 0xe0, 100), f[12:]...)
		}, func(t *testing.T, m *Message) {
			if m.VLAN != 100 {
				t.Errorf("VLAN %d", m.VLAN)
			}
		}},
		{"odd-length IGMP payload", func(t testing.TB) []byte {
			return rawFrame("192.0.2.9", "239.1.1.1", append(igmp8(0x16, 0, "239.1.1.1"), 0x7f))
		}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 2, "239.1.1.1") }},
	}
	for _, typ := range []byte{0x00, 0x13, 0x14, 0x1e, 0x1f, 0x31, 0x42, 0xff} {
		tests = append(tests, acceptCase{"other type " + hex(typ), func(t testing.TB) []byte {
			return rawFrame("10.0.0.1", "224.0.0.106", igmp8(typ, 0x33, "10.2.3.4"))
		}, func(t *testing.T, m *Message) {
			if m.Kind != KindOther || m.IGMPType != typ || m.Group.IsValid() || m.Version != 0 {
				t.Errorf("got %v (kind %v type %#x group %v)", m, m.Kind, m.IGMPType, m.Group)
			}
		}})
	}
	tests = append(tests, accepts6...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.frame(t))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tt.check(t, m)
		})
	}
}

func hex(b byte) string { return string("0123456789abcdef"[b>>4]) + string("0123456789abcdef"[b&15]) }

func wantGroup(t *testing.T, m *Message, k Kind, v int, group string) {
	t.Helper()
	if m.Kind != k || m.Version != v || m.Group != addr(group) {
		t.Errorf("got %v, want %v v%d group %s", m, k, v, group)
	}
}

func wantRecords(t *testing.T, m *Message, want []GroupRecord) {
	t.Helper()
	w := Message{Records: want}
	g := Message{Records: m.Records}
	if m.Kind != KindReportV3 || !sameMessage(&g, &w) {
		t.Errorf("records %v, want %v", m.Records, want)
	}
}
