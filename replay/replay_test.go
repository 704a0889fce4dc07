package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

const replayTestdata = "../wire/testdata"

// replayRun is what one `replay --json` printed, decoded.
type replayRun struct {
	frames map[int]frameRecord
	timers []frameRecord
	final  Result
	out    string
}

// options replays file with the daemon's defaults, changed by mutate.
func options(file string, mutate ...func(*Options)) Options {
	o := Options{File: file, Config: snoop.DefaultConfig()}
	for _, m := range mutate {
		m(&o)
	}
	return o
}

func verbose(o *Options) { o.Verbose = true }

func until(d time.Duration) func(*Options) { return func(o *Options) { o.Until = d } }

// replay runs Run and returns what it printed and its error.
func replay(t *testing.T, o Options) (string, error) {
	t.Helper()
	var out bytes.Buffer
	_, err := Run(context.Background(), o, &out)
	return out.String(), err
}

// replayJSON replays with JSON output and Verbose, and decodes every line.
func replayJSON(t *testing.T, o Options) (*replayRun, error) {
	t.Helper()
	o.JSON, o.Verbose = true, true
	out, err := replay(t, o)
	run := &replayRun{frames: map[int]frameRecord{}, out: out}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, l := range lines {
		if i == len(lines)-1 {
			if jerr := json.Unmarshal([]byte(l), &run.final); jerr != nil {
				t.Fatalf("last line %q: %v", l, jerr)
			}
			break
		}
		var rec frameRecord
		if jerr := json.Unmarshal([]byte(l), &rec); jerr != nil {
			t.Fatalf("line %d %q: %v", i+1, l, jerr)
		}
		if rec.Timer {
			run.timers = append(run.timers, rec)
			continue
		}
		if _, dup := run.frames[rec.Frame]; dup || rec.Frame == 0 {
			t.Fatalf("line %d: frame %d twice or missing", i+1, rec.Frame)
		}
		run.frames[rec.Frame] = rec
	}
	return run, err
}

