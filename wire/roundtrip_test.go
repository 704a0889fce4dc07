package wire

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestQueryRoundTrip(t *testing.T) {
	src := addr("192.0.2.1")
	tests := []struct {
		name string
		q    Query
		want Message // fields checked: Kind..Sources; Dst is checked too
	}{
		{"v1 general", Query{Version: 1, Src: src},
			Message{Version: 1, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 10 * time.Second}},
		{"v1 ignores MaxResp", Query{Version: 1, Src: src, MaxResp: 3 * time.Second},
			Message{Version: 1, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 10 * time.Second}},
		{"v2 general 10s", Query{Version: 2, Src: src, MaxResp: 10 * time.Second},
			Message{Version: 2, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 10 * time.Second}},
		{"v2 general explicit 0.0.0.0", Query{Version: 2, Src: src, Group: netip.IPv4Unspecified(), MaxResp: time.Second},
			Message{Version: 2, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: time.Second}},
		{"v2 group-specific", Query{Version: 2, Src: src, Group: addr("239.1.2.3"), MaxResp: time.Second},
			Message{Version: 2, Dst: addr("239.1.2.3"), Group: addr("239.1.2.3"), MaxResp: time.Second}},
		{"v2 max 25.5s", Query{Version: 2, Src: src, MaxResp: 25500 * time.Millisecond},
			Message{Version: 2, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 25500 * time.Millisecond}},
		{"v2 min 100ms", Query{Version: 2, Src: src, MaxResp: 100 * time.Millisecond},
			Message{Version: 2, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 100 * time.Millisecond}},
		{"v2 50ms rounds up to a tenth", Query{Version: 2, Src: src, MaxResp: 50 * time.Millisecond},
			Message{Version: 2, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 100 * time.Millisecond}},
		{"v2 10.05s rounds up to 10.1s", Query{Version: 2, Src: src, MaxResp: 10050 * time.Millisecond},
			Message{Version: 2, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 10100 * time.Millisecond}},
		{"v2 from 0.0.0.0", Query{Version: 2, Src: netip.IPv4Unspecified(), MaxResp: time.Second},
			Message{Version: 2, Src: netip.IPv4Unspecified(), Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: time.Second}},
		{"v3 general", Query{Version: 3, Src: src, MaxResp: 10 * time.Second, QRV: 2, QueryInterval: 125 * time.Second},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 10 * time.Second, QRV: 2, QueryInterval: 125 * time.Second}},
		{"v3 MRC 0", Query{Version: 3, Src: src, QRV: 7},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), QRV: 7}},
		{"v3 MRC 127 linear", Query{Version: 3, Src: src, MaxResp: 12700 * time.Millisecond, QueryInterval: 127 * time.Second},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 12700 * time.Millisecond, QueryInterval: 127 * time.Second}},
		{"v3 MRC 128 first float", Query{Version: 3, Src: src, MaxResp: 12800 * time.Millisecond, QueryInterval: 128 * time.Second},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 12800 * time.Millisecond, QueryInterval: 128 * time.Second}},
		{"v3 float rounds up", Query{Version: 3, Src: src, MaxResp: 13500 * time.Millisecond, QueryInterval: 135 * time.Second},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 13600 * time.Millisecond, QueryInterval: 136 * time.Second}},
		{"v3 QQI 300s advertised as 304s", Query{Version: 3, Src: src, MaxResp: 10 * time.Second, QRV: 2, QueryInterval: 300 * time.Second},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 10 * time.Second, QRV: 2, QueryInterval: 304 * time.Second}},
		{"v3 linear MRC rounds up 10.05s to 10.1s", Query{Version: 3, Src: src, MaxResp: 10050 * time.Millisecond, QueryInterval: 125*time.Second + time.Millisecond},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 10100 * time.Millisecond, QueryInterval: 126 * time.Second}},
		{"v3 largest codes", Query{Version: 3, Src: src, MaxResp: MaxCode(MaxRespUnit), QueryInterval: MaxCode(QueryIntervalUnit)},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: 3174400 * time.Millisecond, QueryInterval: 31744 * time.Second}},
		{"v3 QRV above 7 sent as 0", Query{Version: 3, Src: src, MaxResp: time.Second, QRV: 9},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: time.Second}},
		{"v3 group-specific with S", Query{Version: 3, Src: src, Group: addr("232.1.1.1"), MaxResp: time.Second, QRV: 2, QueryInterval: 125 * time.Second, SuppressRouterSide: true},
			Message{Version: 3, Dst: addr("232.1.1.1"), Group: addr("232.1.1.1"), MaxResp: time.Second, QRV: 2, QueryInterval: 125 * time.Second, SuppressRouterSide: true}},
		{"v3 group-and-source-specific", Query{Version: 3, Src: src, Group: addr("232.1.1.1"), MaxResp: time.Second, QRV: 2, QueryInterval: 125 * time.Second, Sources: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")},
			Message{Version: 3, Dst: addr("232.1.1.1"), Group: addr("232.1.1.1"), MaxResp: time.Second, QRV: 2, QueryInterval: 125 * time.Second, Sources: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")}},
		{"v3 tagged", Query{Version: 3, Src: src, MaxResp: time.Second, QRV: 2, VLAN: 4094},
			Message{Version: 3, Dst: AllSystems, Group: netip.IPv4Unspecified(), MaxResp: time.Second, QRV: 2, VLAN: 4094}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.SrcMAC = testMAC
			f := mustQuery(t, tt.q)
			checkFrameBytes(t, f, tt.want.Dst)
			m, err := Decode(f)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := tt.want
			want.Kind, want.Proto, want.IGMPType = KindQuery, IGMP, TypeQuery
			if !want.Src.IsValid() {
				want.Src = src
			}
			want.SrcMAC, want.DstMAC, want.TTL, want.RouterAlert = testMAC, m.DstMAC, 1, true
			if !sameMessage(m, &want) {
				t.Errorf("decoded\n %+v\nwant\n %+v", *m, want)
			}
			if m.IsGeneralQuery() != (tt.want.Dst == AllSystems) {
				t.Errorf("IsGeneralQuery = %v", m.IsGeneralQuery())
			}
		})
	}
}

