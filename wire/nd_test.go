package wire

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// ndMsg is an ND message of type typ with the given flags byte (byte 4),
// target (none for RS and RA: their fixed part is zeros) and options.
func ndMsg(typ, flags uint8, target string, opts ...byte) []byte {
	fixed := ndTargetLen
	switch typ {
	case TypeRouterSolicit:
		fixed = ndRSLen
	case TypeRouterAdvert:
		fixed = ndRALen
	}
	b := make([]byte, fixed, fixed+len(opts))
	b[0], b[4] = typ, flags
	if target != "" {
		copy(b[8:24], a6(target))
	}
	return append(b, opts...)
}

// slla is a Source Link-Layer Address option with testMAC.
var slla = append([]byte{1, 1}, testMAC...)

// ndFrame is an ND message from src to dst as hosts send it: Hop Limit
// 255, no extension header.
func ndFrame(src, dst string, msg []byte) []byte {
	return raw6(src, dst, ndHopLimit, nil, ipProtoICMPv6, msg)
}

// ndAccepts are valid ND messages, the addresses each shows its sender
// holds, and its target.
var ndAccepts = []struct {
	name   string
	frame  []byte
	holds  []string
	target string
}{
	{"DAD solicitation from ::", ndFrame("::", "ff02::1:ff00:2", ndMsg(TypeNeighborSolicit, 0, "fd77::2")), []string{"fd77::2"}, "fd77::2"},
	{"address resolution", ndFrame("fd77::1", "ff02::1:ff00:9", ndMsg(TypeNeighborSolicit, 0, "fd77::9", slla...)), []string{"fd77::1"}, "fd77::9"},
	{"unicast reachability probe", ndFrame("fe80::1", "fe80::9", ndMsg(TypeNeighborSolicit, 0, "fe80::9")), []string{"fe80::1"}, "fe80::9"},
	{"solicited advertisement", ndFrame("fd77::2", "fd77::1", ndMsg(TypeNeighborAdvert, 0x60, "fd77::2", 2, 1, 2, 0, 0, 0, 0, 1)), []string{"fd77::2"}, "fd77::2"},
	{"advertisement of another address of the sender", ndFrame("fe80::2", "fe80::1", ndMsg(TypeNeighborAdvert, 0x40, "fd77::2")), []string{"fe80::2", "fd77::2"}, "fd77::2"},
	{"unsolicited advertisement to all nodes", ndFrame("fe80::2", "ff02::1", ndMsg(TypeNeighborAdvert, 0x20, "fd77::2")), []string{"fe80::2", "fd77::2"}, "fd77::2"},
	{"router solicitation from ::", ndFrame("::", "ff02::2", ndMsg(TypeRouterSolicit, 0, "")), nil, ""},
	{"router solicitation with source link-layer address", ndFrame("fe80::2", "ff02::2", ndMsg(TypeRouterSolicit, 0, "", slla...)), []string{"fe80::2"}, ""},
	{"router advertisement", ndFrame("fe80::1", "ff02::1", ndMsg(TypeRouterAdvert, 0, "", slla...)), []string{"fe80::1"}, ""},
	{"solicitation behind a Hop-by-Hop header", raw6("fe80::2", "ff02::1:ff00:9", ndHopLimit, []ext6{hbh(0, 0, 1, 4, 0, 0, 0, 0)}, ipProtoICMPv6, ndMsg(TypeNeighborSolicit, 0, "fd77::9")), []string{"fe80::2"}, "fd77::9"},
}

