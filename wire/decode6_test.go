package wire

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// Frames used by several IPv6 cases.
func v1Report6(t testing.TB) []byte {
	return mustReport(t, Report{Version: 1, SrcMAC: testMAC, Src: addr(llSrc), Group: addr("ff05::1:3")})
}

func v2Report6(t testing.TB) []byte {
	return mldFrame(llSrc, "ff02::16", mld2Report(2,
		record6(2, 0, 0, "ff05::1:3"),
		record6(1, 0, 1, "ff3e::8000:1", a6("2001:db8::1")...)))
}

// dest8 is an 8-byte Destination Options header holding only PadN.
var dest8 = destOpts(0, 0, 1, 4, 0, 0, 0, 0)

// refusals6 are TestRefusals' IPv6, PIM and MRD cases.
var refusals6 = []refusalCase{
	// not_mld: told by ICMPv6 type after the walk (RFC 4541 M7).
	{"ICMPv6 echo behind Hop-by-Hop", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::1", []byte{128, 0, 0, 0, 0, 1, 0, 1})
	}, ReasonNotMLD},
	{"neighbour solicitation", func(t testing.TB) []byte {
		ns := append([]byte{135, 0, 0, 0, 0, 0, 0, 0}, a6("fe80::2")...)
		return raw6("::", "ff02::1:ff00:2", 255, nil, ipProtoICMPv6, ns)
	}, ReasonNotMLD},
	{"router advertisement with MLD-like length", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::1", 255, nil, ipProtoICMPv6, mld1(134, 0, "::"))
	}, ReasonNotMLD},
	{"ICMPv6 type 144 (between MLD and MRD types)", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::1", mld1(144, 0, "::"))
	}, ReasonNotMLD},
	{"UDP", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::fb", 255, nil, 17, make([]byte, 16))
	}, ReasonNotMLD},
	{"UDP behind Hop-by-Hop", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::fb", 1, []ext6{hbh(hbhRA...)}, 17, make([]byte, 16))
	}, ReasonNotMLD},
	{"ESP", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...)}, nhESP, make([]byte, 32))
	}, ReasonNotMLD},
	{"no next header", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...)}, nhNoNext, nil)
	}, ReasonNotMLD},
	{"unknown extension header (253)", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), {253, make([]byte, 8)}}, ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff02::16"))
	}, ReasonNotMLD},
	{"IPv6 header alone, No Next Header (RFC 8200 §4.7)", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::1", 1, nil, nhNoNext, nil)
	}, ReasonNotMLD},
	{"fragment of UDP", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::fb", 1, []ext6{{nhFragment, []byte{0, 0, 0, 1, 0, 0, 0, 1}}}, 17, make([]byte, 16))
	}, ReasonNotMLD},
	{"empty ICMPv6 of another type (ICMPv6 length 1)", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::1", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, []byte{1})
	}, ReasonNotMLD},

	// not_pim_hello
	{"PIMv2 join/prune", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, append([]byte{0x23, 0, 0, 0}, make([]byte, 8)...), true)
	}, ReasonNotPIMHello},
	{"PIMv1 version in a PIM packet", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, []byte{0x10, 0, 0, 0, 0, 1, 0, 2}, true)
	}, ReasonNotPIMHello},
	{"PIMv2 register (unicast)", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "10.0.0.2", 64, ipProtoPIM, append([]byte{0x21, 0, 0, 0}, make([]byte, 24)...), true)
	}, ReasonNotPIMHello},
	{"IPv6 PIMv2 assert", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, append([]byte{0x25, 0, 0, 0}, make([]byte, 20)...))
	}, ReasonNotPIMHello},

	// bad_icmpv6_checksum
	{"ICMPv6 checksum", func(t testing.TB) []byte {
		f := v1Report6(t)
		icmp6Of(f)[3] ^= 0x01
		return f
	}, ReasonBadICMPv6Checksum},
	{"ICMPv6 checksum covers the pseudo-header source", func(t testing.TB) []byte {
		f := v1Report6(t)
		ip6Of(f)[23] ^= 0x02 // fe80::1 -> fe80::3: still link-local
		return f
	}, ReasonBadICMPv6Checksum},
	{"ICMPv6 checksum covers the payload length", func(t testing.TB) []byte {
		f := append(v1Report6(t), 0, 0, 0, 0)
		// Four more octets of payload, counted in the payload length but
		// not in the checksum.
		ip := ip6Of(f)
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+4)
		icmp6Of(f)[24] = 1
		return f
	}, ReasonBadICMPv6Checksum},
	{"MRD advertisement checksum", func(t testing.TB) []byte {
		f := raw6(llSrc, "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 125, 2))
		f[len(f)-1] ^= 0x80
		return f
	}, ReasonBadICMPv6Checksum},

	// bad_pim_checksum
	{"PIM hello checksum", func(t testing.TB) []byte {
		f := rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHello(), true)
		f[len(f)-1] ^= 0x01
		return f
	}, ReasonBadPIMChecksum},
	{"IPv6 PIM hello checksum without pseudo-header", func(t testing.TB) []byte {
		h := pimHello()
		binary.BigEndian.PutUint16(h[2:], Checksum(h))
		f := raw6(llSrc, "ff02::d", 1, nil, 0xff, h) // raw6 leaves the checksum alone for proto 255
		ip6Of(f)[6] = ipProtoPIM
		return f
	}, ReasonBadPIMChecksum},

	// bad_pim_option
	{"PIM Holdtime option of 4 bytes", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0, 0, 0, 105)), true)
	}, ReasonBadPIMOption},
	{"IPv6 PIM Holdtime option of 0 bytes", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHelloWith(pimOpt(19, 0, 0, 0, 1), pimOpt(1)))
	}, ReasonBadPIMOption},
	{"PIM second Holdtime option of 1 byte", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0, 105), pimOpt(1, 105)), true)
	}, ReasonBadPIMOption},

	// bad_hop_limit
	{"MLD report with Hop Limit 2", func(t testing.TB) []byte {
		return raw6(llSrc, "ff05::1:3", 2, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	}, ReasonBadHopLimit},
	{"MLD query with Hop Limit 255", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::1", 255, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mld2Query(1000, "::", 2, 125))
	}, ReasonBadHopLimit},
	{"IPv6 MRD advertisement with Hop Limit 64", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::6a", 64, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 125, 2))
	}, ReasonBadHopLimit},
	{"IPv4 MRD advertisement with TTL 2", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.106", 2, ipProtoIGMP, mrd(TypeMRDAdvert, 20, 125, 2), true)
	}, ReasonBadHopLimit},
	{"IPv4 MRD termination with TTL 64", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.106", 64, ipProtoIGMP, []byte{TypeMRDTermination, 0, 0, 0}, true)
	}, ReasonBadHopLimit},

	// no_router_alert (RFC 3810 §5; Linux requires the Hop-by-Hop header)
	{"MLD report without Hop-by-Hop", func(t testing.TB) []byte {
		return raw6(llSrc, "ff05::1:3", 1, nil, ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	}, ReasonNoRouterAlert},
	{"MLD query with Hop-by-Hop but only padding", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::1", 1, []ext6{hbh(0, 0, 1, 4, 0, 0, 0, 0)}, ipProtoICMPv6, mld1(TypeMLDQuery, 1000, "::"))
	}, ReasonNoRouterAlert},
	{"Router Alert in Destination Options only", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{destOpts(hbhRA...)}, ipProtoICMPv6, mld2Report(0))
	}, ReasonNoRouterAlert},
	{"Router Alert value 1 (RSVP)", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(0, 0, optRouterAlert, 2, 0, 1, 1, 0)}, ipProtoICMPv6, mld2Report(0))
	}, ReasonNoRouterAlert},

	// bad_source (RFC 3810 §5.1.14, §5.2.13; RFC 4541 M4)
	{"MLD query from ::", func(t testing.TB) []byte {
		return mldFrame("::", "ff02::1", mld2Query(1000, "::", 2, 125))
	}, ReasonBadSource},
	{"MLDv1 query from a global address", func(t testing.TB) []byte {
		return mldFrame("2001:db8::1", "ff02::1", mld1(TypeMLDQuery, 1000, "::"))
	}, ReasonBadSource},
	{"MLDv2 report from a global address", func(t testing.TB) []byte {
		return mldFrame("2001:db8::9", "ff02::16", mld2Report(0))
	}, ReasonBadSource},
	{"MLD done from a unique local address", func(t testing.TB) []byte {
		return mldFrame("fd00::9", "ff02::2", mld1(TypeMLDDone, 0, "ff05::1:3"))
	}, ReasonBadSource},
	{"MLD report from IPv4-mapped 169.254.1.1 (link-local only to IPv4)", func(t testing.TB) []byte {
		return mldFrame("::ffff:169.254.1.1", "ff05::1:3", mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	}, ReasonBadSource},
	{"MLD report from a multicast source", func(t testing.TB) []byte {
		return mldFrame("ff02::1", "ff05::1:3", mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	}, ReasonBadSource},
	{"IPv6 MRD advertisement from a global address", func(t testing.TB) []byte {
		return raw6("2001:db8::1", "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 125, 2))
	}, ReasonBadSource},

	// truncated
	{"IPv6 header cut", func(t testing.TB) []byte { return v1Report6(t)[:14+39] }, ReasonTruncated},
	{"IPv6 payload length beyond frame", func(t testing.TB) []byte {
		f := v1Report6(t)
		return f[:len(f)-1]
	}, ReasonTruncated},
	{"Hop-by-Hop length past the packet", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(0, 4, optRouterAlert, 2, 0, 0, 1, 0)}, ipProtoICMPv6, mld2Report(0))
	}, ReasonTruncated},
	{"Hop-by-Hop header cut", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(0, 0, optRouterAlert, 2)}, ipProtoICMPv6, nil)
	}, ReasonTruncated},
	{"Fragment header cut to 4 of its 8 octets (RFC 8200 §4.5)", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), {nhFragment, []byte{0, 0, 0, 1}}}, ipProtoICMPv6, nil)
	}, ReasonTruncated},
	{"Destination Options header cut to 1 octet", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), destOpts(0)}, ipProtoICMPv6, nil)
	}, ReasonTruncated},
	{"AH length past the packet", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), {nhAH, []byte{0, 200, 0, 0, 0, 0, 0, 0}}}, ipProtoICMPv6, mld2Report(0))
	}, ReasonTruncated},
	{"ICMPv6 header cut", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, []byte{TypeMLDReportV2, 0, 0})
	}, ReasonTruncated},
	{"empty ICMPv6", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, nil)
	}, ReasonTruncated},
	{"MLDv1 report of 20 bytes", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff05::1:3", mld1(TypeMLDReportV1, 0, "ff05::1:3")[:20])
	}, ReasonTruncated},
	{"MLDv2 report of 6 bytes", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld2Report(0)[:6])
	}, ReasonTruncated},
	{"MLDv2 query source count beyond message", func(t testing.TB) []byte {
		q := mld2Query(1000, "ff05::1:3", 2, 125, "2001:db8::1")
		q[27] = 2
		return mldFrame(llSrc, "ff05::1:3", q)
	}, ReasonTruncated},
	{"IPv6 MRD advertisement of 4 bytes", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 0, 0)[:4])
	}, ReasonTruncated},
	{"IPv4 MRD advertisement of 4 bytes", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.106", 1, ipProtoIGMP, mrd(TypeMRDAdvert, 20, 0, 0)[:4], true)
	}, ReasonTruncated},
	{"IPv4 MRD termination of 3 bytes", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.106", 1, ipProtoIGMP, []byte{TypeMRDTermination, 0, 0}, false)
	}, ReasonTruncated},
	{"PIM hello with a 1-byte tail", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, append(pimHello(), 0x7f), true)
	}, ReasonTruncated},
	{"IPv6 PIM hello option header cut to 3 bytes", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, append(pimHello(), 0, 20, 0))
	}, ReasonTruncated},
	{"PIM hello option length beyond message", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, append(pimHello(), pimOpt(20, 1, 2, 3, 4)[:7]...), true)
	}, ReasonTruncated},
	{"IPv6 PIM Holdtime option cut", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHello()[:9])
	}, ReasonTruncated},
	{"PIM hello option length 65535", func(t testing.TB) []byte {
		o := pimOpt(20, 1, 2, 3, 4)
		o[2], o[3] = 0xff, 0xff
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0, 105), o), true)
	}, ReasonTruncated},
	{"PIM header cut", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, []byte{0x20, 0, 0}, false)
	}, ReasonTruncated},

	// bad_ip_header
	{"IPv6 version 5", func(t testing.TB) []byte {
		f := v1Report6(t)
		ip6Of(f)[0] = 0x50
		return f
	}, ReasonBadIPHeader},
	{"IPv6 payload length 0 (jumbogram)", func(t testing.TB) []byte {
		f := v1Report6(t)
		binary.BigEndian.PutUint16(ip6Of(f)[4:], 0)
		return f
	}, ReasonBadIPHeader},
	{"too many extension headers", func(t testing.TB) []byte {
		exts := []ext6{hbh(hbhRA...)}
		for range maxIPv6ExtHeaders {
			exts = append(exts, dest8)
		}
		return raw6(llSrc, "ff02::16", 1, exts, ipProtoICMPv6, mld2Report(0))
	}, ReasonBadIPHeader},
	{"Hop-by-Hop after Destination Options (looping)", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), dest8, hbh(hbhRA...)}, ipProtoICMPv6, mld2Report(0))
	}, ReasonBadIPHeader},
	{"Hop-by-Hop option length past the header", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(0, 0, 0x1e, 9, 0, 0, 0, 0)}, ipProtoICMPv6, mld2Report(0))
	}, ReasonBadIPHeader},
	{"Router Alert of length 4", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(0, 0, optRouterAlert, 4, 0, 0, 0, 0)}, ipProtoICMPv6, mld2Report(0))
	}, ReasonBadIPHeader},
	{"routing header with segments left", func(t testing.TB) []byte {
		rh := append([]byte{0, 2, 0, 1, 0, 0, 0, 0}, a6("fe80::9")...)
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), {nhRouting, rh}}, ipProtoICMPv6, mld2Report(0))
	}, ReasonBadIPHeader},

	// fragment
	{"IPv6 fragment of MLD", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), {nhFragment, []byte{0, 0, 0, 1, 0, 0, 0, 7}}}, ipProtoICMPv6, mld2Report(0))
	}, ReasonFragment},
	{"IPv6 atomic fragment", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), {nhFragment, []byte{0, 0, 0, 0, 0, 0, 0, 7}}}, ipProtoICMPv6, mld2Report(0))
	}, ReasonFragment},

	// bad_query_length (RFC 3810 §8.1)
	{"MLD query of 26 bytes", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::1", append(mld1(TypeMLDQuery, 1000, "::"), 2, 125))
	}, ReasonBadQueryLength},
	{"MLD query of 20 bytes", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::1", mld1(TypeMLDQuery, 1000, "::")[:20])
	}, ReasonBadQueryLength},

	// bad_group
	{"MLDv1 report of a unicast group", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld1(TypeMLDReportV1, 0, "2001:db8::1"))
	}, ReasonBadGroup},
	{"MLD done of ::", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::2", mld1(TypeMLDDone, 0, "::"))
	}, ReasonBadGroup},
	{"MLD query of a link-local unicast group", func(t testing.TB) []byte {
		return mldFrame(llSrc, "fe80::2", mld2Query(1000, "fe80::2", 2, 125))
	}, ReasonBadGroup},
	{"MLDv1 report of an IPv4-mapped multicast group", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld1(TypeMLDReportV1, 0, "::ffff:239.1.1.1"))
	}, ReasonBadGroup},
	{"MLDv2 record of a unicast group after a good one", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld2Report(2, record6(2, 0, 0, "ff05::1"), record6(2, 0, 0, "2001:db8::1")))
	}, ReasonBadGroup},

	// bad_destination
	{"MLD general query to ff02::2", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::2", mld2Query(1000, "::", 2, 125))
	}, ReasonBadDestination},
	{"MLDv1 general query to a unicast address", func(t testing.TB) []byte {
		return mldFrame(llSrc, "fe80::2", mld1(TypeMLDQuery, 1000, "::"))
	}, ReasonBadDestination},
	{"IPv6 MRD advertisement to ff02::1", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::1", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 125, 2))
	}, ReasonBadDestination},
	{"IPv6 MRD termination to ff02::2", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::2", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, []byte{TypeMRDTermination6, 0, 0, 0})
	}, ReasonBadDestination},
	{"IPv4 MRD advertisement to 224.0.0.1", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.1", 1, ipProtoIGMP, mrd(TypeMRDAdvert, 20, 125, 2), true)
	}, ReasonBadDestination},
	{"PIM hello to 224.0.0.1", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.1", 1, ipProtoPIM, pimHello(), true)
	}, ReasonBadDestination},
	{"IPv6 PIM hello to ff02::1", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::1", 1, nil, ipProtoPIM, pimHello())
	}, ReasonBadDestination},

	// bad_sources
	{"MLDv2 general query with sources", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::1", mld2Query(1000, "::", 2, 125, "2001:db8::1"))
	}, ReasonBadSources},

	// bad_source_mac
	{"MLD report from a multicast MAC", func(t testing.TB) []byte {
		f := v1Report6(t)
		f[6] |= 0x01
		return f
	}, ReasonBadSourceMAC},
	{"PIM hello from a zero MAC", func(t testing.TB) []byte {
		f := raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHello())
		copy(f[6:12], make([]byte, 6))
		return f
	}, ReasonBadSourceMAC},

	// bad_record
	{"MLDv2 record count beyond message", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld2Report(2, record6(2, 0, 0, "ff05::1")))
	}, ReasonBadRecord},
	{"MLDv2 record header cut", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld2Report(1, record6(2, 0, 0, "ff05::1")[:19]))
	}, ReasonBadRecord},
	{"MLDv2 aux len counts words", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld2Report(1, record6(2, 4, 0, "ff05::1", 1, 2, 3, 4)))
	}, ReasonBadRecord},
	{"MLDv2 source count beyond message", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld2Report(1, record6(1, 0, 2, "ff3e::1", a6("2001:db8::1")...)))
	}, ReasonBadRecord},
}

