package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/snoop"
)

var (
	grpA = netip.MustParseAddr("239.1.1.1")
	grpB = netip.MustParseAddr("239.2.2.2")
	grpC = netip.MustParseAddr("239.3.3.3")
	src1 = netip.MustParseAddr("10.0.0.1")
)

// reconcile sorts the dump against the table: ours the table lacks
// (extra), the kernel's own (kernel-learned), ours installed otherwise
// (different, only when the kernel holds source lists), and memberships
// without an entry (missing). Host joins, (S,G) entries, ports not
// snooped and other programs' entries are nobody's to judge.
func TestReconcile(t *testing.T) {
	const br, proto = 1, 77
	pg := func(port int, g netip.Addr, mode fdb.FilterMode, srcs ...netip.Addr) fdb.PortGroup {
		return fdb.PortGroup{Port: port, Key: fdb.Key{Group: g}, InstalledMode: mode, InstalledSources: srcs}
	}
	e := func(port int, g netip.Addr, p uint8) bridge.Entry {
		return bridge.Entry{Bridge: br, Port: port, Group: g, Proto: p}
	}
	include := e(10, grpA, proto)
	include.Mode, include.Sources = bridge.ModeInclude, []netip.Addr{src1}
	sg := e(10, grpC, proto)
	sg.Source = src1
	tests := []struct {
		name        string
		dump        []bridge.Entry
		table       []fdb.PortGroup
		sourceLists bool
		want        mdbDiff
	}{
		{name: "equal", dump: []bridge.Entry{e(10, grpA, proto)}, table: []fdb.PortGroup{pg(10, grpA, fdb.Exclude)},
			want: mdbDiff{entries: 1}},
		{name: "missing", table: []fdb.PortGroup{pg(10, grpA, fdb.Exclude)},
			want: mdbDiff{missing: []fdb.PortGroup{pg(10, grpA, fdb.Exclude)}}},
		{name: "ours, not in the table", dump: []bridge.Entry{e(11, grpB, proto)},
			want: mdbDiff{entries: 1, ours: []bridge.Entry{e(11, grpB, proto)}}},
		{name: "kernel-learned", dump: []bridge.Entry{e(11, grpB, bridge.ProtoKernel)},
			want: mdbDiff{entries: 1, kernel: []bridge.Entry{e(11, grpB, bridge.ProtoKernel)}}},
		{name: "another program's", dump: []bridge.Entry{e(11, grpB, 4)}, want: mdbDiff{entries: 1}},
		{name: "host join, (S,G), port not snooped", dump: []bridge.Entry{e(br, grpB, bridge.ProtoKernel), sg, e(99, grpB, bridge.ProtoKernel)}},
		{name: "same port, other VLAN, is missing", dump: []bridge.Entry{{Bridge: br, Port: 10, Group: grpA, VID: 5, Proto: proto}},
			table: []fdb.PortGroup{pg(10, grpA, fdb.Exclude)},
			want: mdbDiff{entries: 1, ours: []bridge.Entry{{Bridge: br, Port: 10, Group: grpA, VID: 5, Proto: proto}},
				missing: []fdb.PortGroup{pg(10, grpA, fdb.Exclude)}}},
		{name: "different mode, source lists on", dump: []bridge.Entry{include}, table: []fdb.PortGroup{pg(10, grpA, fdb.Exclude)},
			sourceLists: true, want: mdbDiff{entries: 1, differ: []fdb.PortGroup{pg(10, grpA, fdb.Exclude)}}},
		{name: "different sources, source lists on", dump: []bridge.Entry{include},
			table: []fdb.PortGroup{pg(10, grpA, fdb.Include, netip.MustParseAddr("10.0.0.2"))}, sourceLists: true,
			want: mdbDiff{entries: 1, differ: []fdb.PortGroup{pg(10, grpA, fdb.Include, netip.MustParseAddr("10.0.0.2"))}}},
		{name: "same mode and sources", dump: []bridge.Entry{include}, table: []fdb.PortGroup{pg(10, grpA, fdb.Include, src1)},
			sourceLists: true, want: mdbDiff{entries: 1}},
		{name: "different mode, no source lists: any-source", dump: []bridge.Entry{include},
			table: []fdb.PortGroup{pg(10, grpA, fdb.Exclude)}, want: mdbDiff{entries: 1}},
	}
	snooped := func(port int) bool { return port == 10 || port == 11 }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reconcile(tt.dump, tt.table, br, proto, snooped, tt.sourceLists)
			if got.entries != tt.want.entries || !slices.EqualFunc(got.ours, tt.want.ours, sameEntry) ||
				!slices.EqualFunc(got.kernel, tt.want.kernel, sameEntry) || !samePGs(got.differ, tt.want.differ) ||
				!samePGs(got.missing, tt.want.missing) {
				t.Errorf("reconcile = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func samePGs(a, b []fdb.PortGroup) bool {
	return slices.EqualFunc(a, b, func(x, y fdb.PortGroup) bool { return x.Port == y.Port && x.Key == y.Key })
}

// At start the daemon adopts the entries an earlier run left (they show
// in `show groups`), removes those the kernel learned on its ports before
// the guards were up, and leaves host joins and other programs' entries
// alone.
func TestAdoptionAtStart(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	ours := bridge.Entry{Bridge: 1, Port: 10, Group: grpA, Proto: 77, Timer: 100 * time.Second}
	learned := bridge.Entry{Bridge: 1, Port: 11, Group: grpB, Proto: bridge.ProtoKernel}
	hostJoin := bridge.Entry{Bridge: 1, Port: 1, Group: grpC, Proto: bridge.ProtoKernel}
	others := bridge.Entry{Bridge: 1, Port: 10, Group: grpC, Proto: 4}
	for _, e := range []bridge.Entry{ours, learned, hostJoin, others} {
		k.locked(func() { k.mdb = append(k.mdb, e) })
	}
	h := startDaemon(t, k, testSettings(t, nil), nil)
	gs := h.ask(GroupsRequest{}).Groups
	if len(gs) != 1 || gs[0].Port != "p1" || gs[0].Group != grpA.String() {
		t.Errorf("show groups = %+v, want the adopted 239.1.1.1 on p1", gs)
	}
	has := func(want bridge.Entry) bool {
		return slices.ContainsFunc(k.entries(), func(e bridge.Entry) bool { return sameEntry(e, want) && e.Proto == want.Proto })
	}
	if !has(ours) {
		t.Error("our entry from an earlier run is gone")
	}
	if has(learned) {
		t.Error("the entry the kernel learned on p2 is still there")
	}
	if !has(hostJoin) || !has(others) {
		t.Errorf("the host join or the proto 4 entry was touched: MDB = %v", k.entries())
	}
}

// `igmpsnoop check` compares the MDB with the table and repairs it:
// entries dropped behind the daemon's back are missing and reinstalled,
// an entry of ours the table lacks is extra and removed, a kernel-learned
// one removed, and one installed with another mode (source lists on) is
// different and rewritten. `show stats` has the latest result.
func TestCheckRepairsMDB(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	h := startDaemon(t, k, testSettings(t, nil), nil)
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry", func() bool { return h.hasEntry(10, grpA.String()) })
	check := func() snoop.MDBCheck {
		t.Helper()
		r := h.ask(CheckRequest{})
		if r.Error != "" || len(r.Checks) != 1 {
			t.Fatalf("check = %+v, want one bridge's result", r)
		}
		return r.Checks[0]
	}
	if c := check(); !c.Consistent() || c.Entries != 1 || c.Bridge != "br0" {
		t.Errorf("check with the MDB as installed = %+v, want consistent, one entry, bridge br0", c)
	}

	k.locked(func() { k.mdb = nil })
	if c := check(); c.Missing != 1 || c.Repaired != 1 {
		t.Errorf("check after the MDB lost our entry = %+v, want 1 missing, 1 repaired", c)
	}
	if !h.hasEntry(10, grpA.String()) {
		t.Error("the missing entry was not reinstalled")
	}

	k.locked(func() { k.mdb = append(k.mdb, bridge.Entry{Bridge: 1, Port: 11, Group: grpB, Proto: 77}) })
	k.locked(func() {
		k.mdb = append(k.mdb, bridge.Entry{Bridge: 1, Port: 11, Group: grpC, Proto: bridge.ProtoKernel})
	})
	if c := check(); c.Extra != 1 || c.Kernel != 1 || c.Repaired != 2 || c.Missing != 0 {
		t.Errorf("check with an extra entry and a kernel-learned one = %+v, want 1 extra, 1 kernel, 2 repaired", c)
	}
	for _, e := range k.entries() {
		if e.Port == 11 {
			t.Errorf("entry %v left on p2", e)
		}
	}

	k.locked(func() {
		es := k.mdb
		for i := range es {
			es[i].Mode, es[i].Sources = bridge.ModeInclude, []netip.Addr{src1}
		}
	})
	if c := check(); c.Different != 1 || c.Repaired != 1 {
		t.Errorf("check with our entry in another mode = %+v, want 1 different, 1 repaired", c)
	}
	for _, e := range k.entries() {
		if e.Mode != bridge.ModeExclude || len(e.Sources) != 0 {
			t.Errorf("entry %v not rewritten as installed (exclude, no sources)", e)
		}
	}
	st := h.ask(StatsRequest{}).Stats
	if len(st) != 1 || st[0].MDBCheck == nil || st[0].MDBCheck.Different != 1 {
		t.Errorf("show stats = %+v, want the last check (1 different)", st)
	}
	if c := check(); !c.Consistent() {
		t.Errorf("check after the repairs = %+v, want consistent", c)
	}
}

// An install the kernel refuses is counted (show stats, metrics) and
// retried by the next report, even within the MDB refresh interval. A
// refused remove is counted, but removing an entry already gone is not
// an error.
func TestFailedInstallsCountedAndRetried(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	var refuseInstalls, refuseRemoves atomic.Bool
	refuseInstalls.Store(true)
	k.refuse = func(op MDBOp) error {
		if !op.Remove && refuseInstalls.Load() || op.Remove && refuseRemoves.Load() {
			return errors.New("refused by the fake")
		}
		return nil
	}
	set := testSettings(t, map[string]snoop.PortPolicy{"p1": {FastLeave: true}})
	set.MetricsAddress = freeTCPAddr(t)
	h := startDaemon(t, k, set, nil)
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the install failure counted", func() bool {
		st := h.ask(StatsRequest{}).Stats
		return len(st) == 1 && st[0].InstallFailed == 1
	})
	if h.hasEntry(10, grpA.String()) {
		t.Fatal("the refused entry is in the MDB")
	}
	m := scrape(t, set.MetricsAddress)
	if v, _ := metricValue(m, `igmpsnoop_mdb_errors_total{bridge="br0",op="install"}`); v != 1 {
		t.Errorf("install errors metric = %v, want 1", v)
	}
	refuseInstalls.Store(false)
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry installed by the next report", func() bool { return h.hasEntry(10, grpA.String()) })

	// Gone behind our back: the leave's remove finds nothing.
	k.locked(func() { k.mdb = nil })
	h.feed(10, report(t, 10, grpA.String(), true))
	eventually(t, "the leave", func() bool { return len(h.ask(GroupsRequest{}).Groups) == 0 })
	// A remove the kernel refuses.
	h.feed(10, report(t, 10, grpB.String(), false))
	eventually(t, "the entry of 239.2.2.2", func() bool { return h.hasEntry(10, grpB.String()) })
	refuseRemoves.Store(true)
	h.feed(10, report(t, 10, grpB.String(), true))
	eventually(t, "the second leave", func() bool { return len(h.ask(GroupsRequest{}).Groups) == 0 })
	eventually(t, "the refused remove counted", func() bool {
		v, _ := metricValue(scrape(t, set.MetricsAddress), `igmpsnoop_mdb_errors_total{bridge="br0",op="remove"}`)
		return v >= 1
	})
	// A check waits for every write's result, and removes the entry left.
	refuseRemoves.Store(false)
	if c := h.ask(CheckRequest{}).Checks; len(c) != 1 || c[0].Extra != 1 {
		t.Errorf("check = %+v, want the entry whose remove was refused as extra", c)
	}
	m = scrape(t, set.MetricsAddress)
	if v, _ := metricValue(m, `igmpsnoop_mdb_errors_total{bridge="br0",op="remove"}`); v != 1 {
		t.Errorf("remove errors metric = %v, want 1: the refused remove, not the one of an entry already gone", v)
	}
	if v, _ := metricValue(m, `igmpsnoop_mdb_operations_total{bridge="br0",op="remove"}`); v != 2 {
		t.Errorf("removes metric = %v, want the 2 leaves", v)
	}
	if v, _ := metricValue(m, `igmpsnoop_mdb_operations_total{bridge="br0",op="install"}`); v != 3 {
		t.Errorf("installs metric = %v, want 3", v)
	}
}