// groups lists the final table as "group@port" ("group vlan V@port" in a
// VLAN), with "/source" for INCLUDE rows, sorted.
func (r *replayRun) groups() []string {
	var out []string
	for _, g := range r.final.Groups {
		s := g.Group
		if g.VLAN != 0 {
			s += " vlan " + strconv.Itoa(int(g.VLAN))
		}
		s += "@" + g.Port
		if g.Source != "" {
			s += "/" + g.Source
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// routers lists the final router ports as "port proto via", sorted.
func (r *replayRun) routers() []string {
	var out []string
	for _, rt := range r.final.Routers {
		out = append(out, rt.Port+" "+rt.Protocol+" "+rt.Via)
	}
	slices.Sort(out)
	return out
}

// queriers lists the queriers present as "proto address port".
func (r *replayRun) queriers() []string {
	var out []string
	for _, q := range r.final.Queriers {
		out = append(out, q.Protocol+" "+q.Address+" "+q.Port)
	}
	slices.Sort(out)
	return out
}

// events returns the texts of the event actions named kind, from frames
// and timers, with where they happened ("frame N" or "timer T ms after
// frame N").
func (r *replayRun) events(kind string) []string {
	var out []string
	add := func(where string, acts []actionRecord) {
		for _, a := range acts {
			if a.Action == "event" && a.Event == kind {
				out = append(out, where+": "+a.Text)
			}
		}
	}
	for n := 1; n <= len(r.frames); n++ {
		add("frame "+strconv.Itoa(n), r.frames[n].Actions)
	}
	for _, tr := range r.timers {
		add("timer "+strconv.FormatInt(tr.TimeMs, 10)+"ms after frame "+strconv.Itoa(*tr.AfterFrame), tr.Actions)
	}
	slices.Sort(out)
	return out
}

func sameList(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// replayFixtures: every capture in wire/testdata, tcpdump's decode of it,
// and the key facts of the state the capture leaves, worked out from
// that decode.
var replayFixtures = []struct {
	pcap, tcpdump string
	check         func(t *testing.T, r *replayRun)
}{
	{"IGMP_V1.pcap", "igmpv1.tcpdump.txt", func(t *testing.T, r *replayRun) {
		// 224.0.0.x (frames 2, 6, 8, ...) is never learned; 192.168.1.3's
		// only report (frame 3) is 1.65 s from expiring at the end.
		sameList(t, "groups", r.groups(), []string{
			"224.0.1.24@00:24:e8:7c:be:d5", "224.0.1.60@78:e7:d1:a7:b9:a4",
			"239.255.255.250@00:24:e8:00:3b:a0", "239.255.255.250@00:24:e8:7c:be:d5",
			"239.255.255.250@00:0f:1f:53:18:b5", "239.255.255.250@78:2b:cb:99:fb:5b",
			"239.255.255.254@00:24:e8:7c:be:d5",
		})
		sameList(t, "routers", r.routers(), []string{"5c:d9:98:f9:1c:18 igmp query"})
		sameList(t, "queriers", r.queriers(), []string{"igmp 10.0.200.151 5c:d9:98:f9:1c:18"})
		if n := r.final.Summary.Ignored["link_local_or_invalid_group"]; n != 9 {
			t.Errorf("ignored 224.0.0.x reports: %d, want 9", n)
		}
		for _, g := range r.final.Groups {
			if g.Compat != "v1" {
				t.Errorf("%s on %s: compat %s, want v1 (IGMPv1 hosts)", g.Group, g.Port, g.Compat)
			}
		}
		sameList(t, "expiries", r.events("expire"), nil)
	}},
	{"IGMP_V2.pcap", "igmpv2.tcpdump.txt", func(t *testing.T, r *replayRun) {
		// 225.1.1.3 and 225.1.1.4 are left (frames 5 and 10) and pruned
		// after the last member query time, 2 × 1 s; the rest stays.
		sameList(t, "groups", r.groups(), []string{
			"225.1.1.5@00:02:02:19:51:28", "225.10.10.10@00:02:02:19:51:28", "239.255.255.250@00:1c:23:aa:be:ad",
		})
		sameList(t, "leaves", r.events("leave"), []string{
			"timer 21522ms after frame 7: leave 225.1.1.3 on 00:02:02:19:51:28",
			"timer 32982ms after frame 12: leave 225.1.1.4 on 00:02:02:19:51:28",
		})
		sameList(t, "routers", r.routers(), []string{"00:1b:11:10:26:11 igmp query"})
		sameList(t, "queriers", r.queriers(), []string{"igmp 192.168.1.2 00:1b:11:10:26:11"})
		if !hasAction(r.frames[2].Actions, "relay to 00:1b:11:10:26:11") {
			t.Errorf("frame 2: report not relayed to the router port: %+v", r.frames[2].Actions)
		}
		if !hasAction(r.frames[5].Actions, "query 225.1.1.3 out of 00:02:02:19:51:28 (igmp v2 from 0.0.0.0, maxresp 1s)") {
			t.Errorf("frame 5: no last member query after the leave: %+v", r.frames[5].Actions)
		}
	}},
	{"igmpv3-queries.pcap", "igmpv3-queries.tcpdump.txt", func(t *testing.T, r *replayRun) {
		sameList(t, "groups", r.groups(), nil)
		sameList(t, "routers", r.routers(), []string{"02:00:01:63:00:00 igmp query"})
		sameList(t, "queriers", r.queriers(), []string{"igmp 192.2.0.2 02:00:01:63:00:00"})
		// The MRC changes from 10 s to 51m12s (frame 2) and to 1 s (frame
		// 4); a non-querier takes each as it is (RFC 3376 §8.3): membership
		// intervals 2 × 125 s + 3072 s, then 2 × 125 s + 1 s.
		sameList(t, "timer changes", r.events("timers_changed"), []string{
			"frame 2: timers_changed from 192.2.0.2 (membership interval 55m22s)",
			"frame 4: timers_changed from 192.2.0.2 (membership interval 4m11s)",
		})
		if q := r.final.Queriers[0]; q.QueryResponseMs != 1000 || q.QueryIntervalMs != 125000 || q.Robustness != 2 {
			t.Errorf("querier timers %+v, want QRV 2, QQI 125 s, MRC 1 s from the last query", q)
		}
	}},
	{"eapon1.pcap", "eapon1.tcpdump.txt", func(t *testing.T, r *replayRun) {
		sameList(t, "groups", r.groups(), []string{"239.255.255.250@00:04:23:57:a5:7a"})
		sameList(t, "joins", r.events("join"), []string{"frame 44: join 239.255.255.250 on 00:04:23:57:a5:7a by 169.254.67.194"})
		if g := r.final.Groups[0]; g.Mode != "exclude" || g.Version != 3 {
			t.Errorf("TO_EX {} must give an any-source IGMPv3 membership: %+v", g)
		}
		if s := r.final.Summary; s.Snooped != 2 || s.NotSnooped != 112 {
			t.Errorf("summary %+v, want 2 snooped, 112 not snooped", s)
		}
		sameList(t, "routers", r.routers(), nil)
		sameList(t, "queriers", r.queriers(), nil)
	}},
	{"mtrace.pcap", "mtrace.tcpdump.txt", func(t *testing.T, r *replayRun) {
		sameList(t, "groups", r.groups(), nil)
		sameList(t, "routers", r.routers(), nil)
		sameList(t, "queriers", r.queriers(), nil)
		if s := r.final.Summary; s.Snooped != 2 || s.Received["igmp_other"] != 2 {
			t.Errorf("summary %+v, want 2 other IGMP messages", s)
		}
	}},
	{"mrinfo_query.pcap", "mrinfo_query.tcpdump.txt", func(t *testing.T, r *replayRun) {
		sameList(t, "groups", r.groups(), nil)
		sameList(t, "routers", r.routers(), nil)
	}},
	{"PIMv2_hellos.pcap", "PIMv2_hellos.tcpdump.txt", func(t *testing.T, r *replayRun) {
		sameList(t, "groups", r.groups(), nil)
		sameList(t, "routers", r.routers(), []string{"c2:01:52:72:00:00 igmp pim", "c2:02:52:72:00:00 igmp pim"})
		sameList(t, "queriers", r.queriers(), nil) // a PIM router is not a querier
	}},
	{"icmpv6.pcap", "icmpv6.tcpdump.txt", func(t *testing.T, r *replayRun) {
		const host = "00:15:17:cc:e5:46"
		sameList(t, "groups", r.groups(), []string{
			"ff02::1:ff00:2@" + host, "ff02::1:ffa7:10ad@" + host, "ff02::1:ffcc:e546@" + host, "ff02::db8:1122:3344@" + host,
		})
		for _, g := range r.final.Groups {
			if leaving := g.Group == "ff02::db8:1122:3344"; g.Leaving != leaving {
				t.Errorf("%s leaving %v, want %v (TO_IN {} in the last frame)", g.Group, g.Leaving, leaving)
			}
		}
		// From the elected querier's address, not ours: whoever hears it
		// keeps the querier it has (README, "Querier").
		if !hasAction(r.frames[5].Actions, "query ff02::db8:1122:3344 out of "+host+" (mld v2 from fe80::b2a8:6eff:fe0c:d4e8, maxresp 1s)") {
			t.Errorf("frame 5: no MLD last listener query: %+v", r.frames[5].Actions)
		}
		sameList(t, "routers", r.routers(), []string{"b0:a8:6e:0c:d4:e8 mld query"})
		sameList(t, "queriers", r.queriers(), []string{"mld fe80::b2a8:6eff:fe0c:d4e8 b0:a8:6e:0c:d4:e8"})
		if q := r.final.Queriers[0]; q.QueryIntervalMs != 60000 || q.MembershipIntervalMs != 130000 {
			t.Errorf("querier %+v: want the query's QQI 60 s adopted (membership interval 130 s)", q)
		}
	}},
	{"dcb_ets.pcap", "dcb_ets.tcpdump.txt", func(t *testing.T, r *replayRun) {
		const a, b = "08:00:27:46:e8:84", "08:00:27:42:ba:59"
		sameList(t, "groups", r.groups(), []string{
			"ff02::1:ff00:0@" + a, "ff02::1:ff46:e884@" + a, "ff02::2@" + a, "ff02::202@" + a,
			"ff02::1:ff00:0@" + b, "ff02::1:ff42:ba59@" + b, "ff02::2@" + b, "ff02::202@" + b,
		})
		// Reports from :: during duplicate address detection count
		// (RFC 4541 M4): they make the solicited-node joins.
		joins := r.events("join")
		for _, want := range []string{
			"frame 6: join ff02::1:ff46:e884 on " + a + " by ::",
			"frame 12: join ff02::1:ff42:ba59 on " + b + " by ::",
		} {
			if !slices.Contains(joins, want) {
				t.Errorf("no %q in %q", want, joins)
			}
		}
		if s := r.final.Summary; s.Snooped != 13 || s.NotSnooped != 54 {
			t.Errorf("summary %+v, want 13 snooped, 54 not snooped", s)
		}
	}},
	{"synthetic.pcap", "synthetic.tcpdump.txt", func(t *testing.T, r *replayRun) {
		const p = "02:00:00:00:00:01"
		sameList(t, "groups", r.groups(), []string{
			"ff02::1:ff00:1@" + p, "ff05::1:3@" + p, "ff05::7@" + p,
			"ff3e::9@" + p + "/2001:db8::7", "ff3e::9@" + p + "/2001:db8::8",
			// Tagged (VLAN 100), but a bridge without VLAN filtering
			// forwards every VLAN by VLAN 0's entries.
			"ff05::2@" + p, "ff05::4@" + p, "ff3e::1@" + p + "/2001:db8::1", "ff3e::5@" + p + "/2001:db8::5",
		})
		// The MLDv1 done (frame 8) comes in on the querier's own port: we
		// send no proxy query towards a querier (it would take part in its
		// election), its own queries decide, and the capture has none. So
		// ff05::1:3 stays.
		sameList(t, "leaves", r.events("leave"), nil)
		if s := r.final.Summary; s.Refused["bad_icmpv6_checksum"] != 1 || s.Refused["bad_pim_checksum"] != 1 || s.NotSnooped != 1 {
			t.Errorf("summary %+v", s)
		}
	}},
}

func hasAction(acts []actionRecord, text string) bool {
	return slices.ContainsFunc(acts, func(a actionRecord) bool { return a.Text == text })
}

// TestReplayFixtures replays every capture in wire/testdata and checks
// each frame's decode against tcpdump's, then the state it leaves.
func TestReplayFixtures(t *testing.T) {
	pcaps, err := filepath.Glob(filepath.Join(replayTestdata, "*.pcap"))
	if err != nil || len(pcaps) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, p := range pcaps {
		if !slices.ContainsFunc(replayFixtures, func(f struct {
			pcap, tcpdump string
			check         func(*testing.T, *replayRun)
		}) bool {
			return f.pcap == filepath.Base(p)
		}) {
			t.Errorf("%s: not in replayFixtures", p)
		}
	}
	for _, fx := range replayFixtures {
		t.Run(fx.pcap, func(t *testing.T) {
			r, err := replayJSON(t, options(filepath.Join(replayTestdata, fx.pcap)))
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			td := readTcpdumpFrames(t, filepath.Join(replayTestdata, fx.tcpdump))
			if len(r.frames) != len(td) || r.final.Summary.Frames != len(td) {
				t.Fatalf("%d frames replayed (summary %d), tcpdump decoded %d", len(r.frames), r.final.Summary.Frames, len(td))
			}
			for n := 1; n <= len(td); n++ {
				compareFrame(t, n, r.frames[n], td[n])
			}
			fx.check(t, r)
			// The text output shows the same decodes, one per frame line.
			text, err := replay(t, options(filepath.Join(replayTestdata, fx.pcap), verbose))
			if err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= len(td); n++ {
				if f := r.frames[n]; f.Message != "" && !strings.Contains(text, " "+f.Port+"  "+f.Message+"\n") {
					t.Errorf("text output has no line for frame %d: %s", n, f.Message)
				}
			}
		})
	}
}

// tcpdumpFrame is one frame of `tcpdump -# -nn -tttt [-v|-vv]` output, its
// continuation lines joined to it.
type tcpdumpFrame struct {
	time time.Time
	text string
}

var tcpdumpLineRE = regexp.MustCompile(`^\s*(\d+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) (.*)$`)

func readTcpdumpFrames(t *testing.T, path string) map[int]tcpdumpFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]tcpdumpFrame{}
	last := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := tcpdumpLineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			if last == 0 || strings.TrimSpace(sc.Text()) == sc.Text() {
				t.Fatalf("%s: unparsed line %q", path, sc.Text())
			}
			fr := out[last]
			fr.text += " " + strings.TrimSpace(sc.Text())
			out[last] = fr
			continue
		}
		n, _ := strconv.Atoi(m[1])
		// The decodes were made with TZ=UTC (wire/testdata/README.md).
		ts, err := time.Parse("2006-01-02 15:04:05.000000", m[2])
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, n, err)
		}
		out[n], last = tcpdumpFrame{time: ts, text: m[3]}, n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// msgFacts are the fields of a message that both tcpdump and