// accepts6 are TestAccepts' IPv6, PIM and MRD cases.
var accepts6 = []acceptCase{
	{"Hop-by-Hop, Destination Options, then MLD", func(t testing.TB) []byte {
		return raw6(llSrc, "ff05::1:3", 1, []ext6{hbh(hbhRA...), dest8}, ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 1, "ff05::1:3") }},
	{"routing header with no segments left", func(t testing.TB) []byte {
		rh := append([]byte{0, 2, 0, 0, 0, 0, 0, 0}, a6("fe80::9")...)
		return raw6(llSrc, "ff05::1:3", 1, []ext6{hbh(hbhRA...), {nhRouting, rh}, dest8}, ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 1, "ff05::1:3") }},
	{"authentication header walked", func(t testing.TB) []byte {
		ah := []byte{0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // 24 bytes: (4+2)*4
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(hbhRA...), {nhAH, ah}}, ipProtoICMPv6, mld2Report(1, record6(4, 0, 0, "ff05::1")))
	}, func(t *testing.T, m *Message) {
		wantRecords(t, m, []GroupRecord{{Type: ChangeToExclude, Group: addr("ff05::1")}})
	}},
	{"as many extension headers as allowed", func(t testing.TB) []byte {
		exts := []ext6{hbh(hbhRA...)}
		for range maxIPv6ExtHeaders - 1 {
			exts = append(exts, dest8)
		}
		return raw6(llSrc, "ff02::16", 1, exts, ipProtoICMPv6, mld2Report(0))
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindReportV3 || m.Version != 2 {
			t.Errorf("got %v", m)
		}
	}},
	{"Router Alert after Pad1, PadN and an unknown option", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::16", 1, []ext6{hbh(0, 1, 0, 0x1e, 1, 0, 0x01, 0, optRouterAlert, 2, 0, 0, 1, 2, 0, 0)}, ipProtoICMPv6, mld2Report(0))
	}, func(t *testing.T, m *Message) {
		if !m.RouterAlert || m.Kind != KindReportV3 {
			t.Errorf("got %v RA %v", m, m.RouterAlert)
		}
	}},
	{"MLDv1 report from :: (RFC 4541 M4)", func(t testing.TB) []byte {
		return mldFrame("::", "ff05::1:3", mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	}, func(t *testing.T, m *Message) {
		wantGroup(t, m, KindReport, 1, "ff05::1:3")
		if m.Src != netip.IPv6Unspecified() || m.Proto != MLD || m.Generation() != 2 {
			t.Errorf("Src %v Proto %v Generation %d", m.Src, m.Proto, m.Generation())
		}
	}},
	{"MLDv2 report from ::", func(t testing.TB) []byte {
		return mldFrame("::", "ff02::16", mld2Report(1, record6(4, 0, 0, "ff02::1:ff00:1")))
	}, func(t *testing.T, m *Message) {
		wantRecords(t, m, []GroupRecord{{Type: ChangeToExclude, Group: addr("ff02::1:ff00:1")}})
	}},
	{"MLD done to the group (as to ff02::2)", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff05::1:3", mld1(TypeMLDDone, 0, "ff05::1:3"))
	}, func(t *testing.T, m *Message) { wantGroup(t, m, KindLeave, 1, "ff05::1:3") }},
	{"MLDv1 report with extra octets", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff05::1:3", append(mld1(TypeMLDReportV1, 0, "ff05::1:3"), 1, 2, 3))
	}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 1, "ff05::1:3") }},
	{"ethernet padding after an MLD packet", func(t testing.TB) []byte {
		return append(v1Report6(t), make([]byte, 7)...)
	}, func(t *testing.T, m *Message) { wantGroup(t, m, KindReport, 1, "ff05::1:3") }},
	{"MLDv1 query: linear milliseconds", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::1", mld1(TypeMLDQuery, 65535, "::"))
	}, func(t *testing.T, m *Message) {
		wantGroup(t, m, KindQuery, 1, "::")
		if m.MaxResp != 65535*time.Millisecond || !m.IsGeneralQuery() || m.Generation() != 2 {
			t.Errorf("got %v", m)
		}
	}},
	{"MLDv2 query: float code, S flag, QRV, reserved bits ignored", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::1", mld2Query(0x8000, "::", 0xfa, 0x8f))
	}, func(t *testing.T, m *Message) {
		if m.Version != 2 || m.MaxResp != 32768*time.Millisecond || !m.SuppressRouterSide || m.QRV != 2 ||
			m.QueryInterval != 248*time.Second || m.Generation() != 3 {
			t.Errorf("got %v", m)
		}
	}},
	{"MLDv2 group-and-source-specific query with trailing octets", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff3e::1", append(mld2Query(1000, "ff3e::1", 2, 125, "2001:db8::1", "2001:db8::2"), 9, 9))
	}, func(t *testing.T, m *Message) {
		wantGroup(t, m, KindQuery, 2, "ff3e::1")
		if len(m.Sources) != 2 || m.Sources[1] != addr("2001:db8::2") || m.IsGeneralQuery() {
			t.Errorf("got %v", m)
		}
	}},
	{"MLD group-specific query to a unicast address", func(t testing.TB) []byte {
		return mldFrame(llSrc, "fe80::2", mld1(TypeMLDQuery, 1000, "ff05::1:3"))
	}, func(t *testing.T, m *Message) { wantGroup(t, m, KindQuery, 1, "ff05::1:3") }},
	{"MLDv2 unknown record types skipped, aux data skipped by words", func(t testing.TB) []byte {
		return mldFrame(llSrc, "ff02::16", mld2Report(3,
			record6(9, 1, 1, "2001:db8::9", append(a6("2001:db8::1"), 1, 2, 3, 4)...),
			record6(1, 1, 1, "ff3e::1", append(a6("2001:db8::1"), 1, 2, 3, 4)...),
			record6(6, 0, 1, "ff3e::2", a6("2001:db8::2")...)))
	}, func(t *testing.T, m *Message) {
		wantRecords(t, m, []GroupRecord{
			{Type: ModeIsInclude, Group: addr("ff3e::1"), Sources: addrs("2001:db8::1")},
			{Type: BlockOldSources, Group: addr("ff3e::2"), Sources: addrs("2001:db8::2")},
		})
		if m.SkippedRecords != 1 {
			t.Errorf("SkippedRecords = %d, want 1", m.SkippedRecords)
		}
	}},
	{"MLD tagged VLAN 42", func(t testing.TB) []byte {
		return mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr(llSrc), VLAN: 42,
			Records: []GroupRecord{{Type: ModeIsExclude, Group: addr("ff05::2")}}})
	}, func(t *testing.T, m *Message) {
		if m.VLAN != 42 || m.Proto != MLD {
			t.Errorf("got %v", m)
		}
	}},
	{"ICMPv6 MRD solicitation is other", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::2", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, []byte{TypeMRDSolicit6, 0, 0, 0})
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindOther || m.Proto != MLD || m.IGMPType != TypeMRDSolicit6 || m.Generation() != 0 {
			t.Errorf("got %v", m)
		}
	}},
	{"IPv6 MRD advertisement", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, mrd(TypeMRDAdvert6, 20, 125, 2))
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindMRDAdvert || m.Proto != MLD || m.AdvertInterval != 20*time.Second ||
			m.QueryInterval != 125*time.Second || m.QRV != 2 || !m.RouterAlert || m.Generation() != 0 {
			t.Errorf("got %v", m)
		}
	}},
	{"IPv6 MRD advertisement without Hop-by-Hop, robustness saturated", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::6a", 1, nil, ipProtoICMPv6, mrd(TypeMRDAdvert6, 0, 0, 1000))
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindMRDAdvert || m.AdvertInterval != 0 || m.QRV != 255 || m.RouterAlert {
			t.Errorf("got %v", m)
		}
	}},
	{"IPv6 MRD termination", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::6a", 1, []ext6{hbh(hbhRA...)}, ipProtoICMPv6, []byte{TypeMRDTermination6, 0, 0, 0})
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindMRDTermination || m.Proto != MLD {
			t.Errorf("got %v", m)
		}
	}},
	{"IPv4 MRD advertisement", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.106", 1, ipProtoIGMP, mrd(TypeMRDAdvert, 20, 125, 2), true)
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindMRDAdvert || m.Proto != IGMP || m.IGMPType != TypeMRDAdvert || m.AdvertInterval != 20*time.Second ||
			m.QueryInterval != 125*time.Second || m.QRV != 2 || m.Group.IsValid() || m.Generation() != 0 {
			t.Errorf("got %v", m)
		}
	}},
	{"IPv4 MRD termination of 4 bytes", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.106", 1, ipProtoIGMP, []byte{TypeMRDTermination, 0, 0, 0}, true)
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindMRDTermination || m.Proto != IGMP {
			t.Errorf("got %v", m)
		}
	}},
	{"IPv4 MRD solicitation of 4 bytes is other", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.2", 1, ipProtoIGMP, []byte{TypeMRDSolicit, 0, 0, 0}, true)
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindOther || m.IGMPType != TypeMRDSolicit {
			t.Errorf("got %v", m)
		}
	}},
	{"IPv4 PIM hello, odd length, TTL not enforced", func(t testing.TB) []byte {
		// An unknown option of 1 byte makes the message odd for the checksum.
		return rawIPv4("10.0.0.1", "224.0.0.13", 64, ipProtoPIM, append(pimHello(), pimOpt(65001, 0x7f)...), true)
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindPIMHello || m.Proto != IGMP || m.TTL != 64 || m.Generation() != 0 || m.String() != "10.0.0.1 > 224.0.0.13 pim hello" {
			t.Errorf("got %v", m)
		}
		wantHoldtime(t, m, true, 105*time.Second)
	}},
	{"IPv6 PIM hello", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHello())
	}, func(t *testing.T, m *Message) {
		if m.Kind != KindPIMHello || m.Proto != MLD || m.Src != addr(llSrc) || m.String() != "fe80::1 > ff02::d pim hello" {
			t.Errorf("got %v", m)
		}
		wantHoldtime(t, m, true, 105*time.Second)
	}},
	{"IPv6 PIM hello behind Destination Options", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, []ext6{dest8}, ipProtoPIM, append(pimHello(), pimOpt(20, 1, 2, 3, 4)...))
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, true, 105*time.Second) }},
	{"PIM hello without options", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(), true)
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, false, 0) }},
	{"PIM hello without a Holdtime option", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHelloWith(pimOpt(19, 0, 0, 0, 1), pimOpt(20, 9, 9, 9, 9)))
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, false, 0) }},
	{"PIM goodbye: Holdtime 0", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0, 0)), true)
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, true, 0) }},
	{"IPv6 PIM goodbye among options", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHelloWith(pimOpt(20, 1, 2, 3, 4), pimOpt(1, 0, 0), pimOpt(19, 0, 0, 0, 1)))
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, true, 0) }},
	{"PIM Holdtime 0xffff never times out", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0xff, 0xff)), true)
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, true, HoldtimeForever) }},
	{"PIM Holdtime 0xfffe is seconds", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(pimOpt(1, 0xff, 0xfe)), true)
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, true, 65534*time.Second) }},
	{"PIM Holdtime after unknown and empty options", func(t testing.TB) []byte {
		return rawIPv4("10.0.0.1", "224.0.0.13", 1, ipProtoPIM, pimHelloWith(
			pimOpt(65535), pimOpt(24, make([]byte, 18)...), pimOpt(21, 1, 0, 0, 0), pimOpt(1, 0, 210)), true)
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, true, 210*time.Second) }},
	{"PIM hello with two Holdtime options: the first counts", func(t testing.TB) []byte {
		return raw6(llSrc, "ff02::d", 1, nil, ipProtoPIM, pimHelloWith(pimOpt(1, 0, 30), pimOpt(1, 0, 90)))
	}, func(t *testing.T, m *Message) { wantHoldtime(t, m, true, 30*time.Second) }},
}

