package replay

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// twoReports: one host reports 239.1.1.1 twice, gap apart.
func twoReports(t *testing.T, gap time.Duration) []capFrame {
	t.Helper()
	f, err := wire.EncodeReport(wire.Report{Version: 2, SrcMAC: macB, Src: netip.MustParseAddr("10.0.0.2"), Group: netip.MustParseAddr("239.1.1.1")})
	if err != nil {
		t.Fatal(err)
	}
	return []capFrame{{0, f}, {gap, f}}
}

// TestReplaySaysRefresh: a second report after the refresh interval
// rewrites the same entry, which only renews the kernel's timer: the
// text says refresh, JSON keeps the install action and marks it.
func TestReplaySaysRefresh(t *testing.T) {
	path := writeTemp(t, "refresh.pcap", writePcap(t, layers.LinkTypeEthernet, twoReports(t, 20*time.Second)))
	const b = "02:00:5e:10:00:02"
	text, err := replay(t, options(path))
	if err != nil {
		t.Fatal(err)
	}
	want := "    2     20.000000s  " + b + "  10.0.0.2 > 239.1.1.1 igmp report v2 group 239.1.1.1\n" +
		"                       refresh 239.1.1.1 on " + b + " mode exclude {}\n"
	if !strings.Contains(text, want) || !strings.Contains(text, "\n                       install 239.1.1.1 on "+b+" mode exclude {}\n") {
		t.Errorf("text output lacks the install of frame 1 or %q:\n%s", want, text)
	}
	r, err := replayJSON(t, options(path))
	if err != nil {
		t.Fatal(err)
	}
	for n, refresh := range map[int]bool{1: false, 2: true} {
		acts := r.frames[n].Actions
		i := slices.IndexFunc(acts, func(a actionRecord) bool { return a.Action == "install" })
		if i < 0 || acts[i].Refresh != refresh {
			t.Errorf("frame %d: actions %+v, want an install with refresh %v", n, acts, refresh)
		}
	}
	if !strings.Contains(r.out, `"action":"install","text":"refresh 239.1.1.1 on `+b+` mode exclude {}","port":"`+b+`","group":"239.1.1.1","mode":"exclude","refresh":true}`) {
		t.Errorf("no refresh install in the JSON:\n%s", r.out)
	}
}