// checkFrameBytes checks what every encoded frame must have: the
// multicast MAC of dst, TOS 0xc0, TTL 1, Router Alert, DF, valid checksums.
func checkFrameBytes(t *testing.T, f []byte, dst netip.Addr) {
	t.Helper()
	d := dst.As4()
	if want := []byte{0x01, 0x00, 0x5e, d[1] & 0x7f, d[2], d[3]}; !bytes.Equal(f[:6], want) {
		t.Errorf("dst MAC % x, want % x", f[:6], want)
	}
	ip := f[ipOffset(f):]
	if ip[0] != 0x46 || ip[1] != 0xc0 || ip[8] != 1 || ip[9] != 2 {
		t.Errorf("IP header % x: want IHL 6, TOS 0xc0, TTL 1, proto 2", ip[:20])
	}
	if !bytes.Equal(ip[20:24], []byte{0x94, 0x04, 0, 0}) {
		t.Errorf("Router Alert option % x", ip[20:24])
	}
	if ip[6] != 0x40 || ip[7] != 0 {
		t.Errorf("flags/offset % x, want DF only", ip[6:8])
	}
	if Checksum(ip[:24]) != 0 || Checksum(ip[24:]) != 0 {
		t.Errorf("bad checksum")
	}
}

func TestReportRoundTrip(t *testing.T) {
	src := addr("192.0.2.7")
	allTypes := []GroupRecord{
		{Type: ModeIsInclude, Group: addr("232.1.1.1"), Sources: addrs("10.0.0.1")},
		{Type: ModeIsExclude, Group: addr("239.1.1.2")},
		{Type: ChangeToInclude, Group: addr("239.1.1.3"), Sources: addrs("10.0.0.1", "10.0.0.2")},
		{Type: ChangeToExclude, Group: addr("239.1.1.4")},
		{Type: AllowNewSources, Group: addr("232.1.1.5"), Sources: addrs("10.0.0.5")},
		{Type: BlockOldSources, Group: addr("232.1.1.6"), Sources: addrs("10.0.0.6", "10.0.0.7", "10.0.0.8")},
	}
	tests := []struct {
		name string
		r    Report
		kind Kind
		typ  uint8
		dst  netip.Addr
	}{
		{"v1 report", Report{Version: 1, Src: src, Group: addr("239.255.255.250")}, KindReport, 0x12, addr("239.255.255.250")},
		{"v1 report link-local group", Report{Version: 1, Src: src, Group: addr("224.0.0.251")}, KindReport, 0x12, addr("224.0.0.251")},
		{"v2 report", Report{Version: 2, Src: src, Group: addr("239.128.1.1")}, KindReport, 0x16, addr("239.128.1.1")},
		{"v2 report from 0.0.0.0", Report{Version: 2, Src: netip.IPv4Unspecified(), Group: addr("239.1.1.1")}, KindReport, 0x16, addr("239.1.1.1")},
		{"v2 leave", Report{Version: 2, Leave: true, Src: src, Group: addr("225.1.1.3")}, KindLeave, 0x17, AllRouters},
		{"v3 no records", Report{Version: 3, Src: src}, KindReportV3, 0x22, IGMPv3Routers},
		{"v3 every record type", Report{Version: 3, Src: src, Records: allTypes}, KindReportV3, 0x22, IGMPv3Routers},
		{"v3 from 0.0.0.0 tagged", Report{Version: 3, Src: netip.IPv4Unspecified(), VLAN: 7, Records: allTypes[3:4]}, KindReportV3, 0x22, IGMPv3Routers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.SrcMAC = testMAC
			f := mustReport(t, tt.r)
			checkFrameBytes(t, f, tt.dst)
			m, err := Decode(f)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := Message{
				Kind: tt.kind, Proto: IGMP, IGMPType: tt.typ, Version: tt.r.Version,
				SrcMAC: testMAC, DstMAC: m.DstMAC, VLAN: tt.r.VLAN,
				Src: tt.r.Src, Dst: tt.dst, TTL: 1, RouterAlert: true,
				Group: tt.r.Group, Records: tt.r.Records,
			}
			if !sameMessage(m, &want) {
				t.Errorf("decoded\n %+v\nwant\n %+v", *m, want)
			}
		})
	}
}