func TestNDAccepted(t *testing.T) {
	for _, c := range ndAccepts {
		t.Run(c.name, func(t *testing.T) {
			d := &Decoder{ND: true}
			var m Message
			if err := d.Decode(c.frame, &m); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if m.Kind != KindND || m.Proto != MLD || m.IGMPType != ndPayload(c.frame)[0] {
				t.Fatalf("decoded as %v (proto %v, type %d)", m.Kind, m.Proto, m.IGMPType)
			}
			if c.target != "" && m.Target != addr(c.target) {
				t.Errorf("target %v, want %v", m.Target, c.target)
			}
			var want []netip.Addr
			for _, h := range c.holds {
				want = append(want, addr(h))
			}
			if got := NDAddresses(nil, &m); !slices.Equal(got, want) {
				t.Errorf("NDAddresses = %v, want %v", got, want)
			}
			// Without the option ND stays what it was: not MLD.
			if err := NewDecoder().Decode(c.frame, &m); ReasonOf(err) != ReasonNotMLD {
				t.Errorf("without Decoder.ND: %v, want not_mld", err)
			}
		})
	}
}

// ndPayload returns the ICMPv6 message of an ND frame built by ndFrame or
// raw6 (after any extension headers: the last n bytes, n from the IPv6
// payload length minus the headers raw6 put before it).
func ndPayload(f []byte) []byte {
	p := f[14+40:]
	if f[14+6] != ipProtoICMPv6 { // one 8-byte extension header
		p = p[8:]
	}
	return p
}

func TestNDRefused(t *testing.T) {
	dad := func() []byte { return ndMsg(TypeNeighborSolicit, 0, "fd77::2") }
	for _, c := range []struct {
		name   string
		frame  []byte
		reason Reason
	}{
		{"Hop Limit 64 (forwarded)", raw6("fe80::2", "ff02::1:ff00:9", 64, nil, ipProtoICMPv6, ndMsg(TypeNeighborSolicit, 0, "fd77::9")), ReasonBadHopLimit},
		{"code 1", ndFrame("::", "ff02::1:ff00:2", func() []byte { b := dad(); b[1] = 1; return b }()), ReasonBadND},
		{"option of length 0", ndFrame("fe80::2", "ff02::1:ff00:9", ndMsg(TypeNeighborSolicit, 0, "fd77::9", 1, 0, 0, 0, 0, 0, 0, 0)), ReasonBadND},
		{"option beyond the message", ndFrame("fe80::2", "ff02::1:ff00:9", ndMsg(TypeNeighborSolicit, 0, "fd77::9", 1, 2, 0, 0, 0, 0, 0, 0)), ReasonBadND},
		{"one stray option byte", ndFrame("fe80::2", "ff02::1:ff00:9", ndMsg(TypeNeighborSolicit, 0, "fd77::9", 1)), ReasonBadND},
		{"multicast target", ndFrame("fe80::2", "ff02::1:ff00:9", ndMsg(TypeNeighborSolicit, 0, "ff02::1:ff00:9")), ReasonBadND},
		{"loopback target", ndFrame("fe80::2", "ff02::1", ndMsg(TypeNeighborAdvert, 0, "::1")), ReasonBadND},
		{"unspecified target", ndFrame("fe80::2", "ff02::1", ndMsg(TypeNeighborAdvert, 0, "::")), ReasonBadND},
		{"DAD to another group", ndFrame("::", "ff02::1:ff00:3", dad()), ReasonBadDestination},
		{"DAD with a source link-layer address", ndFrame("::", "ff02::1:ff00:2", ndMsg(TypeNeighborSolicit, 0, "fd77::2", slla...)), ReasonBadND},
		{"advertisement from ::", ndFrame("::", "ff02::1", ndMsg(TypeNeighborAdvert, 0, "fd77::2")), ReasonBadSource},
		{"solicited advertisement to all nodes", ndFrame("fe80::2", "ff02::1", ndMsg(TypeNeighborAdvert, 0x40, "fd77::2")), ReasonBadND},
		{"router advertisement from a global address", ndFrame("fd77::1", "ff02::1", ndMsg(TypeRouterAdvert, 0, "")), ReasonBadSource},
		{"multicast source", ndFrame("ff02::1", "ff02::1:ff00:9", ndMsg(TypeNeighborSolicit, 0, "fd77::9")), ReasonBadSource},
		{"solicitation of 20 bytes", ndFrame("fe80::2", "ff02::1:ff00:9", ndMsg(TypeNeighborSolicit, 0, "fd77::9")[:20]), ReasonTruncated},
		{"router advertisement of 12 bytes", ndFrame("fe80::1", "ff02::1", ndMsg(TypeRouterAdvert, 0, "")[:12]), ReasonTruncated},
		{"bad checksum", func() []byte { f := ndFrame("::", "ff02::1:ff00:2", dad()); f[len(f)-1] ^= 1; return f }(), ReasonBadICMPv6Checksum},
		{"multicast source MAC", func() []byte { f := ndFrame("::", "ff02::1:ff00:2", dad()); f[6] = 1; return f }(), ReasonBadSourceMAC},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m Message
			err := (&Decoder{ND: true}).Decode(c.frame, &m)
			if got := ReasonOf(err); got != c.reason {
				t.Fatalf("reason %v (%v), want %v", got, err, c.reason)
			}
			if !errors.Is(err, &Refusal{Reason: c.reason}) {
				t.Errorf("%v is not a refusal for %v", err, c.reason)
			}
		})
	}
}

