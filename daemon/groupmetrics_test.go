package daemon

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/snoop"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// reportFrom is an IGMPv2 report of group from host, behind ifindex.
func reportFrom(t *testing.T, ifindex int, host, group netip.Addr) []byte {
	t.Helper()
	f, err := wire.EncodeReport(wire.Report{Version: 2, SrcMAC: []byte{2, 0, 0, 3, host.As4()[2], host.As4()[3]}, Src: host, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// groupSeries returns the per-group series of a scrape: name{labels} and
// value, for igmpsnoop_group_members and igmpsnoop_group_hosts.
func groupSeries(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "igmpsnoop_group_members{") || strings.HasPrefix(line, "igmpsnoop_group_hosts{") {
			series, value, _ := strings.Cut(line, " ")
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				v = -1 // unreadable: no count matches it
			}
			out[series] = v
		}
	}
	return out
}

// countsOf derives the per-group series from `show groups` rows: the
// member ports of each group, and the sum over them of their distinct
// reporters.
func countsOf(rows []snoop.GroupView) map[string]float64 {
	reporters := map[string]map[string]map[string]bool{} // labels, port, host
	for _, g := range rows {
		labels := fmt.Sprintf(`bridge=%q,group=%q,vlan="%d"`, g.Bridge, g.Group, g.VLAN)
		if reporters[labels] == nil {
			reporters[labels] = map[string]map[string]bool{}
		}
		if reporters[labels][g.Port] == nil {
			reporters[labels][g.Port] = map[string]bool{}
		}
		for _, r := range g.Reporters {
			reporters[labels][g.Port][r] = true
		}
	}
	out := map[string]float64{}
	for labels, ports := range reporters {
		hosts := 0
		for _, hs := range ports {
			hosts += len(hs)
		}
		out["igmpsnoop_group_members{"+labels+"}"] = float64(len(ports))
		out["igmpsnoop_group_hosts{"+labels+"}"] = float64(hosts)
	}
	return out
}

// With group metrics on, each group has its member ports and tracked
// hosts as metrics, equal to what `show groups` shows; off (the default)
// there are none, and a reload turns them on or off.
func TestGroupMetrics(t *testing.T) {
	set := testSettings(t, nil)
	set.MetricsAddress = freeTCPAddr(t)
	ld := &loader{}
	h := startDaemon(t, newFakeKernel("p1", "p2"), set, ld.load)
	host := func(i byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 77, 3, i}) }
	// grpA: two hosts behind p1, one behind p2; grpB: one behind p2.
	h.feed(10, reportFrom(t, 10, host(1), grpA))
	h.feed(10, reportFrom(t, 10, host(2), grpA))
	h.feed(11, reportFrom(t, 11, host(3), grpA))
	h.feed(11, reportFrom(t, 11, host(3), grpB))
	eventually(t, "the entries", func() bool {
		return h.hasEntry(10, grpA.String()) && h.hasEntry(11, grpA.String()) && h.hasEntry(11, grpB.String())
	})
	eventually(t, "both hosts behind p1 tracked", func() bool {
		rows := h.ask(GroupsRequest{Port: "p1"}).Groups
		return len(rows) == 1 && len(rows[0].Reporters) == 2
	})
	if got := groupSeries(scrape(t, set.MetricsAddress)); len(got) != 0 {
		t.Fatalf("per-group metrics while off: %v", got)
	}

	on := *set
	on.Bridges = []BridgeSettings{set.Bridges[0]}
	on.Bridges[0].GroupMetrics = true
	ld.next(&on, nil)
	h.reload <- syscall.SIGHUP
	var got map[string]float64
	eventually(t, "per-group metrics after the reload", func() bool {
		got = groupSeries(scrape(t, set.MetricsAddress))
		return len(got) > 0
	})
	want := map[string]float64{
		`igmpsnoop_group_members{bridge="br0",group="239.1.1.1",vlan="0"}`: 2,
		`igmpsnoop_group_hosts{bridge="br0",group="239.1.1.1",vlan="0"}`:   3,
		`igmpsnoop_group_members{bridge="br0",group="239.2.2.2",vlan="0"}`: 1,
		`igmpsnoop_group_hosts{bridge="br0",group="239.2.2.2",vlan="0"}`:   1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("per-group metrics %v, want %v", got, want)
	}
	if shown := countsOf(h.ask(GroupsRequest{}).Groups); fmt.Sprint(got) != fmt.Sprint(shown) {
		t.Errorf("per-group metrics %v, but show groups says %v", got, shown)
	}

	ld.next(set, nil)
	h.reload <- syscall.SIGHUP
	eventually(t, "no per-group metrics after the reload", func() bool { return len(groupSeries(scrape(t, set.MetricsAddress))) == 0 })
}

// since_ms, through the control socket: it grows while the membership
// lasts, refreshes keep it, and it is no more than the time since the
// join.
func TestGroupsSinceMs(t *testing.T) {
	h := startDaemon(t, newFakeKernel("p1"), testSettings(t, nil), nil)
	joined := time.Now()
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry", func() bool { return h.hasEntry(10, grpA.String()) })
	since := func() int64 {
		rows := h.ask(GroupsRequest{}).Groups
		if len(rows) != 1 {
			t.Fatalf("groups %+v, want one", rows)
		}
		return rows[0].SinceMs
	}
	first := since()
	time.Sleep(300 * time.Millisecond)
	h.feed(10, report(t, 10, grpA.String(), false)) // a refresh
	time.Sleep(50 * time.Millisecond)
	second, elapsed := since(), time.Since(joined).Milliseconds()
	if second < first+300 || second > elapsed {
		t.Fatalf("since_ms %d then %d, %d ms after the join: want it grown by the 300 ms between, and at most that", first, second, elapsed)
	}
}