func TestEncoderRefusesBadInput(t *testing.T) {
	src := addr("192.0.2.1")
	g := addr("239.1.1.1")
	queries := map[string]Query{
		"version 0":               {Version: 0, Src: src},
		"version 4":               {Version: 4, Src: src},
		"short MAC":               {Version: 2, SrcMAC: testMAC[:5], Src: src, MaxResp: time.Second},
		"multicast MAC":           {Version: 2, SrcMAC: []byte{1, 0, 0x5e, 0, 0, 1}, Src: src, MaxResp: time.Second},
		"zero MAC":                {Version: 2, SrcMAC: make([]byte, 6), Src: src, MaxResp: time.Second},
		"IPv6 source, IPv4 group": {Version: 2, Src: addr("fe80::1"), Group: g, MaxResp: time.Second},
		"4in6 source":             {Version: 2, Src: addr("::ffff:192.0.2.1"), MaxResp: time.Second},
		"invalid source":          {Version: 2, MaxResp: time.Second},
		"unicast group":           {Version: 2, Src: src, Group: addr("10.1.1.1"), MaxResp: time.Second},
		"v1 group-specific":       {Version: 1, Src: src, Group: g},
		"v2 MaxResp 0":            {Version: 2, Src: src},
		"v2 MaxResp negative":     {Version: 2, Src: src, MaxResp: -time.Millisecond},
		"v2 MaxResp 25.6s":        {Version: 2, Src: src, MaxResp: 25600 * time.Millisecond},
		"v2 MaxResp just over":    {Version: 2, Src: src, MaxResp: MaxRespV2 + 1},
		"v2 with sources":         {Version: 2, Src: src, Group: g, MaxResp: time.Second, Sources: addrs("10.0.0.1")},
		"v2 with QRV":             {Version: 2, Src: src, MaxResp: time.Second, QRV: 2},
		"v3 MaxResp negative":     {Version: 3, Src: src, MaxResp: -time.Second},
		"v3 MaxResp too long":     {Version: 3, Src: src, MaxResp: MaxCode(MaxRespUnit) + time.Second},
		"v3 QQI too long":         {Version: 3, Src: src, QueryInterval: MaxCode(QueryIntervalUnit) + time.Second},
		"v3 general sources":      {Version: 3, Src: src, Sources: addrs("10.0.0.1")},
		"v3 IPv6 source address":  {Version: 3, Src: src, Group: g, Sources: addrs("2001:db8::1")},
		"v3 too many sources":     {Version: 3, Src: src, Group: g, Sources: make([]netip.Addr, 16380)},
		"VLAN 4095":               {Version: 2, Src: src, MaxResp: time.Second, VLAN: 4095},
	}
	for name, q := range queries {
		if q.SrcMAC == nil {
			q.SrcMAC = testMAC
		}
		if name == "v3 too many sources" {
			for i := range q.Sources {
				q.Sources[i] = src
			}
		}
		if _, err := EncodeQuery(q); !errors.Is(err, ErrInvalid) {
			t.Errorf("query %s: err = %v, want ErrInvalid", name, err)
		}
	}
	reports := map[string]Report{
		"version 0":           {Version: 0, Src: src, Group: g},
		"v1 leave":            {Version: 1, Leave: true, Src: src, Group: g},
		"v1 unicast group":    {Version: 1, Src: src, Group: addr("10.1.1.1")},
		"v2 no group":         {Version: 2, Src: src},
		"v2 class E group":    {Version: 2, Src: src, Group: addr("240.0.0.1")},
		"v2 leave unicast":    {Version: 2, Leave: true, Src: src, Group: addr("10.1.1.1")},
		"v2 with records":     {Version: 2, Src: src, Group: g, Records: []GroupRecord{{Type: ModeIsExclude, Group: g}}},
		"v3 leave":            {Version: 3, Leave: true, Src: src},
		"v3 with Group":       {Version: 3, Src: src, Group: g},
		"v3 record type 0":    {Version: 3, Src: src, Records: []GroupRecord{{Type: 0, Group: g}}},
		"v3 record type 7":    {Version: 3, Src: src, Records: []GroupRecord{{Type: 7, Group: g}}},
		"v3 unicast record":   {Version: 3, Src: src, Records: []GroupRecord{{Type: ModeIsExclude, Group: addr("10.0.0.1")}}},
		"v3 IPv6 record":      {Version: 3, Src: src, Records: []GroupRecord{{Type: ModeIsExclude, Group: addr("ff02::16")}}},
		"v3 bad source":       {Version: 3, Src: src, Records: []GroupRecord{{Type: ModeIsInclude, Group: g, Sources: []netip.Addr{{}}}}},
		"v3 records too big":  {Version: 3, Src: src, Records: make([]GroupRecord, 8200)},
		"IPv6 source address": {Version: 2, Src: addr("::1"), Group: g},
	}
	for name, r := range reports {
		r.SrcMAC = testMAC
		if name == "v3 records too big" {
			for i := range r.Records {
				r.Records[i] = GroupRecord{Type: ModeIsExclude, Group: g}
			}
		}
		if _, err := EncodeReport(r); !errors.Is(err, ErrInvalid) {
			t.Errorf("report %s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// TestEncoderNamesLimits: a MaxResp too long for the older versions' linear
// fields is refused with the limit in the message.
func TestEncoderNamesLimits(t *testing.T) {
	for _, tt := range []struct {
		q     Query
		limit string
	}{
		{Query{Version: 2, Src: addr("192.0.2.1"), MaxResp: MaxRespV2 + time.Nanosecond}, "25.5s"},
		{Query{Version: 1, Src: addr(llSrc), MaxResp: MaxRespMLDv1 + time.Nanosecond}, "1m5.535s"},
	} {
		tt.q.SrcMAC = testMAC
		_, err := EncodeQuery(tt.q)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.limit) {
			t.Errorf("%v max response %v: err = %v, want ErrInvalid naming %s", tt.q.Src, tt.q.MaxResp, err, tt.limit)
		}
	}
	// At the limit itself, sub-unit remainders still round up to it.
	for _, q := range []Query{
		{Version: 2, Src: addr("192.0.2.1"), MaxResp: MaxRespV2 - time.Nanosecond},
		{Version: 1, Src: addr(llSrc), MaxResp: MaxRespMLDv1 - time.Nanosecond},
	} {
		q.SrcMAC = testMAC
		m, err := Decode(mustQuery(t, q))
		if err != nil || m.MaxResp != q.MaxResp+time.Nanosecond {
			t.Errorf("%v max response %v: decoded %v, %v", q.Src, q.MaxResp, m, err)
		}
	}
}

func TestAppendReusesBuffer(t *testing.T) {
	buf := make([]byte, 0, 128)
	f, err := AppendQuery(buf, Query{Version: 2, SrcMAC: testMAC, Src: addr("192.0.2.1"), MaxResp: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if &f[0] != &buf[:1][0] {
		t.Error("AppendQuery did not use the buffer's capacity")
	}
	prefix := []byte("keep")
	f, err = AppendReport(prefix, Report{Version: 2, SrcMAC: testMAC, Src: addr("192.0.2.1"), Group: addr("239.1.1.1")})
	if err != nil {
		t.Fatal(err)
	}
	if string(f[:4]) != "keep" {
		t.Errorf("AppendReport clobbered the prefix: %q", f[:4])
	}
	if _, err := Decode(f[4:]); err != nil {
		t.Errorf("appended frame: %v", err)
	}
}

func TestCodes(t *testing.T) {
	tests := []struct {
		value uint64 // in units
		code  uint8
		back  uint64 // DecodeCode(code)
	}{
		{0, 0x00, 0},
		{1, 0x01, 1},
		{100, 0x64, 100},
		{125, 0x7d, 125},
		{127, 0x7f, 127},
		{128, 0x80, 128}, // first float: exp 0, mant 0
		{129, 0x81, 136}, // not representable: rounded up
		{135, 0x81, 136},
		{136, 0x81, 136},
		{248, 0x8f, 248},
		{249, 0x90, 256}, // rounding up carries into the exponent
		{255, 0x90, 256},
		{256, 0x90, 256}, // exp 1
		{300, 0x93, 304},
		{3072, 0xc8, 3072},
		{30720, 0xfe, 30720},
		{30721, 0xff, 31744},
		{31743, 0xff, 31744},
		{31744, 0xff, 31744}, // largest
		{31745, 0xff, 31744}, // saturates
		{1 << 30, 0xff, 31744},
	}
	for _, unit := range []time.Duration{MaxRespUnit, QueryIntervalUnit} {
		for _, tt := range tests {
			d := time.Duration(tt.value) * unit
			if got := EncodeCode(d, unit); got != tt.code {
				t.Errorf("EncodeCode(%v, %v) = %#02x, want %#02x", d, unit, got, tt.code)
			}
			if got := DecodeCode(tt.code, unit); got != time.Duration(tt.back)*unit {
				t.Errorf("DecodeCode(%#02x, %v) = %v, want %v", tt.code, unit, got, time.Duration(tt.back)*unit)
			}
			if got := AdvertisedCode(d, unit); got != time.Duration(tt.back)*unit {
				t.Errorf("AdvertisedCode(%v, %v) = %v, want %v", d, unit, got, time.Duration(tt.back)*unit)
			}
		}
	}
	// The fixture igmpv3-queries.pcap uses 0xfe; tcpdump shows it as 51m12s.
	if got := DecodeCode(0xfe, MaxRespUnit); got != 51*time.Minute+12*time.Second {
		t.Errorf("DecodeCode(0xfe) = %v, want 51m12s", got)
	}
	// Every code survives decode -> encode.
	var values []time.Duration // every decodable value, ascending
	for c := 0; c < 256; c++ {
		v := DecodeCode(uint8(c), time.Second)
		values = append(values, v)
		if got := EncodeCode(DecodeCode(uint8(c), MaxRespUnit), MaxRespUnit); got != uint8(c) {
			t.Errorf("code %#02x -> %v -> %#02x", c, DecodeCode(uint8(c), MaxRespUnit), got)
		}
	}
	// Below saturation, what is advertised is the smallest value at or
	// above the duration asked, sub-unit remainders included.
	for v := time.Duration(0); v <= 31744; v++ {
		for _, d := range []time.Duration{v * time.Second, v*time.Second - time.Nanosecond} {
			if d < 0 {
				continue
			}
			want := values[sort.Search(len(values), func(i int) bool { return values[i] >= d })]
			if got := AdvertisedCode(d, time.Second); got != want {
				t.Fatalf("AdvertisedCode(%v) = %v, want %v", d, got, want)
			}
		}
	}
	for _, tt := range []struct{ d, unit, want time.Duration }{
		{10 * time.Second, QueryIntervalUnit, 10 * time.Second},
		{125 * time.Second, QueryIntervalUnit, 125 * time.Second},
		{128 * time.Second, QueryIntervalUnit, 128 * time.Second},
		{31744 * time.Second, QueryIntervalUnit, 31744 * time.Second},
		{300 * time.Second, QueryIntervalUnit, 304 * time.Second},
		{10050 * time.Millisecond, MaxRespUnit, 10100 * time.Millisecond},
		{time.Nanosecond, MaxRespUnit, MaxRespUnit},
		{time.Nanosecond, QueryIntervalUnit, time.Second},
		{40000 * time.Second, QueryIntervalUnit, MaxCode(QueryIntervalUnit)},
		{1<<63 - 1, MaxRespUnit, MaxCode(MaxRespUnit)},
		{0, QueryIntervalUnit, 0},
		{-time.Second, QueryIntervalUnit, 0},
		{-1 << 63, MaxRespUnit, 0},
		{time.Second, 0, 0},
		{time.Second, -time.Second, 0},
	} {
		if got := AdvertisedCode(tt.d, tt.unit); got != tt.want {
			t.Errorf("AdvertisedCode(%v, %v) = %v, want %v", tt.d, tt.unit, got, tt.want)
		}
	}
	if EncodeCode(-time.Second, time.Second) != 0 || EncodeCode(time.Second, 0) != 0 {
		t.Error("negative duration or zero unit should encode as 0")
	}
}

func TestReasonsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		s := r.String()
		if s == "" || seen[s] || s == "none" {
			t.Errorf("reason %d has name %q", r, s)
		}
		seen[s] = true
	}
	if got := Reason(200).String(); got != "reason(200)" {
		t.Errorf("Reason(200) = %q", got)
	}
	err := error(errFragment)
	if !errors.Is(err, &Refusal{Reason: ReasonFragment}) || errors.Is(err, &Refusal{Reason: ReasonTruncated}) {
		t.Error("Refusal.Is does not match by reason")
	}
	if ReasonOf(nil) != ReasonNone || ReasonOf(errors.New("x")) != ReasonNone {
		t.Error("ReasonOf of a non-refusal")
	}
	if ReasonOf(errors.Join(errors.New("x"), errIGMPChecksum)) != ReasonBadIGMPChecksum {
		t.Error("ReasonOf does not unwrap")
	}
	if !reflect.DeepEqual(errFragment.Error(), "refused: fragment") {
		t.Errorf("Error() = %q", errFragment.Error())
	}
}

// TestQuerySourcesFitOnePacket: a group-and-source-specific query lists
// at most the sources one packet can carry (RFC 3376 §4.1.8, RFC 3810
// §5.1.10: the number of sources is limited by the packet size): the
// IPv4 total length, or the IPv6 payload length, is 16 bits. The most
// that fit are sent, one more is refused.
func TestQuerySourcesFitOnePacket(t *testing.T) {
	for _, tt := range []struct {
		name    string
		src     netip.Addr
		version int
		group   netip.Addr
		source  netip.Addr
		most    int // (65535 - IP headers - query without sources) / address length
	}{
		{"IGMPv3", addr("192.0.2.1"), 3, addr("232.1.1.1"), addr("10.0.0.1"), (65535 - 24 - 12) / 4},
		{"MLDv2", addr(llSrc), 2, addr("ff3e::1"), addr("2001:db8::1"), (65535 - 8 - 28) / 16},
	} {
		for _, n := range []int{tt.most, tt.most + 1} {
			q := Query{Version: tt.version, SrcMAC: testMAC, Src: tt.src, Group: tt.group, Sources: make([]netip.Addr, n)}
			for i := range q.Sources {
				q.Sources[i] = tt.source
			}
			f, err := EncodeQuery(q)
			if n > tt.most {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s with %d sources: err = %v, want ErrInvalid", tt.name, n, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s with %d sources: %v", tt.name, n, err)
			}
			if m, err := Decode(f); err != nil {
				t.Errorf("%s with %d sources: Decode: %v", tt.name, n, err)
			} else if len(m.Sources) != n {
				t.Errorf("%s with %d sources: decoded %d", tt.name, n, len(m.Sources))
			}
		}
	}
}

// TestReportRecordsFitOnePacket: a report carries at most the records one
// packet can (RFC 3376 §4.2.16, RFC 3810 §5.2.15: a host splits the rest
// into further reports). The IPv4 total length, or the IPv6 payload
// length, is 16 bits: a report of exactly the longest message that fits
// is sent, one with one more source is refused.
func TestReportRecordsFitOnePacket(t *testing.T) {
	for _, tt := range []struct {
		name    string
		src     netip.Addr
		version int
		groups  []string
		source  netip.Addr
		counts  []int // sources per record, for a message of the longest length
		longest int   // 65535 less the IP headers, rounded down to 32-bit words
	}{
		// 8 + (8 + 4*16373) = 65508 = (65535 - 24) &^ 3
		{"IGMPv3", addr("192.0.2.7"), 3, []string{"232.1.1.1"}, addr("10.0.0.1"), []int{16373}, 65508},
		// 8 + 3*20 + 16*4091 = 65524 = (65535 - 8) &^ 3
		{"MLDv2", addr(llSrc), 2, []string{"ff3e::1", "ff3e::2", "ff3e::3"}, addr("2001:db8::1"), []int{4089, 1, 1}, 65524},
	} {
		for _, extra := range []int{0, 1} {
			r := Report{Version: tt.version, SrcMAC: testMAC, Src: tt.src}
			for i, g := range tt.groups {
				n := tt.counts[i]
				if i == 0 {
					n += extra
				}
				rec := GroupRecord{Type: AllowNewSources, Group: addr(g), Sources: make([]netip.Addr, n)}
				for j := range rec.Sources {
					rec.Sources[j] = tt.source
				}
				r.Records = append(r.Records, rec)
			}
			f, err := EncodeReport(r)
			if extra > 0 {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s one source past the longest message: err = %v, want ErrInvalid", tt.name, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s of the longest message: %v", tt.name, err)
			}
			m, err := Decode(f)
			if err != nil {
				t.Fatalf("%s of the longest message: Decode: %v", tt.name, err)
			}
			if got := len(f) - ipOffset(f); tt.version == 3 && got != 24+tt.longest || tt.version == 2 && got != 40+8+tt.longest {
				t.Errorf("%s: IP packet of %d bytes, want the message %d long", tt.name, got, tt.longest)
			}
			if len(m.Records) != len(tt.groups) || len(m.Records[0].Sources) != tt.counts[0] {
				t.Errorf("%s: decoded %d records", tt.name, len(m.Records))
			}
		}
	}
}

// TestReasonsListsEveryReason: Reasons is what callers build their
// counters from, so it must list each refusal reason once, in order, and
// never ReasonNone.
func TestReasonsListsEveryReason(t *testing.T) {
	want := []Reason{
		ReasonNotIGMP, ReasonTruncated, ReasonBadIPHeader, ReasonBadIPChecksum, ReasonFragment,
		ReasonBadIGMPChecksum, ReasonBadQueryLength, ReasonBadRecord, ReasonBadGroup,
		ReasonBadDestination, ReasonBadSourceMAC, ReasonBadSources, ReasonNotIP, ReasonNotMLD,
		ReasonNotPIMHello, ReasonBadICMPv6Checksum, ReasonBadPIMChecksum, ReasonBadHopLimit,
		ReasonNoRouterAlert, ReasonBadSource, ReasonBadPIMOption, ReasonBadND,
	}
	if got := Reasons(); !reflect.DeepEqual(got, want) {
		t.Errorf("Reasons() = %v, want %v", got, want)
	}
	// The first value past the last reason is unknown, not a name.
	past := want[len(want)-1] + 1
	if got, want := past.String(), fmt.Sprintf("reason(%d)", uint8(past)); got != want {
		t.Errorf("Reason(%d).String() = %q, want %q", uint8(past), got, want)
	}
}

// TestRefusalDetail: a refusal's message names its reason and detail,
// and errors.Is matches a target's detail when it gives one.
func TestRefusalDetail(t *testing.T) {
	if got, want := errShortIP.Error(), "refused: truncated: IPv4 header"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(errShortIP, &Refusal{Reason: ReasonTruncated, Detail: "IPv4 header"}) {
		t.Error("errors.Is does not match a refusal of the same reason and detail")
	}
	if errors.Is(errShortIP, &Refusal{Reason: ReasonTruncated, Detail: "802.1Q tag"}) {
		t.Error("errors.Is matches a refusal of the same reason but another detail")
	}
	if errors.Is(errShortIP, &Refusal{Reason: ReasonBadIPHeader, Detail: "IPv4 header"}) {
		t.Error("errors.Is matches a refusal of another reason with the same detail")
	}
}
