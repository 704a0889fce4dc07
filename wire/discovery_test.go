package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
)

// Frames of RFC 4286 §5 solicitations from testMAC, computed with a script
// independent of this package (Python struct and its own RFC 1071 sum).
const (
	// 01:00:5e:00:00:02 < 02:00:00:00:00:01, IPv4 (IHL 6, TOS 0xc0, length
	// 28, DF, TTL 1, IGMP, checksum 0x4218) 192.0.2.1 > 224.0.0.2, Router
	// Alert; IGMP 31 00, checksum 0xceff.
	solicit4Golden = "01005e000002" + "020000000001" + "0800" +
		"46c0001c00004000010242" + "18c0000201e0000002" + "94040000" +
		"3100ceff"
	// 33:33:00:00:00:02 < 02:00:00:00:00:01, IPv6 (payload 12, Hop-by-Hop,
	// hop limit 1) fe80::1 > ff02::2, Hop-by-Hop (ICMPv6 next, Router Alert
	// 0, PadN); ICMPv6 152 00, checksum 0x6a3a.
	solicit6Golden = "333300000002" + "020000000001" + "86dd" +
		"60000000000c0001" + "fe800000000000000000000000000001" + "ff020000000000000000000000000002" +
		"3a00050200000100" +
		"98006a3a"
)

func TestSolicitationGolden(t *testing.T) {
	for _, tt := range []struct {
		s      Solicitation
		golden string
	}{
		{Solicitation{SrcMAC: testMAC, Src: addr("192.0.2.1")}, solicit4Golden},
		{Solicitation{SrcMAC: testMAC, Src: addr(llSrc)}, solicit6Golden},
	} {
		f, err := EncodeSolicitation(tt.s)
		if err != nil {
			t.Fatalf("EncodeSolicitation(%v): %v", tt.s.Src, err)
		}
		if got := fmt.Sprintf("%x", f); got != tt.golden {
			t.Errorf("EncodeSolicitation(%v)\n got %s\nwant %s", tt.s.Src, got, tt.golden)
		}
	}
}

// refSum is the RFC 1071 checksum written out plainly, to check the
// encoder's checksums with something other than this package's own.
func refSum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint32
	for i := 0; i < len(all); i += 2 {
		s += uint32(all[i])<<8 | uint32(all[i+1])
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestSolicitationChecksums(t *testing.T) {
	for _, s := range []Solicitation{
		{SrcMAC: testMAC, Src: addr("192.0.2.1")},
		{SrcMAC: testMAC, Src: netip.IPv4Unspecified(), VLAN: 10},
		{SrcMAC: testMAC, Src: addr(llSrc)},
		{SrcMAC: testMAC, Src: addr("fe80::abcd:1234"), VLAN: 4094},
	} {
		f, err := EncodeSolicitation(s)
		if err != nil {
			t.Fatalf("%v: %v", s.Src, err)
		}
		ip := f[ipOffset(f):]
		if s.Src.Is4() {
			hdr, msg := ip[:24], ip[24:]
			if len(msg) != 4 || refSum(hdr) != 0 || refSum(msg) != 0 {
				t.Errorf("%v: IPv4 header % x, IGMP % x: checksums do not verify", s.Src, hdr, msg)
			}
			continue
		}
		src, dst, msg := ip[8:24], ip[24:40], ip[48:]
		pseudo := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
		pseudo = append(pseudo, 0, 0, 0, ipProtoICMPv6)
		if len(msg) != 4 || refSum(src, dst, pseudo, msg) != 0 {
			t.Errorf("%v: ICMPv6 % x: checksum does not verify", s.Src, msg)
		}
	}
}

// TestSolicitationDecodes: our own decoder takes the frames as what a
// snooper floods and does not interpret (RFC 4541 C4), with RFC 4286's
// addressing.
func TestSolicitationDecodes(t *testing.T) {
	for _, tt := range []struct {
		s     Solicitation
		proto Protocol
		typ   uint8
		dst   netip.Addr
	}{
		{Solicitation{SrcMAC: testMAC, Src: addr("192.0.2.1")}, IGMP, 0x31, addr("224.0.0.2")},
		{Solicitation{SrcMAC: testMAC, Src: netip.IPv4Unspecified(), VLAN: 10}, IGMP, 0x31, addr("224.0.0.2")},
		{Solicitation{SrcMAC: testMAC, Src: addr(llSrc)}, MLD, 152, addr("ff02::2")},
		{Solicitation{SrcMAC: testMAC, Src: addr("fe80::abcd:1234"), VLAN: 4094}, MLD, 152, addr("ff02::2")},
	} {
		f, err := EncodeSolicitation(tt.s)
		if err != nil {
			t.Fatalf("%v: %v", tt.s.Src, err)
		}
		m, err := Decode(f)
		if err != nil {
			t.Fatalf("%v: Decode: %v", tt.s.Src, err)
		}
		if m.Kind != KindOther || m.Proto != tt.proto || m.IGMPType != tt.typ || m.Src != tt.s.Src || m.Dst != tt.dst ||
			m.TTL != 1 || !m.RouterAlert || m.VLAN != tt.s.VLAN || !bytes.Equal(m.SrcMAC, testMAC) {
			t.Errorf("%v: decoded %v (ttl %d, router alert %v, vlan %d)", tt.s.Src, m, m.TTL, m.RouterAlert, m.VLAN)
		}
	}
}

func TestSolicitationRefusesBadInput(t *testing.T) {
	for name, s := range map[string]Solicitation{
		"invalid source":          {SrcMAC: testMAC},
		"global IPv6 source":      {SrcMAC: testMAC, Src: addr("2001:db8::1")},
		"unspecified IPv6 source": {SrcMAC: testMAC, Src: netip.IPv6Unspecified()},
		"IPv4-mapped 169.254.1.1": {SrcMAC: testMAC, Src: addr("::ffff:169.254.1.1")},
		"multicast IPv6 source":   {SrcMAC: testMAC, Src: addr("ff02::1")},
		"short MAC":               {SrcMAC: testMAC[:5], Src: addr("192.0.2.1")},
		"multicast MAC":           {SrcMAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}, Src: addr("192.0.2.1")},
		"zero MAC over IPv6":      {SrcMAC: make(net.HardwareAddr, 6), Src: addr(llSrc)},
		"VLAN 4095":               {SrcMAC: testMAC, Src: addr("192.0.2.1"), VLAN: 4095},
		"VLAN 4095 over IPv6":     {SrcMAC: testMAC, Src: addr(llSrc), VLAN: 4095},
	} {
		prefix := []byte("keep")
		out, err := AppendSolicitation(prefix, s)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
		if string(out) != "keep" {
			t.Errorf("%s: buffer changed to % x", name, out)
		}
	}
}

func TestAppendSolicitationKeepsPrefix(t *testing.T) {
	for _, src := range []string{"192.0.2.1", llSrc} {
		f, err := AppendSolicitation([]byte("keep"), Solicitation{SrcMAC: testMAC, Src: addr(src)})
		if err != nil {
			t.Fatal(err)
		}
		if string(f[:4]) != "keep" {
			t.Errorf("%s: prefix clobbered: %q", src, f[:4])
		}
		if m, err := Decode(f[4:]); err != nil || m.Kind != KindOther {
			t.Errorf("%s: appended frame: %v, %v", src, m, err)
		}
	}
}