// TestReplayShowsIgnored: a frame the engine ignores gets a line saying
// so and why; JSON counts it on the frame.
func TestReplayShowsIgnored(t *testing.T) {
	path := filepath.Join(replayTestdata, "IGMP_V1.pcap")
	text, err := replay(t, options(path))
	if err != nil {
		t.Fatal(err)
	}
	// Frame 2 reports 224.0.0.252: relayed, never learned.
	want := "    2      0.324107s  78:2b:cb:99:fb:5b  10.0.200.163 > 224.0.0.252 igmp report v1 group 224.0.0.252\n" +
		"                       MRD solicitation out of 78:2b:cb:99:fb:5b (igmp from 0.0.0.0)\n" +
		"                       MRD solicitation out of 78:2b:cb:99:fb:5b (mld from fe80::ff:fe00:0)\n" +
		"                       relay to 5c:d9:98:f9:1c:18\n" +
		"                       ignored: link_local_or_invalid_group (" + ignoreWhy["link_local_or_invalid_group"] + ")\n" +
		"    3 "
	if !strings.Contains(text, want) {
		t.Errorf("text output lacks %q:\n%s", want, text)
	}
	if n := strings.Count(text, "ignored: link_local_or_invalid_group ("); n != 9 {
		t.Errorf("%d ignored lines, want one for each of the 9 reports of 224.0.0.x", n)
	}
	r, err := replayJSON(t, options(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.frames[2].Ignored; len(got) != 1 || got["link_local_or_invalid_group"] != 1 {
		t.Errorf("frame 2 ignored %v", got)
	}
	if got := r.frames[3].Ignored; got != nil {
		t.Errorf("frame 3 (a join) ignored %v", got)
	}
	if !strings.Contains(r.out, `"ignored":{"link_local_or_invalid_group":1}}`) {
		t.Errorf("no ignored field in the JSON frames:\n%s", r.out)
	}
	// Several of one reason on one frame are counted on its line.
	lines := ignoredLines(map[string]uint64{"unknown_record_type": 2, "port_limit": 1})
	if len(lines) != 2 || lines[0] != "ignored: port_limit ("+ignoreWhy["port_limit"]+")" ||
		lines[1] != "ignored: unknown_record_type, 2 times ("+ignoreWhy["unknown_record_type"]+")" {
		t.Errorf("ignored lines %q", lines)
	}
}

// TestIgnoreReasonsExplained: every reason the engine counts has words.
func TestIgnoreReasonsExplained(t *testing.T) {
	e, err := snoop.New(options("x").EngineConfig(), captureStart)
	if err != nil {
		t.Fatal(err)
	}
	for reason := range e.Stats().Ignored { // every reason, zero or not
		if ignoreWhy[reason] == "" {
			t.Errorf("ignore reason %q: no explanation in ignoreWhy", reason)
		}
	}
}

// TestReplayPlurals: counts print as 1 thing, n things.
func TestReplayPlurals(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{plural(1, "frame"), "1 frame"},
		{plural(0, "frame"), "0 frames"},
		{plural(2, "byte"), "2 bytes"},
		{plurals(1, "query", "queries"), "1 query"},
		{plurals(3, "query", "queries"), "3 queries"},
		{replayedBefore(0), "no frame before it was replayed"},
		{replayedBefore(1), "the frame before it was replayed"},
		{replayedBefore(9), "the 9 frames before it were replayed"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
	// One frame, one port; then a report and a leave relayed, one
	// last member query sent, and the leave stamped before the report.
	a := netip.MustParseAddr
	frames := []capFrame{timedCapture(t)[0]}
	path := writeTemp(t, "plural.pcap", writePcap(t, layers.LinkTypeEthernet, frames))
	text, err := replay(t, options(path))
	if err != nil || !strings.Contains(text, "\nsummary: 1 frame over 0s from 2026-01-02T03:04:05Z: 1 snooped, 0 refused, 0 not snooped; 1 virtual port\n") {
		t.Errorf("one frame (error %v):\n%s", err, text)
	}
	for i, leave := range []bool{false, true} {
		f, err := wire.EncodeReport(wire.Report{Version: 2, Leave: leave, SrcMAC: macB, Src: a("10.0.0.2"), Group: a("239.1.1.1")})
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, capFrame{time.Duration(2-i) * time.Second / 2, f})
	}
	path = writeTemp(t, "plurals.pcap", writePcap(t, layers.LinkTypeEthernet, frames))
	text, err = replay(t, options(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\n1 frame was stamped before the frame ahead of it and was replayed at its time\n",
		"\nrelayed 2 reports and leaves to router ports, sent 1 query\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	// Bytes of a frame the engine built but replay cannot name.
	r := &replayer{}
	if a := r.describeTransmit(&snoop.Action{Kind: snoop.ActTransmit, Port: 1, Frame: []byte{1}}, "p", nil); a.Text != "transmit 1 byte out of p" {
		t.Errorf("transmit: %q", a.Text)
	}
}

// TestReplayAbsoluteTimes: a capture (with --until) spanning more than a
// day times its text lines with date and time; a shorter one in seconds.
func TestReplayAbsoluteTimes(t *testing.T) {
	const b = "02:00:5e:10:00:02"
	line2 := regexp.MustCompile(`(?m)^    2 +(\S+(?: \S+)?)  ` + b + `  `)
	for _, tc := range []struct {
		name  string
		gap   time.Duration
		until time.Duration
		at    string // frame 2's time
		title string // the groups table's
	}{
		{"an hour", time.Hour, 0, "3600.000000s", "groups at the end of the capture (3600.000000s):"},
		{"a day", 24 * time.Hour, 0, "86400.000000s", "groups at the end of the capture (86400.000000s):"},
		{"two days", 49 * time.Hour, 0, "2026-01-04 04:04:05.000000", "groups at the end of the capture (2026-01-04 04:04:05.000000):"},
		{"a day and --until", 24 * time.Hour, time.Second, "2026-01-03 03:04:05.000000", "groups 1s after the last frame (2026-01-03 03:04:06.000000):"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "days.pcap", writePcap(t, layers.LinkTypeEthernet, twoReports(t, tc.gap)))
			text, err := replay(t, options(path, until(tc.until), printTableNames))
			if err != nil {
				t.Fatal(err)
			}
			if m := line2.FindStringSubmatch(text); m == nil || m[1] != tc.at {
				t.Errorf("frame 2 at %q, want %q:\n%s", m, tc.at, text)
			}
			if !strings.Contains(text, "\n"+tc.title+"\n") {
				t.Errorf("no %q:\n%s", tc.title, text)
			}
			// Actions stay indented under the message column.
			if tc.at[0] == '2' && !strings.HasPrefix(text, "    1 2026-01-02 03:04:05.000000  "+b+"  10.0.0.2 > 239.1.1.1 igmp report v2 group 239.1.1.1\n"+
				strings.Repeat(" ", 35)+"MRD solicitation") {
				t.Errorf("frame 1's lines misaligned:\n%s", text)
			}
		})
	}
}

// TestReplayNamesOtherTypes: the IGMP types the snooper floods unread are
// named, mtrace and DVMRP in the fixtures.
func TestReplayNamesOtherTypes(t *testing.T) {
	for file, want := range map[string]string{
		"mtrace.pcap":       "  10.0.0.5 > 172.16.20.1 igmp other type 0x1f (mtrace query or request)\n",
		"mrinfo_query.pcap": "  10.0.0.1 > 2.2.2.2 igmp other type 0x13 (DVMRP)\n",
	} {
		text, err := replay(t, options(filepath.Join(replayTestdata, file)))
		if err != nil || !strings.Contains(text, want) {
			t.Errorf("%s (error %v): no %q:\n%s", file, err, want, text)
		}
	}
	a := netip.MustParseAddr
	for _, tc := range []struct {
		m    wire.Message
		want string
	}{
		{wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: 0x1e}, "mtrace response"},
		{wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: 0x1f}, "mtrace query or request"},
		{wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: 0x13}, "DVMRP"},
		{wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: 0x14}, "PIMv1"},
		{wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: wire.TypeMRDSolicit}, "MRD solicitation"},
		{wire.Message{Kind: wire.KindOther, Proto: wire.MLD, IGMPType: wire.TypeMRDSolicit6}, "MRD solicitation"},
		{wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: 0xff, Dst: a("224.0.0.25")}, "RGMP hello"},
		{wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: 0xff, Dst: a("224.0.0.1")}, "experimental"},
		{wire.Message{Kind: wire.KindOther, Proto: wire.IGMP, IGMPType: 0x40}, ""},
		{wire.Message{Kind: wire.KindQuery, Proto: wire.IGMP, IGMPType: 0x11}, ""},
	} {
		if got := typeName(&tc.m); got != tc.want {
			t.Errorf("%v type 0x%02x to %v: %q, want %q", tc.m.Proto, tc.m.IGMPType, tc.m.Dst, got, tc.want)
		}
	}
}

