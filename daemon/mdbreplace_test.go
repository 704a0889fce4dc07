package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/igmpsnoop/igmpsnoop/bridge"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

func TestParseMDBReplace(t *testing.T) {
	for _, m := range []MDBReplace{MDBReplaceAuto, MDBReplaceOn, MDBReplaceOff} {
		if got, err := ParseMDBReplace(m.String()); err != nil || got != m {
			t.Errorf("ParseMDBReplace(%q) = %v, %v", m, got, err)
		}
	}
	for _, s := range []string{"", "yes", "Off", "true"} {
		if _, err := ParseMDBReplace(s); err == nil {
			t.Errorf("ParseMDBReplace(%q): no error", s)
		}
	}
	if s := MDBReplace(9).String(); s != "mdb-replace(9)" {
		t.Errorf("String = %q", s)
	}
}

// The mode in force: auto follows the kernel's probe, off never replaces,
// on refuses a kernel without. Without replace the entries say proto
// static; with it, ours.
func TestMDBReplaceModes(t *testing.T) {
	tests := []struct {
		name      string
		oldKernel bool
		mode      MDBReplace
		startErr  string
		proto     uint8
	}{
		{name: "auto, 6.2+", mode: MDBReplaceAuto, proto: 77},
		{name: "auto, older kernel", oldKernel: true, mode: MDBReplaceAuto, proto: bridge.ProtoStatic},
		{name: "off, 6.2+", mode: MDBReplaceOff, proto: bridge.ProtoStatic},
		{name: "off, older kernel", oldKernel: true, mode: MDBReplaceOff, proto: bridge.ProtoStatic},
		{name: "on, 6.2+", mode: MDBReplaceOn, proto: 77},
		{name: "on, older kernel", oldKernel: true, mode: MDBReplaceOn, startErr: "takes no NLM_F_REPLACE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKernel("p1")
			k.noReplace = tt.oldKernel
			set := testSettings(t, nil)
			set.MDBReplace = tt.mode
			if tt.startErr != "" {
				err := Run(t.Context(), Options{Kernel: k, Log: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), Settings: set})
				if err == nil || !strings.Contains(err.Error(), tt.startErr) {
					t.Fatalf("Run = %v, want %q", err, tt.startErr)
				}
				return
			}
			h := startDaemon(t, k, set, nil)
			h.feed(10, report(t, 10, grpA.String(), false))
			eventually(t, "the entry", func() bool {
				return slices.ContainsFunc(k.entries(), func(e bridge.Entry) bool { return e.Port == 10 && e.Group == grpA && e.Proto == tt.proto })
			})
		})
	}
}

// Without NLM_F_REPLACE a refresh is the entry's removal and its add in
// one write: the kernel keeps the entry (no EEXIST, no install error) and
// restarts its timer. A new entry goes the same way, its removal finding
// nothing.
func TestRefreshWithoutReplace(t *testing.T) {
	k := newFakeKernel("p1")
	k.noReplace = true
	k.writes = [][]MDBOp{}
	h := startDaemon(t, k, testSettings(t, nil), nil)
	entry := bridge.Entry{Bridge: 1, Port: 10, Group: grpA}
	pairs := func() int {
		var n int
		k.locked(func() {
			for _, w := range k.writes {
				for i := 1; i < len(w); i++ {
					if w[i-1].Remove && !w[i].Remove && sameEntry(w[i-1].Entry, entry) && sameEntry(w[i].Entry, entry) {
						n++
					}
				}
			}
		})
		return n
	}
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the entry, written as a pair", func() bool { return pairs() == 1 && len(k.entries()) == 1 })
	// The MDB refresh interval is 1s: a report after it rewrites.
	time.Sleep(1100 * time.Millisecond)
	h.feed(10, report(t, 10, grpA.String(), false))
	eventually(t, "the refresh, written as a pair", func() bool { return pairs() == 2 })
	if es := k.entries(); len(es) != 1 || es[0].Proto != bridge.ProtoStatic {
		t.Errorf("MDB after the refresh = %v, want our one entry, proto static", es)
	}
	if st := h.ask(StatsRequest{}).Stats[0]; st.InstallFailed != 0 {
		t.Errorf("%d installs failed, want none", st.InstallFailed)
	}
	// A leave removes it, once.
	h.feed(10, report(t, 10, grpA.String(), true))
	eventually(t, "the entry gone after the leave", func() bool { return len(k.entries()) == 0 })
}

// refreshingMDB's results: one per op, the add's for an install; a
// removal that found nothing is no error, one that failed otherwise is
// joined to a failed add.
func TestRefreshingMDBResults(t *testing.T) {
	e1 := bridge.Entry{Bridge: 1, Port: 10, Group: grpA}
	e2 := bridge.Entry{Bridge: 1, Port: 10, Group: grpB}
	busy := errors.New("busy")
	k := newFakeKernel()
	k.mdb = []bridge.Entry{e2}
	k.refuse = func(op MDBOp) error {
		if op.Entry.Group == grpB && op.Remove {
			return busy // so the add meets the entry: EEXIST
		}
		return nil
	}
	m := refreshingMDB{fakeMDB{k, false}}
	errs := m.Write([]MDBOp{{Entry: e1}, {Entry: e2}, removeOp(e1), removeOp(e1)})
	if len(errs) != 4 || errs[0] != nil || errs[2] != nil {
		t.Fatalf("results = %v, want 4, the first add and the removal fine", errs)
	}
	if !errors.Is(errs[1], bridge.ErrExists) || !errors.Is(errs[1], syscall.EEXIST) || !errors.Is(errs[1], busy) {
		t.Errorf("add after a failed removal = %v, want EEXIST joined with the removal's error", errs[1])
	}
	if !errors.Is(errs[3], bridge.ErrNotFound) {
		t.Errorf("second removal = %v, want ErrNotFound", errs[3])
	}
}