// Message.String() show. Zero values are "not shown".
type msgFacts struct {
	src, dst string
	kind     string // query, report, leave, other, pim_hello, mrd_advert, mrd_termination
	version  int
	group    string
	records  []string // "type group {sources}", lower case
	nrecords int      // -1: not shown
	bad      bool     // tcpdump found a bad checksum
}

var (
	// "IP 1.2.3.4 > 5.6.7.8: ...", or with -v "IP (tos ..., options (RA)) 1.2.3.4 > ...".
	tdIPRE      = regexp.MustCompile(`^IP6? (?:\((?:[^()]|\([^()]*\))*\) )?(\S+) > (\S+): (.*)$`)
	tdQueryRE   = regexp.MustCompile(`^igmp query v(\d)`)
	tdGaddrRE   = regexp.MustCompile(`\[gaddr ([^\] ]+)`)
	tdReportRE  = regexp.MustCompile(`^igmp v([12]) report (\S+)`)
	tdLeaveRE   = regexp.MustCompile(`^igmp leave (\S+)`)
	tdV3RE      = regexp.MustCompile(`^igmp v3 report, (\d+) group record`)
	tdIGMPNumRE = regexp.MustCompile(`^igmp-(\d+)`)
	tdMLD1RE    = regexp.MustCompile(`^multicast listener (query|report|done) ?max resp delay: \d+ addr: (\S+)`)
	tdMLDQ2RE   = regexp.MustCompile(`^multicast listener query v2 \[max resp delay=\d+\] \[gaddr ([^\] ]+)`)
	tdMLDR2RE   = regexp.MustCompile(`^multicast listener report v2, (\d+) group record\(s\)`)
	tdMLDRecRE  = regexp.MustCompile(`\[gaddr (\S+) (\w+) \{ ?([^}]*?) ?\}\]`)
	tdICMP6RE   = regexp.MustCompile(`^unknown icmp6 type \((\d+)\)`)
)