// TestReplayHeaderCut: a file cut inside its pcap or pcapng header says
// so, with how much of the header there is.
func TestReplayHeaderCut(t *testing.T) {
	pcap := writePcap(t, layers.LinkTypeEthernet, nil)
	ng := writePcapng(t, layers.LinkTypeEthernet, nil)
	shb := int(binary.LittleEndian.Uint32(ng[4:8]))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"pcap", pcap[:10], "capture file cut short inside its header (10 of 24 bytes)"},
		{"pcap", pcap[:23], "capture file cut short inside its header (23 of 24 bytes)"},
		{"pcapng", ng[:11], "capture file cut short inside its header (11 of 28 bytes)"},
		{"pcapng", ng[:shb-1], "capture file cut short inside its header (" + strconv.Itoa(shb-1) + " of " + strconv.Itoa(shb) + " bytes)"},
	} {
		path := writeTemp(t, "cut."+tc.name, tc.data)
		_, err := replay(t, options(path))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "unexpected EOF") {
			t.Errorf("%s cut at %d bytes: error %v, want %q", tc.name, len(tc.data), err, tc.want)
		}
	}
	// A whole header and nothing after it is an empty capture.
	if _, err := replay(t, options(writeTemp(t, "empty.pcap", pcap))); err != nil {
		t.Errorf("header only: %v", err)
	}
}
