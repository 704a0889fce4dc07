package integration

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/igmpsnoop/igmpsnoop/wire"
)

func TestHostileProbeTMP(t *testing.T) {
	needRoot(t)
	l := newLab(t, Config{Hosts: 3, IPv6: true})
	h2 := l.Hosts[1]
	d := startDaemon(t, l, fastTimers...)
	waitFor(t, 10*time.Second, "q", func() (bool, string) {
		q4, q6 := querierOf(t, d, "igmp"), querierOf(t, d, "mld")
		return q4.Present && q6.Present && !q6.Self, ""
	})
	var mac net.HardwareAddr
	var conn *packet.Conn
	InNetns(h2.Name, func() error {
		ifi, _ := net.InterfaceByName("eth0")
		mac = ifi.HardwareAddr
		var err error
		conn, err = packet.Listen(ifi, packet.Raw, 0, nil)
		return err
	})
	rep := func(g netip.Addr) []byte {
		return hxMust(wire.EncodeReport(wire.Report{Version: 2, SrcMAC: mac, Src: hxSrc4, Group: g}))
	}
	type pr struct {
		name string
		g    netip.Addr
		f    []byte
	}
	var ps []pr
	add := func(n string, g netip.Addr, f []byte) { ps = append(ps, pr{n, g, f}) }
	g := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{239, 67, 0, byte(i)}) }
	{
		f := rep(g(1))
		copy(f[hxIP+12:], []byte{224, 0, 0, 9})
		add("src 224.0.0.9", g(1), hxFixIP(f))
	}
	{
		f := rep(g(2))
		copy(f[hxIP+12:], []byte{255, 255, 255, 255})
		add("src 255.255.255.255", g(2), hxFixIP(f))
	}
	{
		f := rep(g(3))
		copy(f[hxIP+12:], []byte{127, 0, 0, 1})
		add("src 127.0.0.1", g(3), hxFixIP(f))
	}
	{
		f := rep(g(4))
		f[hxIP+8] = 64
		add("ttl 64", g(4), hxFixIP(f))
	}
	add("no router alert", g(5), hxSetOptions(rep(g(5)), nil))
	add("unknown option", g(6), hxSetOptions(rep(g(6)), []byte{0x99, 4, 1, 2}))
	{
		f := rep(g(7))
		copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 1})
		add("unicast dst mac", g(7), f)
	}
	{
		f := rep(g(8))
		copy(f[hxIP+16:], []byte{10, 77, 0, 1})
		add("unicast dst ip", g(8), hxFixIP(f))
	}
	{
		f := rep(g(9))
		f = append(f, make([]byte, 4000-len(f))...)
		add("valid report + 4000 padding", g(9), f)
	}
	add("unknown record type 7 for 10.1.1.1", netip.Addr{}, hxSetIGMP(rep(g(10)), hxReportV3(0x22, 1, hxRecord(7, 0, 0, hxUnicast4))))
	add("unknown igmp type 0x99", netip.Addr{}, hxSetIGMP(rep(g(11)), []byte{0x99, 0, 0, 0, 239, 67, 0, 11}))
	{
		f := rep(g(12))
		f[hxIP+1] = 0xff
		add("igmp report dst 224.0.0.1 v2 group 239.67.0.12 tos ff", g(12), hxFixIP(f))
	}
	add("v3 report 2 records, second bad record type 0 for 0.0.0.0", g(13), hxSetIGMP(rep(g(13)), hxReportV3(0x22, 2, hxRecord(2, 0, 0, g(13)), hxRecord(0, 0, 0, netip.IPv4Unspecified()))))
	{
		f := rep(g(14))
		copy(f[hxIP+12:], []byte{10, 99, 0, 1})
		add("src off-subnet 10.99.0.1", g(14), hxFixIP(f))
	}
	m6 := hxMust(wire.EncodeReport(wire.Report{Version: 1, SrcMAC: mac, Src: netip.IPv6Unspecified(), Group: netip.MustParseAddr("ff0e::67:1")}))
	add("mld from ::", netip.MustParseAddr("ff0e::67:1"), m6)
	m6b := hxMust(wire.EncodeReport(wire.Report{Version: 1, SrcMAC: mac, Src: hxLL, Group: netip.MustParseAddr("ff0e::67:2")}))
	add("mld dst ipv6 unicast", netip.MustParseAddr("ff0e::67:2"), hxFixICMPv6(func() []byte { f := slices.Clone(m6b); copy(f[hxIP+24:], hxGlobal.AsSlice()); return f }(), hxICMPv6))
	m6c := hxMust(wire.EncodeReport(wire.Report{Version: 1, SrcMAC: mac, Src: hxLL, Group: netip.MustParseAddr("ff0e::67:3")}))
	add("mld with 2 router alerts first value 0", netip.MustParseAddr("ff0e::67:3"), hxSetExt(m6c, 0, []byte{58, 0, 5, 2, 0, 0, 5, 2, 0, 1, 1, 2, 0, 0, 0, 0}))
	m6d := hxMust(wire.EncodeReport(wire.Report{Version: 1, SrcMAC: mac, Src: hxLL, Group: netip.MustParseAddr("ff05::67:4")}))
	add("mld with dest opts after hbh", netip.MustParseAddr("ff05::67:4"), hxSetExt(m6d, 0, []byte{60, 0, 5, 2, 0, 0, 1, 0, 58, 0, 1, 4, 0, 0, 0, 0}))
	m6e := hxMust(wire.EncodeReport(wire.Report{Version: 1, SrcMAC: mac, Src: hxLL, Group: netip.MustParseAddr("ff0e::67:5")}))
	add("mld hbh unknown option action skip-discard 0xc2", netip.MustParseAddr("ff0e::67:5"), hxSetExt(m6e, 0, []byte{58, 0, 5, 2, 0, 0, 0xc2, 0}))

	ps = ps[:0]
	for _, src := range []string{"127.0.0.1", "224.0.0.9"} {
		q := hxMust(wire.EncodeQuery(wire.Query{Version: 3, SrcMAC: mac, Src: netip.MustParseAddr(src), MaxResp: time.Second, QRV: 7, QueryInterval: 31 * time.Minute}))
		add("query from "+src, netip.Addr{}, q)
	}
	for _, p := range ps {
		b := hostileStats(t, d)
		conn.WriteTo(p.f, &packet.Addr{HardwareAddr: net.HardwareAddr(p.f[:6])})
		time.Sleep(300 * time.Millisecond)
		a := hostileStats(t, d)
		recv := map[string]int64{}
		for k := range a.Received {
			if n := int64(a.Received[k] - b.Received[k]); n != 0 {
				recv[k] = n
			}
		}
		learned := false
		if p.g.IsValid() {
			_, learned, _ = member(t, d, p.g, h2.Port)
		}
		fmt.Printf("PROBE %-50s delta=%v recv=%v learned=%v\n", p.name, statsDelta(b, a, h2.Port), recv, learned)
		out, _ := d.ShowCLI("querier")
		out2, _ := d.ShowCLI("routers")
		fmt.Println(out, out2)
	}
}