// tcpdumpFacts reads what tcpdump says a frame is; ok is false for frames
// that are not IGMP, MLD, MRD or a PIM hello at all.
func tcpdumpFacts(text string) (f msgFacts, ok bool) {
	m := tdIPRE.FindStringSubmatch(text)
	if m == nil {
		return f, false
	}
	f = msgFacts{src: m[1], dst: m[2], nrecords: -1}
	body := m[3]
	// "[|" is tcpdump's mark for a message cut short: a PIM hello with a
	// partial option after its last one, which FRR refuses too.
	f.bad = strings.Contains(body, "[bad icmp6 cksum") || strings.Contains(body, "(incorrect)") || strings.Contains(body, "[|")
	if i := strings.Index(body, "PIMv2"); i >= 0 && strings.Contains(body, "Hello") {
		f.kind = "pim_hello"
		return f, true
	}
	if strings.HasPrefix(text, "IP6 ") {
		_, icmp, found := strings.Cut(body, "ICMP6, ")
		if !found {
			return f, false
		}
		switch {
		case tdMLD1RE.MatchString(icmp):
			mm := tdMLD1RE.FindStringSubmatch(icmp)
			f.kind, f.version, f.group = map[string]string{"query": "query", "report": "report", "done": "leave"}[mm[1]], 1, mm[2]
		case tdMLDQ2RE.MatchString(icmp):
			f.kind, f.version, f.group = "query", 2, tdMLDQ2RE.FindStringSubmatch(icmp)[1]
		case tdMLDR2RE.MatchString(icmp):
			f.kind, f.version = "report", 2
			f.nrecords, _ = strconv.Atoi(tdMLDR2RE.FindStringSubmatch(icmp)[1])
			for _, r := range tdMLDRecRE.FindAllStringSubmatch(icmp, -1) {
				f.records = append(f.records, r[2]+" "+r[1]+" {"+r[3]+"}")
			}
		case tdICMP6RE.MatchString(icmp):
			f.kind = map[string]string{"151": "mrd_advert", "152": "other", "153": "mrd_termination"}[tdICMP6RE.FindStringSubmatch(icmp)[1]]
			if f.kind == "" {
				return f, false
			}
		default:
			return f, false // neighbour discovery, router advertisements, ...
		}
		return f, true
	}
	switch {
	case tdQueryRE.MatchString(body):
		f.kind, f.group = "query", "0.0.0.0"
		f.version, _ = strconv.Atoi(tdQueryRE.FindStringSubmatch(body)[1])
		if g := tdGaddrRE.FindStringSubmatch(body); g != nil {
			f.group = g[1]
		}
	case tdReportRE.MatchString(body):
		mm := tdReportRE.FindStringSubmatch(body)
		f.kind, f.group = "report", mm[2]
		f.version, _ = strconv.Atoi(mm[1])
	case tdLeaveRE.MatchString(body):
		f.kind, f.version, f.group = "leave", 2, tdLeaveRE.FindStringSubmatch(body)[1]
	case tdV3RE.MatchString(body):
		f.kind, f.version = "report", 3
		f.nrecords, _ = strconv.Atoi(tdV3RE.FindStringSubmatch(body)[1])
	case tdIGMPNumRE.MatchString(body):
		// tcpdump 4.99 does not name the MRD types (RFC 4286).
		f.kind = map[string]string{"48": "mrd_advert", "50": "mrd_termination"}[tdIGMPNumRE.FindStringSubmatch(body)[1]]
		if f.kind == "" {
			f.kind = "other"
		}
	case strings.HasPrefix(body, "mtrace ") || strings.HasPrefix(body, "mresp ") || strings.HasPrefix(body, "igmp dvmrp"):
		f.kind = "other"
	default:
		return f, false
	}
	return f, true
}

var (
	msgRE       = regexp.MustCompile(`^(?:vlan \d+ )?(\S+) > (\S+) (igmp|mld|pim) (.*)$`)
	msgQueryRE  = regexp.MustCompile(`^query v(\d) group (\S+)`)
	msgGroupRE  = regexp.MustCompile(`^(report|leave) v(\d) group (\S+)$`)
	msgV3RE     = regexp.MustCompile(`^report v(\d)(?: no records)?(.*)$`)
	msgRecordRE = regexp.MustCompile(`(\S+) (\S+) \{([^}]*)\}`)
)

