package snoop

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// FuzzEngine drives the engine with arbitrary sequences of decoded
// messages, clock steps and port events, and checks it never panics and
// keeps its invariants (limits, key accounting, timers). Each 8-byte chunk
// of the input is one step.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte("\x02\x01\x05\x03\x00\x09\x01\x00\x03\x01\x05\x01\x01\x09\x02\x00\x09\xff\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := testConfig()
		c.MaxSources, c.MaxHosts, c.Limits = 4, 3, fdb.Limits{MaxKeys: 20}
		c.Querier = len(data) > 0 && data[0]&1 == 1
		c.Ports = map[string]PortPolicy{"p2": {FastLeave: true, MaxGroups: 3, ReplaceOldest: true}, "p3": {MaxGroups: 2}}
		e, err := New(c, t0)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		e.Start(now)
		names := []string{"p0", "p1", "p2", "p3"}
		for i := range names {
			e.PortUp(now, i+1, names[i])
		}
		for len(data) >= 8 {
			step := data[:8]
			data = data[8:]
			port := int(step[1]%5) + 1 // port 5 is unknown to the engine
			g := netip.AddrFrom4([4]byte{239, 0, 0, step[2] % 8})
			if step[6]&1 == 1 {
				g = netip.AddrFrom16([16]byte{0xff, 0x0e, 15: step[2] % 8})
			}
			src := func(b byte) netip.Addr {
				if g.Is6() {
					return netip.AddrFrom16([16]byte{0x20, 0x01, 15: b % 6})
				}
				return netip.AddrFrom4([4]byte{10, 0, 0, b % 6})
			}
			host := netip.AddrFrom4([4]byte{10, 9, 0, step[5] % 5})
			proto := wire.IGMP
			if g.Is6() {
				host, proto = netip.AddrFrom16([16]byte{0xfe, 0x80, 15: step[5] % 5}), wire.MLD
			}
			if step[5]%5 == 4 {
				host = netip.IPv4Unspecified()
				if g.Is6() {
					host = netip.IPv6Unspecified()
				}
			}
			var m *wire.Message
			what := ""
			switch step[0] % 9 {
			case 0:
				now = now.Add(time.Duration(binary.BigEndian.Uint16(step[2:4])) * 10 * time.Millisecond)
				e.Tick(now)
				what = "a tick"
			case 1:
				m = &wire.Message{Kind: wire.KindReport, Proto: proto, Version: int(step[3]%2) + 1, Src: host, Group: g}
			case 2:
				m = &wire.Message{Kind: wire.KindLeave, Proto: proto, Version: 2, Src: host, Group: g}
				if proto == wire.MLD {
					m.Version = 1
				}
			case 3, 4:
				var srcs []netip.Addr
				for j := 0; j < int(step[4]%4); j++ {
					srcs = append(srcs, src(step[4]>>2+byte(j)))
				}
				v := 3
				if proto == wire.MLD {
					v = 2
				}
				m = &wire.Message{Kind: wire.KindReportV3, Proto: proto, Version: v, Src: host,
					Records: []wire.GroupRecord{{Type: wire.RecordType(step[3]%6 + 1), Group: g, Sources: srcs}}}
			case 5:
				q := netip.AddrFrom4([4]byte{10, 77, 0, step[3] % 4})
				v := int(step[4]%3) + 1
				if proto == wire.MLD {
					q, v = netip.AddrFrom16([16]byte{0xfe, 0x80, 15: step[3] % 4}), int(step[4]%2)+1
				}
				m = &wire.Message{Kind: wire.KindQuery, Proto: proto, Version: v, Src: q, MaxResp: time.Duration(step[7]) * 100 * time.Millisecond,
					QRV: step[4] % 8, QueryInterval: time.Duration(step[7]) * time.Second, SuppressRouterSide: step[6]&2 == 2}
				if step[6]&4 == 4 {
					m.Group = g
				}
			case 6:
				e.PortDown(now, port)
				what = "port down"
			case 7:
				e.PortUp(now, port, names[port%4])
				what = "port up"
			case 8:
				kinds := []wire.Kind{wire.KindPIMHello, wire.KindMRDAdvert, wire.KindMRDTermination}
				m = &wire.Message{Kind: kinds[step[3]%3], Proto: proto, Src: host, AdvertInterval: time.Duration(step[4]) * time.Second}
			}
			if m != nil {
				e.HandleMessage(now, port, m, rawFrame)
				what = m.String()
			}
			if err := e.CheckInvariants(); err != nil {
				t.Fatalf("after %s on port %d: %v", what, port, err)
			}
		}
		now = now.Add(24 * time.Hour)
		e.Tick(now)
		if err := e.CheckInvariants(); err != nil {
			t.Fatalf("after a day: %v", err)
		}
	})
}