// The router advertisement of icmpv6.pcap, as tcpdump shows it, with
// eight options (prefix, RDNSS, DNSSL, MTU, ...), decodes.
func TestNDFromCapture(t *testing.T) {
	d := &Decoder{ND: true}
	var m Message
	n := 0
	for _, fr := range readPcap(t, "icmpv6.pcap") {
		if err := d.Decode(fr.data, &m); err == nil && m.Kind == KindND {
			n++
			if m.IGMPType != TypeRouterAdvert || m.Src != addr("fe80::b299:28ff:fec8:d66c") {
				t.Errorf("decoded %v", &m)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d ND messages decoded, want the capture's one router advertisement", n)
	}
}

func TestSolicitedNode(t *testing.T) {
	for a, want := range map[string]string{
		"fd77::a":                    "ff02::1:ff00:a",
		"fe80::215:17ff:fecc:e546":   "ff02::1:ffcc:e546",
		"2001:db8::1:2345:6789:abcd": "ff02::1:ff89:abcd",
	} {
		g := SolicitedNode(addr(a))
		if g != addr(want) || !IsSolicitedNode(g) {
			t.Errorf("SolicitedNode(%s) = %v, want %s", a, g, want)
		}
	}
	for _, g := range []string{"ff02::1", "ff02::1:fe00:1", "ff05::1:ff00:1", "10.0.0.1", "fe80::1"} {
		if IsSolicitedNode(addr(g)) {
			t.Errorf("IsSolicitedNode(%s)", g)
		}
	}
}

func TestEncodeND(t *testing.T) {
	for _, nd := range []ND{
		{Type: TypeNeighborSolicit, SrcMAC: testMAC, Src: addr("::"), Dst: addr("ff02::1:ff00:2"), Target: addr("fd77::2")},
		{Type: TypeNeighborSolicit, SrcMAC: testMAC, VLAN: 7, Src: addr("fe80::1"), Dst: addr("ff02::1:ff00:2"), Target: addr("fd77::2")},
		{Type: TypeNeighborAdvert, SrcMAC: testMAC, DstMAC: testMAC, Src: addr("fd77::2"), Dst: addr("fd77::1"), Target: addr("fd77::2"), Flags: 0x60},
	} {
		f, err := EncodeND(nd)
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		if err := (&Decoder{ND: true}).Decode(f, &m); err != nil {
			t.Fatalf("%+v: encoded frame refused: %v", nd, err)
		}
		if m.IGMPType != nd.Type || m.Src != nd.Src || m.Dst != nd.Dst || m.Target != nd.Target || m.VLAN != nd.VLAN {
			t.Errorf("%+v: decoded %v", nd, &m)
		}
		// The flags of an advertisement, and its link-layer address
		// option: the target's (2) in an advertisement, the source's (1)
		// in a solicitation (RFC 4861 §4.3, §4.4).
		p := f[len(f)-ndTargetLen:]
		if !nd.Src.IsUnspecified() {
			p = f[len(f)-ndTargetLen-8:]
			wantOpt := byte(ndOptSourceLLA)
			if nd.Type == TypeNeighborAdvert {
				wantOpt = ndOptTargetLLA
			}
			if p[24] != wantOpt || !slices.Equal(p[26:32], testMAC) {
				t.Errorf("%+v: link-layer option %x, want type %d with the source MAC", nd, p[24:32], wantOpt)
			}
		}
		if wantFlags := map[bool]byte{true: nd.Flags}[nd.Type == TypeNeighborAdvert]; p[4] != wantFlags {
			t.Errorf("%+v: flags byte %#x, want %#x", nd, p[4], wantFlags)
		}
	}
	// A solicitation carries no flags, whatever it is given.
	if f, err := EncodeND(ND{Type: TypeNeighborSolicit, SrcMAC: testMAC, Src: addr("fe80::1"), Dst: addr("ff02::1:ff00:2"), Target: addr("fd77::2"), Flags: 0x60}); err != nil || f[len(f)-ndTargetLen-8+4] != 0 {
		t.Errorf("solicitation given flags: %v, flags byte %#x", err, f[len(f)-ndTargetLen-8+4])
	}
	if _, err := EncodeND(ND{Type: TypeRouterSolicit, SrcMAC: testMAC, Src: addr("::"), Dst: addr("ff02::2"), Target: addr("::")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("router solicitation encoded: %v", err)
	}
	if _, err := EncodeND(ND{Type: TypeNeighborSolicit, SrcMAC: testMAC, Src: addr("10.0.0.1"), Dst: addr("ff02::2"), Target: addr("fd77::1")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("IPv4 source encoded: %v", err)
	}
}

// FuzzND fuzzes ND messages behind a valid IPv6 header with the checksum
// fixed up, decoded with Decoder.ND: no panic, every refusal named, and
// every address an accepted message yields is one a guest can hold.
func FuzzND(f *testing.F) {
	for _, c := range ndAccepts {
		f.Add(ndPayload(c.frame), c.frame[14+8], c.frame[14+24+15])
	}
	f.Add(ndMsg(TypeNeighborAdvert, 0xe0, "fd77::2", 2, 1, 2, 0, 0, 0, 0, 1, 14, 1, 0, 0, 0, 0, 0, 0), byte(0xfe), byte(1))
	f.Add(ndMsg(TypeNeighborSolicit, 0, "fd77::2", 1, 0), byte(0), byte(2))
	f.Fuzz(func(t *testing.T, msg []byte, src0, dst15 byte) {
		if len(msg) > 1400 {
			return
		}
		// Sources vary in their first byte (::, fe80::, fd.., ff..),
		// destinations in their last (solicited-node groups and others).
		src := addr("fe80::2").As16()
		if src0 == 0 {
			src = [16]byte{}
		} else {
			src[0] = src0
		}
		dst := addr("ff02::1:ff00:2").As16()
		dst[15] = dst15
		sa, da := netip.AddrFrom16(src), netip.AddrFrom16(dst)
		frame := raw6(sa.String(), da.String(), ndHopLimit, nil, ipProtoICMPv6, msg)
		var m Message
		err := (&Decoder{ND: true}).Decode(frame, &m)
		if err != nil {
			if ReasonOf(err) == ReasonNone {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		for _, a := range NDAddresses(nil, &m) {
			if !a.Is6() || a.IsMulticast() || a.IsUnspecified() || a.IsLoopback() {
				t.Fatalf("%v: yields %v", &m, a)
			}
		}
	})
}