// messageFacts reads the same fields from Message.String().
func messageFacts(t *testing.T, s string) msgFacts {
	t.Helper()
	m := msgRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("unparsed message %q", s)
	}
	f := msgFacts{src: m[1], dst: m[2], nrecords: -1}
	body := m[4]
	switch {
	case m[3] == "pim":
		f.kind = "pim_hello"
	case msgQueryRE.MatchString(body):
		mm := msgQueryRE.FindStringSubmatch(body)
		f.kind, f.group = "query", mm[2]
		f.version, _ = strconv.Atoi(mm[1])
	case msgGroupRE.MatchString(body):
		mm := msgGroupRE.FindStringSubmatch(body)
		f.kind, f.group = mm[1], mm[3]
		f.version, _ = strconv.Atoi(mm[2])
	case msgV3RE.MatchString(body):
		mm := msgV3RE.FindStringSubmatch(body)
		f.kind = "report"
		f.version, _ = strconv.Atoi(mm[1])
		for _, r := range msgRecordRE.FindAllStringSubmatch(mm[2], -1) {
			f.records = append(f.records, strings.ToLower(r[1])+" "+r[2]+" {"+r[3]+"}")
		}
		f.nrecords = len(f.records)
	case strings.HasPrefix(body, "mrd_advert "), body == "mrd_termination":
		f.kind, _, _ = strings.Cut(body, " ")
	case strings.HasPrefix(body, "other type "):
		f.kind = "other"
	default:
		t.Fatalf("unparsed message %q", s)
	}
	return f
}

// compareFrame checks one replayed frame against tcpdump's decode: the
// fields tcpdump prints, not the text.
func compareFrame(t *testing.T, n int, got frameRecord, td tcpdumpFrame) {
	t.Helper()
	if ts, err := time.Parse(time.RFC3339Nano, got.Time); err != nil || !ts.Equal(td.time) {
		t.Errorf("frame %d: time %q, tcpdump %v", n, got.Time, td.time)
	}
	want, snooped := tcpdumpFacts(td.text)
	switch {
	case !snooped:
		if got.NotSnooped == "" {
			t.Errorf("frame %d: %+v, but tcpdump decodes something not snooped: %q", n, got, td.text)
		}
		return
	case want.bad:
		if got.Refused == "" {
			t.Errorf("frame %d: %+v, but tcpdump finds a bad checksum: %q", n, got, td.text)
		}
		return
	case got.Message == "":
		t.Errorf("frame %d: %+v, but tcpdump decodes %q", n, got, td.text)
		return
	}
	have := messageFacts(t, got.Message)
	if have.src != want.src || have.dst != want.dst || have.kind != want.kind {
		t.Errorf("frame %d: %s > %s %s; tcpdump %s > %s %s (%q)", n, have.src, have.dst, have.kind, want.src, want.dst, want.kind, td.text)
	}
	if want.version != 0 && have.version != want.version {
		t.Errorf("frame %d: version %d, tcpdump %d (%q)", n, have.version, want.version, td.text)
	}
	if want.group != "" && have.group != want.group {
		t.Errorf("frame %d: group %s, tcpdump %s (%q)", n, have.group, want.group, td.text)
	}
	if want.nrecords >= 0 && have.nrecords != want.nrecords {
		t.Errorf("frame %d: %d records, tcpdump %d (%q)", n, have.nrecords, want.nrecords, td.text)
	}
	if want.records != nil && !slices.Equal(have.records, want.records) {
		t.Errorf("frame %d: records %q, tcpdump %q", n, have.records, want.records)
	}
}