// Adoption and the check without proto: a temporary proto-static entry on
// a snooped port is adopted (ours from an earlier run, or an operator's,
// which would age out at the same time); a permanent one is an operator's
// and left; the kernel's are removed. The check leaves proto-static
// entries the table lacks to age out instead of removing them.
func TestAdoptionWithoutProto(t *testing.T) {
	k := newFakeKernel("p1", "p2")
	k.noReplace = true
	temp := bridge.Entry{Bridge: 1, Port: 10, Group: grpA, Proto: bridge.ProtoStatic, Timer: 3 * time.Second}
	operator := bridge.Entry{Bridge: 1, Port: 11, Group: grpB, Proto: bridge.ProtoStatic, Permanent: true}
	learned := bridge.Entry{Bridge: 1, Port: 11, Group: grpC, Proto: bridge.ProtoKernel}
	k.mdb = []bridge.Entry{temp, operator, learned}
	h := startDaemon(t, k, testSettings(t, nil), nil)
	gs := h.ask(GroupsRequest{}).Groups
	if len(gs) != 1 || gs[0].Port != "p1" || gs[0].Group != grpA.String() {
		t.Errorf("show groups = %+v, want the adopted 239.1.1.1 on p1", gs)
	}
	has := func(want bridge.Entry) bool {
		return slices.ContainsFunc(k.entries(), func(e bridge.Entry) bool { return sameEntry(e, want) })
	}
	if !has(temp) || !has(operator) || has(learned) {
		t.Errorf("MDB after adoption = %v, want the temporary and the permanent entry, not the kernel's", k.entries())
	}
	stray := bridge.Entry{Bridge: 1, Port: 11, Group: grpA, Proto: bridge.ProtoStatic}
	k.locked(func() { k.mdb = append(k.mdb, stray) })
	r := h.ask(CheckRequest{})
	if c := r.Checks[0]; !c.Consistent() || c.Repaired != 0 {
		t.Errorf("check = %+v, want consistent: proto-static entries the table lacks are not ours to remove", c)
	}
	if !has(stray) || !has(operator) {
		t.Errorf("the check removed a proto-static entry: MDB = %v", k.entries())
	}
	// The adopted entry ages out (its kernel timer, 3s) and goes.
	eventuallyWithin(t, 6*time.Second, "the adopted entry aged out", func() bool { return !has(temp) })
}

// mdb_replace cannot change on reload: the writer's mode is fixed.
func TestMDBReplaceFixedOnReload(t *testing.T) {
	k := newFakeKernel("p1")
	set := testSettings(t, nil)
	next := *set
	next.MDBReplace = MDBReplaceOff
	h := startDaemon(t, k, set, func() (*Settings, error) { return &next, nil })
	if r := h.ask(ReloadRequest{}); !strings.Contains(r.Error, "mdb_replace cannot change on reload") {
		t.Errorf("reload = %+v, want refused", r)
	}
}

// On a kernel before 6.2 (no source lists, no replace) a source-specific
// join is installed as an any-source entry, a superset, written and
// refreshed like any other; with source lists it carries its source.
func TestSourceListFallbackOnOldKernel(t *testing.T) {
	for _, old := range []bool{true, false} {
		k := newFakeKernel("p1")
		k.noReplace, k.sourceLists = old, !old
		h := startDaemon(t, k, testSettings(t, nil), nil)
		f, err := wire.EncodeReport(wire.Report{Version: 3, SrcMAC: hostMAC(10), Src: netip.MustParseAddr("10.77.0.10"),
			Records: []wire.GroupRecord{{Type: wire.ModeIsInclude, Group: grpA, Sources: []netip.Addr{src1}}}})
		if err != nil {
			t.Fatal(err)
		}
		h.feed(10, f)
		eventually(t, "the entry", func() bool { return len(k.entries()) == 1 })
		e := k.entries()[0]
		switch {
		case old && (e.Mode != bridge.ModeExclude || len(e.Sources) != 0 || e.Proto != bridge.ProtoStatic):
			t.Errorf("old kernel: entry %v, want any-source, proto static", e)
		case !old && (e.Mode != bridge.ModeInclude || !slices.Equal(e.Sources, []netip.Addr{src1}) || e.Proto != 77):
			t.Errorf("6.2+: entry %v, want INCLUDE {%v}, proto 77", e, src1)
		}
		if g := h.ask(GroupsRequest{}).Groups; len(g) != 1 || g[0].Source != src1.String() {
			t.Errorf("show groups = %+v, want the (S,G) membership either way", g)
		}
		h.stop()
	}
}
