package wire

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goldenFixtures: each capture with tcpdump's decode beside it and the
// number of frames of each kind or refusal reason it must yield, so a
// decoder that silently skips or misclassifies frames fails.
var goldenFixtures = []struct {
	pcap, tcpdump string
	counts        map[string]int
}{
	{"IGMP_V1.pcap", "igmpv1.tcpdump.txt", map[string]int{"query": 3, "report": 24}},
	{"IGMP_V2.pcap", "igmpv2.tcpdump.txt", map[string]int{"query": 4, "report": 12, "leave": 2}},
	{"igmpv3-queries.pcap", "igmpv3-queries.tcpdump.txt", map[string]int{"query": 6}},
	{"eapon1.pcap", "eapon1.tcpdump.txt", map[string]int{"report_v3": 2, "refused not_igmp": 112}},
	{"mtrace.pcap", "mtrace.tcpdump.txt", map[string]int{"other": 2}},
	{"mrinfo_query.pcap", "mrinfo_query.tcpdump.txt", map[string]int{"other": 2}},
	{"PIMv2_hellos.pcap", "PIMv2_hellos.tcpdump.txt", map[string]int{"refused not_igmp": 6}},
}

func TestGolden(t *testing.T) {
	for _, fx := range goldenFixtures {
		t.Run(fx.pcap, func(t *testing.T) {
			frames := readPcap(t, fx.pcap)
			tcpdump := readTcpdump(t, fx.tcpdump)
			if len(tcpdump) != len(frames) {
				t.Fatalf("%d frames, tcpdump decoded %d", len(frames), len(tcpdump))
			}
			d := NewDecoder() // one decoder and message for the whole capture, as the daemon does
			var m Message
			var got []string
			counts := map[string]int{}
			for _, fr := range frames {
				td := tcpdump[fr.n]
				if err := d.Decode(fr.data, &m); err != nil {
					counts["refused "+ReasonOf(err).String()]++
					if td.igmp {
						t.Errorf("frame %d: %v, but tcpdump decodes %q", fr.n, err, td.text)
					}
					continue
				}
				counts[m.Kind.String()]++
				got = append(got, fmt.Sprintf("%d %v", fr.n, &m))
				if !td.igmp {
					t.Errorf("frame %d decoded as %v, but tcpdump says %q", fr.n, &m, td.text)
					continue
				}
				if td.src != m.Src.String() || td.dst != m.Dst.String() {
					t.Errorf("frame %d: %v > %v, tcpdump %s > %s", fr.n, m.Src, m.Dst, td.src, td.dst)
				}
				if want := tcpdumpStyle(t, &m); !matchTcpdump(want, td.text) {
					t.Errorf("frame %d: rendered %q, tcpdump %q", fr.n, want, td.text)
				}
			}
			want := readGolden(t, strings.TrimSuffix(fx.pcap, ".pcap")+".golden")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("decoded:\n%s\ngolden:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if fmt.Sprint(counts) != fmt.Sprint(fx.counts) {
				t.Errorf("counts %v, want %v", counts, fx.counts)
			}
		})
	}
}

type tcpdumpLine struct {
	src, dst, text string
	igmp           bool // tcpdump decoded it as IGMP
}

var tcpdumpRE = regexp.MustCompile(`^\s*(\d+)\s+\S+ \S+ (.*)$`)
var tcpdumpIPRE = regexp.MustCompile(`^IP (\S+) > (\S+): (.*)$`)

// readTcpdump parses `tcpdump -# -nn -tttt` output into lines by frame number.
func readTcpdump(t *testing.T, name string) map[int]tcpdumpLine {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]tcpdumpLine{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := tcpdumpRE.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("%s: unparsed line %q", name, sc.Text())
		}
		n, _ := strconv.Atoi(m[1])
		var l tcpdumpLine
		if ip := tcpdumpIPRE.FindStringSubmatch(m[2]); ip != nil {
			l = tcpdumpLine{src: ip[1], dst: ip[2], text: ip[3]}
			l.igmp = strings.HasPrefix(l.text, "igmp ") || strings.HasPrefix(l.text, "mtrace ") || strings.HasPrefix(l.text, "mresp ")
		} else {
			l.text = m[2]
		}
		out[n] = l
	}
	return out
}

func readGolden(t *testing.T, name string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// tcpdumpStyle renders m the way tcpdump 4.x prints it without -v
// (print-igmp.c), as far as the fixtures need: a second, independent
// check of the decoded fields against tcpdump's own decoder.
func tcpdumpStyle(t *testing.T, m *Message) string {
	t.Helper()
	switch m.Kind {
	case KindQuery:
		s := fmt.Sprintf("igmp query v%d", m.Version)
		if m.Version != 1 && m.MaxResp != 10*time.Second { // tcpdump omits code 100
			tenths := int64(m.MaxResp / MaxRespUnit)
			switch {
			case m.Version == 2:
				s += fmt.Sprintf(" [max resp time %d]", tenths)
			case tenths < 600:
				s += fmt.Sprintf(" [max resp time %.1fs]", float64(tenths)/10)
			default:
				s += fmt.Sprintf(" [max resp time %v]", time.Duration(tenths/10)*time.Second)
			}
		}
		if !m.IsGeneralQuery() {
			s += " [gaddr " + m.Group.String() + "]"
		}
		if len(m.Sources) > 0 {
			t.Fatalf("tcpdumpStyle does not render query sources")
		}
		return s
	case KindReport:
		return fmt.Sprintf("igmp v%d report %v", m.Version, m.Group)
	case KindLeave:
		return "igmp leave " + m.Group.String()
	case KindReportV3:
		return fmt.Sprintf("igmp v3 report, %d group record(s)", len(m.Records))
	}
	switch m.IGMPType {
	case 0x1e:
		return "mresp"
	case 0x1f:
		return "mtrace"
	case 0x13:
		return "igmp dvmrp"
	}
	t.Fatalf("tcpdumpStyle does not render IGMP type %#x", m.IGMPType)
	return ""
}

// matchTcpdump compares exactly, except for types whose tcpdump decode goes
// into payloads this package does not interpret (mtrace, DVMRP): there the
// prefix must match.
func matchTcpdump(want, got string) bool {
	switch want {
	case "mresp", "mtrace", "igmp dvmrp":
		return strings.HasPrefix(got, want+" ")
	}
	return want == got
}