// TestReplayUntil runs timers past the end of IGMP_V1: the one report of
// 192.168.1.3 (frame 3, 0.6892 s in) expires one membership interval
// (260 s) later, 1.65 s after the last frame.
func TestReplayUntil(t *testing.T) {
	r, err := replayJSON(t, options(filepath.Join(replayTestdata, "IGMP_V1.pcap"), until(2*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	sameList(t, "expiries", r.events("expire"), []string{"timer 260689ms after frame 27: expire 239.255.255.250 on 00:24:e8:00:3b:a0"})
	if slices.Contains(r.groups(), "239.255.255.250@00:24:e8:00:3b:a0") {
		t.Errorf("expired membership still in the table: %q", r.groups())
	}
	if s := r.final.Summary; s.UntilMs != 2000 || s.EndMs != s.DurationMs+2000 {
		t.Errorf("summary %+v: want the tables 2 s after the last frame", s)
	}
}

// Addresses of the synthetic pcapng capture.
var (
	macRouter = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	macB      = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
	macC      = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x03}
)

type capFrame struct {
	at    time.Duration
	frame []byte
}

// timedCapture builds frames with the package's encoders: an IGMPv3
// querier with a 10 s query interval and 2 s response time (membership
// interval 2 × 10 + 2 = 22 s), and two hosts. Replay it with timedTimers:
// the engine adopts a querier's timers only within a factor of four of
// its own.
func timedCapture(t *testing.T) []capFrame {
	t.Helper()
	a := netip.MustParseAddr
	query := func() []byte {
		f, err := wire.EncodeQuery(wire.Query{Version: 3, SrcMAC: macRouter, Src: a("10.0.0.1"), MaxResp: 2 * time.Second, QRV: 2, QueryInterval: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	report := func(r wire.Report) []byte {
		f, err := wire.EncodeReport(r)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	return []capFrame{
		{0, query()},
		{1 * time.Second, report(wire.Report{Version: 3, SrcMAC: macB, Src: a("10.0.0.2"),
			Records: []wire.GroupRecord{{Type: wire.ChangeToExclude, Group: a("239.1.1.1")}}})},
		{2 * time.Second, report(wire.Report{Version: 3, SrcMAC: macC, Src: a("10.0.0.3"),
			Records: []wire.GroupRecord{{Type: wire.ModeIsInclude, Group: a("232.1.1.1"), Sources: []netip.Addr{a("10.1.1.1")}}}})},
		{15 * time.Second, query()},
		{16 * time.Second, report(wire.Report{Version: 2, SrcMAC: macC, Src: a("10.0.0.3"), Group: a("239.2.2.2")})},
		{30 * time.Second, report(wire.Report{Version: 2, Leave: true, SrcMAC: macC, Src: a("10.0.0.3"), Group: a("239.2.2.2")})},
	}
}

var captureStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// timedTimers are timers near timedCapture's, not equal to them, so that
// its queries still change them.
func timedTimers(o *Options) {
	o.Config.QueryInterval, o.Config.QueryResponseInterval = 20*time.Second, 4*time.Second
}

func writePcapng(t *testing.T, link layers.LinkType, frames []capFrame) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, link)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(f.at), CaptureLength: len(f.frame), Length: len(f.frame)}
		if err := w.WritePacket(ci, f.frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writePcap(t *testing.T, link layers.LinkType, frames []capFrame) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: captureStart.Add(f.at), CaptureLength: len(f.frame), Length: len(f.frame)}
		if err := w.WritePacket(ci, f.frame); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplayPcapng replays a pcapng capture whose memberships expire
// mid-capture, at the times the querier's timers give.
func TestReplayPcapng(t *testing.T) {
	path := writeTemp(t, "timed.pcapng", writePcapng(t, layers.LinkTypeEthernet, timedCapture(t)))
	r, err := replayJSON(t, options(path, timedTimers))
	if err != nil {
		t.Fatal(err)
	}
	if s := r.final.Summary; s.Format != "pcapng" || s.Frames != 6 || s.Snooped != 6 || s.Ports != 3 {
		t.Fatalf("summary %+v", s)
	}
	const b, c = "02:00:5e:10:00:02", "02:00:5e:10:00:03"
	// Adopted from the first query: 22 s after their reports.
	sameList(t, "expiries", r.events("expire"), []string{
		"timer 23000ms after frame 5: expire 239.1.1.1 on " + b,
		"timer 24000ms after frame 5: expire 232.1.1.1 on " + c,
	})
	sameList(t, "timer changes", r.events("timers_changed"), []string{"frame 1: timers_changed from 10.0.0.1 (membership interval 22s)"})
	// The leave in the last frame is still being queried at the end.
	sameList(t, "groups", r.groups(), []string{"239.2.2.2@" + c})
	if !r.final.Groups[0].Leaving {
		t.Errorf("239.2.2.2 not leaving: %+v", r.final.Groups[0])
	}
	sameList(t, "queriers", r.queriers(), []string{"igmp 10.0.0.1 02:00:5e:10:00:01"})

	// Ten more seconds: the leave completes (2 × 1 s), and the querier,
	// last heard at 15 s, is lost after 2 × 10 + 2/2 = 21 s.
	r, err = replayJSON(t, options(path, timedTimers, until(10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	sameList(t, "leaves", r.events("leave"), []string{"timer 32000ms after frame 6: leave 239.2.2.2 on " + c})
	sameList(t, "querier lost", r.events("querier_lost"), []string{"timer 36000ms after frame 6: querier_lost on 02:00:5e:10:00:01 from 10.0.0.1"})
	sameList(t, "groups", r.groups(), nil)
	sameList(t, "queriers", r.queriers(), nil)

	// The text output says the same, with the time of each timer.
	text, err := replay(t, options(path, timedTimers, printTableNames))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"    -     23.000000s                     timers\n                       remove 239.1.1.1 on " + b + "\n                       expire 239.1.1.1 on " + b + "\n",
		"    6     30.000000s  " + c + "  10.0.0.3 > 224.0.0.2 igmp leave v2 group 239.2.2.2\n",
		"summary: 6 frames over 30s from 2026-01-02T03:04:05Z: 6 snooped, 0 refused, 0 not snooped; 3 virtual ports\n",
		"\ngroups at the end of the capture (30.000000s):\n[groups: 1 groups, 1 routers, 1 queriers]\n",
		"\nrouter ports:\n[routers: 1 groups, 1 routers, 1 queriers]\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	// Without a table printer the summary ends the output.
	text, err = replay(t, options(path, timedTimers))
	if err != nil || strings.Contains(text, "groups at the end") || !strings.HasSuffix(text, "sent 1 query\n") {
		t.Errorf("output without PrintTable (error %v):\n%s", err, text)
	}
}

// printTableNames stands for `show`'s table printer: it says which table
// it was asked for and how many rows it was given.
func printTableNames(o *Options) {
	o.PrintTable = func(w io.Writer, what string, t *Tables) error {
		_, err := fmt.Fprintf(w, "[%s: %d groups, %d routers, %d queriers]\n", what, len(t.Groups), len(t.Routers), len(t.Queriers))
		return err
	}
}

// TestReplayConfigTimers: the configured timers apply until a query says
// otherwise; without a querier in the capture they decide alone.
func TestReplayConfigTimers(t *testing.T) {
	frames := timedCapture(t)[1:3] // the two reports, no query
	path := writeTemp(t, "noquerier.pcap", writePcap(t, layers.LinkTypeEthernet, frames))
	r, err := replayJSON(t, options(path, until(20*time.Second), func(o *Options) {
		o.Config.QueryInterval, o.Config.QueryResponseInterval, o.Config.Robustness = 4*time.Second, time.Second, 3
	}))
	if err != nil {
		t.Fatal(err)
	}
	// 3 × 4 + 1 = 13 s after each report.
	sameList(t, "expiries", r.events("expire"), []string{
		"timer 13000ms after frame 2: expire 239.1.1.1 on 02:00:5e:10:00:02",
		"timer 14000ms after frame 2: expire 232.1.1.1 on 02:00:5e:10:00:03",
	})
}

// TestReplayErrors: unreadable files fail with an error naming the file
// and the problem, and the frame for a damaged one, after printing what
// was read.
func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	v2, err := os.ReadFile(filepath.Join(replayTestdata, "IGMP_V2.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	rec10 := recordOffset(t, v2, 10)
	corrupt := slices.Clone(v2)
	binary.LittleEndian.PutUint32(corrupt[recordOffset(t, v2, 3)+8:], 0x7fffffff) // caplen of frame 3
	ng := writePcapng(t, layers.LinkTypeEthernet, timedCapture(t))
	raw := timedCapture(t)[:1]
	tests := []struct {
		name   string
		data   []byte // nil: no such file
		want   []string
		frames int // frames printed before the error
	}{
		{"missing.pcap", nil, []string{"no such file"}, 0},
		{"empty.pcap", []byte{}, []string{"too short for a pcap or pcapng capture"}, 0},
		{"text.pcap", []byte("hello, this is not a capture\n"), []string{"not a pcap or pcapng capture"}, 0},
		{"cut-in-data.pcap", v2[:rec10+16+20], []string{"frame 10:", "truncated"}, 9},
		{"cut-in-header.pcap", v2[:rec10+7], []string{"frame 10:", "truncated"}, 9},
		{"corrupt.pcap", corrupt, []string{"frame 3:", "capture length exceeds snap length"}, 2},
		{"cut.pcapng", ng[:len(ng)-10], []string{"frame 6:", "truncated"}, 5},
		{"raw.pcap", writePcap(t, layers.LinkTypeRaw, raw), []string{"link type", "not Ethernet"}, 0},
		{"sll.pcapng", writePcapng(t, layers.LinkTypeLinuxSLL, raw), []string{"frame 1:", "not Ethernet"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := replay(t, options(path))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for n := 1; n <= tt.frames+1; n++ {
				line := regexp.MustCompile(`(?m)^\s+` + strconv.Itoa(n) + ` `)
				if printed := line.MatchString(out); printed != (n <= tt.frames) {
					t.Errorf("frame %d printed: %v; want the %d frames before the bad one:\n%s", n, printed, tt.frames, out)
				}
			}
			if tt.frames > 0 && !strings.Contains(out, "stopped early: ") {
				t.Errorf("no summary of what was read:\n%s", out)
			}
			// JSON says it in the summary too.
			if tt.frames > 0 {
				r, err := replayJSON(t, options(path))
				if err == nil || r.final.Summary.Error == "" || r.final.Summary.Frames != tt.frames {
					t.Errorf("--json: error %v, summary %+v", err, r.final.Summary)
				}
			}
		})
	}
}

// recordOffset returns where frame n's record starts in a pcap file.
func recordOffset(t *testing.T, pcap []byte, n int) int {
	t.Helper()
	off := 24
	for i := 1; i < n; i++ {
		if off+16 > len(pcap) {
			t.Fatalf("no frame %d", n)
		}
		off += 16 + int(binary.LittleEndian.Uint32(pcap[off+8:]))
	}
	return off
}

// TestReplayJSONFields checks the documented --json field names on the
// raw objects, so a renamed struct field cannot slip through.
func TestReplayJSONFields(t *testing.T) {
	path := writeTemp(t, "timed.pcapng", writePcapng(t, layers.LinkTypeEthernet, timedCapture(t)))
	out, err := replay(t, options(path, timedTimers, until(10*time.Second), func(o *Options) { o.JSON = true }))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	seen := map[string]bool{}
	for i, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("line %d: %v: %q", i+1, err, l)
		}
		if i == len(lines)-1 {
			requireKeys(t, "final", obj, "summary", "groups", "routers", "queriers")
			requireKeys(t, "summary", obj["summary"].(map[string]any), "file", "format", "frames", "snooped", "refused",
				"not_snooped", "ports", "start", "duration_ms", "end_ms", "until_ms", "time_went_back", "received", "ignored", "relayed", "queries_sent")
			continue
		}
		if obj["timer"] == true {
			requireKeys(t, "timer", obj, "timer", "after_frame", "time_ms", "time", "actions")
		} else {
			requireKeys(t, "frame", obj, "frame", "time_ms", "time", "port", "message", "actions")
		}
		for _, a := range obj["actions"].([]any) {
			act := a.(map[string]any)
			requireKeys(t, "action", act, "action", "text")
			kind := act["action"].(string)
			seen[kind] = true
			switch kind {
			case "install":
				requireKeys(t, kind, act, "port", "group", "mode")
			case "remove", "query":
				requireKeys(t, kind, act, "port", "group")
			case "relay", "flood", "solicit":
				requireKeys(t, kind, act, "port")
			case "router_port":
				requireKeys(t, kind, act, "port", "router")
			case "event":
				requireKeys(t, kind, act, "event")
			default:
				t.Errorf("undocumented action %q", kind)
			}
		}
	}
	for _, k := range []string{"install", "remove", "relay", "query", "solicit", "router_port", "event"} {
		if !seen[k] {
			t.Errorf("no %q action in the capture's output", k)
		}
	}
	// Refusals and frames that are not snooped have their own fields.
	out, err = replay(t, options(filepath.Join(replayTestdata, "synthetic.pcap"), verbose, func(o *Options) { o.JSON = true }))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"frame":22,"time_ms":21000,"time":"2023-11-14T22:13:41Z","port":"02:00:00:00:00:01","not_snooped":"not_mld","actions":[]}`,
		`{"frame":23,"time_ms":22000,"time":"2023-11-14T22:13:42Z","port":"02:00:00:00:00:01","refused":"bad_icmpv6_checksum","actions":[]}`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no line %s", want)
		}
	}
}

func requireKeys(t *testing.T, what string, obj map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s object %v has no %q", what, obj, k)
		}
	}
}

// TestReplayQuietByDefault: without -v, frames that are not snooped are
// counted but not shown.
func TestReplayQuietByDefault(t *testing.T) {
	out, err := replay(t, options(filepath.Join(replayTestdata, "eapon1.pcap")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "not snooped:") {
		t.Errorf("not-snooped frames shown without -v:\n%s", out)
	}
	if !strings.Contains(out, ": 2 snooped, 0 refused, 112 not snooped; 1 virtual port\n") {
		t.Errorf("summary does not count them:\n%s", out)
	}
}

// TestReplayClockBackwards: a frame stamped before the one ahead of it is
// replayed at that one's time, and counted.
func TestReplayClockBackwards(t *testing.T) {
	frames := timedCapture(t)
	frames[2].at = 0 // before frame 2 at 1 s
	path := writeTemp(t, "merged.pcap", writePcap(t, layers.LinkTypeEthernet, frames))
	r, err := replayJSON(t, options(path))
	if err != nil {
		t.Fatal(err)
	}
	if r.final.Summary.TimeWentBack != 1 || r.frames[3].TimeMs != 1000 {
		t.Errorf("time went back %d times, frame 3 at %d ms; want 1 and 1000", r.final.Summary.TimeWentBack, r.frames[3].TimeMs)
	}
}

// FuzzReplay: no capture, however damaged, panics or hangs the replay.
func FuzzReplay(f *testing.F) {
	for _, name := range []string{"IGMP_V2.pcap", "synthetic.pcap", "icmpv6.pcap"} {
		data, err := os.ReadFile(filepath.Join(replayTestdata, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.pcap")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		_, _ = Run(context.Background(), options(path, until(time.Hour)), &out)
	})
}

// taggedCapture: a querier in VLAN 10, reports tagged 10 and 20, and an
// untagged one.
func taggedCapture(t *testing.T) []capFrame {
	t.Helper()
	a := netip.MustParseAddr
	q, err := wire.EncodeQuery(wire.Query{Version: 2, SrcMAC: macRouter, Src: a("10.0.0.1"), MaxResp: 10 * time.Second, VLAN: 10})
	if err != nil {
		t.Fatal(err)
	}
	frames := []capFrame{{0, q}}
	for i, r := range []wire.Report{
		{Version: 2, SrcMAC: macB, Src: a("10.0.0.2"), Group: a("239.1.1.10"), VLAN: 10},
		{Version: 3, SrcMAC: macC, Src: a("10.0.0.3"), VLAN: 20, Records: []wire.GroupRecord{{Type: wire.ChangeToExclude, Group: a("239.1.1.20")}}},
		{Version: 2, SrcMAC: macC, Src: a("10.0.0.3"), Group: a("239.1.1.1")},
	} {
		f, err := wire.EncodeReport(r)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, capFrame{time.Duration(i+1) * time.Second, f})
	}
	return frames
}

// TestReplayVLANFiltering: without VLAN filtering (a bridge's default)
// every tagged message counts for VLAN 0, as the kernel takes it; with it,
// for its own VLAN. Either way replay learns what an engine configured as
// the daemon configures it learns from the same frames.
func TestReplayVLANFiltering(t *testing.T) {
	frames := taggedCapture(t)
	path := writeTemp(t, "tagged.pcap", writePcap(t, layers.LinkTypeEthernet, frames))
	const router, b, c = "02:00:5e:10:00:01", "02:00:5e:10:00:02", "02:00:5e:10:00:03"
	for _, tc := range []struct {
		filtering       bool
		groups, routers []string
		querierVLAN     uint16
		relayed         uint64 // reports relayed to the querier's port
	}{
		{false, []string{"239.1.1.10@" + b, "239.1.1.20@" + c, "239.1.1.1@" + c}, []string{router + " igmp query"}, 0, 3},
		// The router port is VLAN 10's only.
		{true, []string{"239.1.1.10 vlan 10@" + b, "239.1.1.20 vlan 20@" + c, "239.1.1.1@" + c}, []string{router + " igmp query"}, 10, 1},
	} {
		o := options(path, func(o *Options) { o.Config.VLANFiltering = tc.filtering })
		r, err := replayJSON(t, o)
		if err != nil {
			t.Fatal(err)
		}
		sameList(t, fmt.Sprintf("groups, VLAN filtering %v", tc.filtering), r.groups(), tc.groups)
		sameList(t, fmt.Sprintf("routers, VLAN filtering %v", tc.filtering), r.routers(), tc.routers)
		if len(r.final.Queriers) != 1 || r.final.Queriers[0].VLAN != tc.querierVLAN {
			t.Errorf("VLAN filtering %v: queriers %+v, want one in VLAN %d", tc.filtering, r.final.Queriers, tc.querierVLAN)
		}
		if r.final.Summary.Relayed != tc.relayed {
			t.Errorf("VLAN filtering %v: %d reports relayed to the querier's port, want %d", tc.filtering, r.final.Summary.Relayed, tc.relayed)
		}

		// The daemon's way: decode, then hand the engine the message as is.
		e, err := snoop.New(o.EngineConfig(), captureStart)
		if err != nil {
			t.Fatal(err)
		}
		ports := map[string]int{}
		for _, f := range frames {
			m, err := wire.Decode(f.frame)
			if err != nil {
				t.Fatal(err)
			}
			at := captureStart.Add(f.at)
			name := m.SrcMAC.String()
			if ports[name] == 0 {
				ports[name] = len(ports) + 1
				e.PortUp(at, ports[name], name)
			}
			e.HandleMessage(at, ports[name], m, f.frame)
		}
		end := captureStart.Add(frames[len(frames)-1].at)
		daemon := &replayRun{final: Result{Tables: Tables{Groups: e.Groups(end)}}}
		sameList(t, fmt.Sprintf("groups the daemon learns, VLAN filtering %v", tc.filtering), r.groups(), daemon.groups())
	}
}

// TestRunStopsWhenCancelled: a cancelled context stops the replay before
// the next frame, with the summary of what was read.
func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	res, err := Run(ctx, options(filepath.Join(replayTestdata, "IGMP_V2.pcap")), &out)
	if !errors.Is(err, context.Canceled) || res == nil || res.Summary.Frames != 0 || !strings.Contains(out.String(), "stopped early: ") {
		t.Fatalf("cancelled replay: error %v, result %+v, output:\n%s", err, res, out.String())
	}
}