func TestGeneration(t *testing.T) {
	tests := []struct {
		m    Message
		want int
	}{
		{Message{Proto: IGMP, Kind: KindQuery, Version: 1}, 1},
		{Message{Proto: IGMP, Kind: KindReport, Version: 2}, 2},
		{Message{Proto: IGMP, Kind: KindReportV3, Version: 3}, 3},
		{Message{Proto: MLD, Kind: KindQuery, Version: 1}, 2},
		{Message{Proto: MLD, Kind: KindReportV3, Version: 2}, 3},
		{Message{Proto: MLD, Kind: KindOther}, 0},
		{Message{Proto: IGMP, Kind: KindPIMHello}, 0},
		// Built by hand without Proto: the address family decides.
		{Message{Kind: KindReport, Version: 1, Src: addr(llSrc), Group: addr("ff05::1")}, 2},
		{Message{Kind: KindReport, Version: 2, Src: addr("10.0.0.1"), Group: addr("239.1.1.1")}, 2},
	}
	for _, tt := range tests {
		if got := tt.m.Generation(); got != tt.want {
			t.Errorf("%v: Generation %d, want %d", &tt.m, got, tt.want)
		}
	}
	// And from the wire, for every membership kind and version.
	frames := map[string]struct {
		f   []byte
		gen int
	}{
		"IGMPv1 query":  {mustQuery(t, Query{Version: 1, SrcMAC: testMAC, Src: addr("10.0.0.1")}), 1},
		"IGMPv2 leave":  {mustReport(t, Report{Version: 2, Leave: true, SrcMAC: testMAC, Src: addr("10.0.0.1"), Group: addr("239.1.1.1")}), 2},
		"IGMPv3 report": {mustReport(t, Report{Version: 3, SrcMAC: testMAC, Src: addr("10.0.0.1")}), 3},
		"MLDv1 done":    {mustReport(t, Report{Version: 1, Leave: true, SrcMAC: testMAC, Src: addr(llSrc), Group: addr("ff05::1")}), 2},
		"MLDv1 query":   {mustQuery(t, Query{Version: 1, SrcMAC: testMAC, Src: addr(llSrc), MaxResp: time.Second}), 2},
		"MLDv2 query":   {mustQuery(t, Query{Version: 2, SrcMAC: testMAC, Src: addr(llSrc), MaxResp: time.Second}), 3},
		"MLDv2 report":  {mustReport(t, Report{Version: 2, SrcMAC: testMAC, Src: addr(llSrc)}), 3},
	}
	for name, fr := range frames {
		m, err := Decode(fr.f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Generation() != fr.gen {
			t.Errorf("%s: Generation %d, want %d", name, m.Generation(), fr.gen)
		}
	}
}

func TestNotSnooped(t *testing.T) {
	for _, r := range Reasons() {
		want := r == ReasonNotIP || r == ReasonNotIGMP || r == ReasonNotMLD || r == ReasonNotPIMHello
		if r.NotSnooped() != want {
			t.Errorf("%v.NotSnooped() = %v", r, !want)
		}
	}
}

// TestRouterAlertState checks that the Hop-by-Hop state of one frame does
// not carry into the next on a reused Decoder.
func TestRouterAlertState(t *testing.T) {
	d := NewDecoder()
	var m Message
	if err := d.Decode(v1Report6(t), &m); err != nil {
		t.Fatal(err)
	}
	noHBH := raw6(llSrc, "ff05::1:3", 1, nil, ipProtoICMPv6, mld1(TypeMLDReportV1, 0, "ff05::1:3"))
	if err := d.Decode(noHBH, &m); !errors.Is(err, &Refusal{Reason: ReasonNoRouterAlert}) {
		t.Errorf("after a frame with Router Alert, one without: %v", err)
	}
}
