package snoop

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// state describes a port group for the transition tables: X sources with
// their timers, Y excluded sources, and the group timer.
type state struct {
	mode   fdb.FilterMode
	timers map[int]time.Time // source -> timer (zero: excluded, Y)
	group  time.Time
}

func snapshot(e *Engine, pg *fdb.PortGroup) state {
	s := state{mode: pg.Mode, timers: map[int]time.Time{}, group: e.table.TimeAt(pg.GroupExpires)}
	for _, src := range pg.Sources {
		s.timers[int(src.Addr.As4()[3])] = e.table.TimeAt(src.Expires)
	}
	return s
}

// TestRFC3376Transitions checks every row of RFC 3376 §6.4.1 and §6.4.2:
// both filter modes × the six record types. The starting states are
// INCLUDE (A={1,2}) and EXCLUDE (X={1,2}, Y={3,4}), built at t0; the record
// arrives at t1.
func TestRFC3376Transitions(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	lmqt := DefaultConfig().LastMemberQueryTime()
	t1 := t0.Add(10 * time.Second)
	oldGMI, newGMI, newLMQT := t0.Add(gmi), t1.Add(gmi), t1.Add(lmqt)
	tests := []struct {
		name     string
		from     fdb.FilterMode
		rec      wire.GroupRecord
		want     state
		groupQ   bool  // Q(G) sent
		sourcesQ []int // Q(G,S) sent for these sources
	}{
		// INCLUDE (A)
		{"IN/IS_IN(B): INCLUDE(A+B); (B)=GMI", fdb.Include, rec(wire.ModeIsInclude, addrs(2, 3)...),
			state{mode: fdb.Include, timers: map[int]time.Time{1: oldGMI, 2: newGMI, 3: newGMI}}, false, nil},
		{"IN/ALLOW(B): INCLUDE(A+B); (B)=GMI", fdb.Include, rec(wire.AllowNewSources, addrs(2, 3)...),
			state{mode: fdb.Include, timers: map[int]time.Time{1: oldGMI, 2: newGMI, 3: newGMI}}, false, nil},
		{"IN/TO_IN(B): INCLUDE(A+B); (B)=GMI; Q(G,A-B)", fdb.Include, rec(wire.ChangeToInclude, addrs(2, 3)...),
			state{mode: fdb.Include, timers: map[int]time.Time{1: newLMQT, 2: newGMI, 3: newGMI}}, false, []int{1}},
		{"IN/BLOCK(B): INCLUDE(A); Q(G,A*B)", fdb.Include, rec(wire.BlockOldSources, addrs(2, 3)...),
			state{mode: fdb.Include, timers: map[int]time.Time{1: oldGMI, 2: newLMQT}}, false, []int{2}},
		{"IN/IS_EX(B): EXCLUDE(A*B,B-A); (B-A)=0; Delete(A-B); GT=GMI", fdb.Include, rec(wire.ModeIsExclude, addrs(2, 3)...),
			state{mode: fdb.Exclude, timers: map[int]time.Time{2: oldGMI, 3: {}}, group: newGMI}, false, nil},
		{"IN/TO_EX(B): EXCLUDE(A*B,B-A); (B-A)=0; Delete(A-B); Q(G,A*B); GT=GMI", fdb.Include, rec(wire.ChangeToExclude, addrs(2, 3)...),
			state{mode: fdb.Exclude, timers: map[int]time.Time{2: newLMQT, 3: {}}, group: newGMI}, false, []int{2}},
		// EXCLUDE (X, Y)
		{"EX/IS_IN(A): EXCLUDE(X+A,Y-A); (A)=GMI", fdb.Exclude, rec(wire.ModeIsInclude, addrs(2, 3)...),
			state{mode: fdb.Exclude, timers: map[int]time.Time{1: oldGMI, 2: newGMI, 3: newGMI, 4: {}}, group: oldGMI}, false, nil},
		{"EX/ALLOW(A): EXCLUDE(X+A,Y-A); (A)=GMI", fdb.Exclude, rec(wire.AllowNewSources, addrs(2, 3)...),
			state{mode: fdb.Exclude, timers: map[int]time.Time{1: oldGMI, 2: newGMI, 3: newGMI, 4: {}}, group: oldGMI}, false, nil},
		{"EX/TO_IN(A): EXCLUDE(X+A,Y-A); (A)=GMI; Q(G,X-A); Q(G)", fdb.Exclude, rec(wire.ChangeToInclude, addrs(2, 3)...),
			state{mode: fdb.Exclude, timers: map[int]time.Time{1: newLMQT, 2: newGMI, 3: newGMI, 4: {}}, group: newLMQT}, true, []int{1}},
		{"EX/BLOCK(A): EXCLUDE(X+(A-Y),Y); (A-X-Y)=GT; Q(G,A-Y)", fdb.Exclude, rec(wire.BlockOldSources, addrs(2, 3, 5)...),
			state{mode: fdb.Exclude, timers: map[int]time.Time{1: oldGMI, 2: newLMQT, 3: {}, 4: {}, 5: newLMQT}, group: oldGMI}, false, []int{2, 5}},
		{"EX/IS_EX(A): EXCLUDE(A-Y,Y*A); (A-X-Y)=GMI; Delete(X-A),(Y-A); GT=GMI", fdb.Exclude, rec(wire.ModeIsExclude, addrs(2, 3, 5)...),
			state{mode: fdb.Exclude, timers: map[int]time.Time{2: oldGMI, 3: {}, 5: newGMI}, group: newGMI}, false, nil},
		{"EX/TO_EX(A): EXCLUDE(A-Y,Y*A); (A-X-Y)=GT; Delete(X-A),(Y-A); Q(G,A-Y); GT=GMI", fdb.Exclude, rec(wire.ChangeToExclude, addrs(2, 3, 5)...),
			state{mode: fdb.Exclude, timers: map[int]time.Time{2: newLMQT, 3: {}, 5: newLMQT}, group: newGMI}, false, []int{2, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t)
			if tt.from == fdb.Include {
				e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1, 2)...)), rawFrame)
			} else {
				e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude, addrs(3, 4)...)), rawFrame)
				e.HandleMessage(t0, hostA, v3(rec(wire.AllowNewSources, addrs(1, 2)...)), rawFrame)
			}
			acts := e.HandleMessage(t1, hostA, v3(tt.rec), rawFrame)
			pg := e.table.Get(grpKey, hostA)
			if pg == nil {
				t.Fatal("membership gone")
			}
			got := snapshot(e, pg)
			if got.mode != tt.want.mode || !got.group.Equal(tt.want.group) || len(got.timers) != len(tt.want.timers) {
				t.Fatalf("state = %v group %v sources %v\nwant  %v group %v sources %v", got.mode, got.group.Sub(t0), got.timers, tt.want.mode, tt.want.group.Sub(t0), tt.want.timers)
			}
			for s, want := range tt.want.timers {
				if g, ok := got.timers[s]; !ok || !g.Equal(want) {
					t.Fatalf("source %d timer = %v (present %v), want %v", s, g.Sub(t0), ok, want.Sub(t0))
				}
			}
			var groupQ bool
			var srcQ []int
			for _, q := range queries(t, acts) {
				if len(q.Sources) == 0 {
					groupQ = true
				}
				for _, s := range q.Sources {
					srcQ = append(srcQ, int(s.As4()[3]))
				}
				if q.Group != grp || q.Version != 3 {
					t.Fatalf("query %v: want an IGMPv3 query for the group", q)
				}
			}
			slices.Sort(srcQ)
			if groupQ != tt.groupQ || !slices.Equal(srcQ, tt.sourcesQ) {
				t.Fatalf("queries: Q(G)=%v Q(G,S)=%v, want Q(G)=%v Q(G,S)=%v", groupQ, srcQ, tt.groupQ, tt.sourcesQ)
			}
		})
	}
}

// TestRFC3376TimerExpiry checks §6.3 and §6.5: what source and group
// timers do when they run out in each mode.
func TestRFC3376TimerExpiry(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	t.Run("INCLUDE: an expired source stops, the last one ends the group", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsInclude, addrs(1)...)), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Minute), hostA, v3(rec(wire.AllowNewSources, addrs(2)...)), rawFrame)
		if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Mode != fdb.Include || !slices.Equal(in[0].Sources, addrs(1, 2)) {
			t.Fatalf("install after ALLOW = %+v, want INCLUDE {1,2}", in)
		}
		acts = run(e, t0.Add(gmi))
		if in := kinds(acts, ActInstall); len(in) != 1 || !slices.Equal(in[0].Sources, addrs(2)) {
			t.Fatalf("after source 1 expired: installs %+v, want INCLUDE {2}", in)
		}
		acts = run(e, t0.Add(time.Minute+gmi))
		if isMember(e, hostA, grp) || len(kinds(acts, ActRemove)) != 1 {
			t.Fatal("group stayed after its last source expired")
		}
	})
	t.Run("EXCLUDE: an expired requested source becomes excluded", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude)), rawFrame)
		// Source 1 is requested from t0+1m (timer to t0+1m+GMI); the group
		// timer is refreshed later, so it outlives the source.
		e.HandleMessage(t0.Add(time.Minute), hostA, v3(rec(wire.AllowNewSources, addrs(1)...)), rawFrame)
		e.HandleMessage(t0.Add(2*time.Minute), hostA, v3(rec(wire.ModeIsExclude, addrs(1)...)), rawFrame)
		acts := run(e, t0.Add(time.Minute+gmi))
		pg := e.table.Get(grpKey, hostA)
		if pg == nil || pg.Mode != fdb.Exclude {
			t.Fatalf("group = %+v", pg)
		}
		if i, ok := pg.Source(addr(1)); !ok || !pg.Sources[i].Expires.IsZero() {
			t.Fatalf("source 1 = %+v, want excluded once its timer ran out", pg.Sources)
		}
		if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Mode != fdb.Exclude || !slices.Equal(in[0].Sources, addrs(1)) {
			t.Fatalf("MDB = %+v, want EXCLUDE {1}", in)
		}
	})
	t.Run("EXCLUDE: group timer out with requested sources switches to INCLUDE", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude, addrs(3)...)), rawFrame)
		e.HandleMessage(t0.Add(time.Minute), hostA, v3(rec(wire.AllowNewSources, addrs(1)...)), rawFrame)
		acts := run(e, t0.Add(gmi))
		pg := e.table.Get(grpKey, hostA)
		if pg == nil || pg.Mode != fdb.Include || len(pg.Sources) != 1 || pg.Sources[0].Addr != addr(1) {
			t.Fatalf("after the group timer: %+v, want INCLUDE {1}", pg)
		}
		if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Mode != fdb.Include || !slices.Equal(in[0].Sources, addrs(1)) {
			t.Fatalf("MDB after the switch = %+v, want INCLUDE {1}", in)
		}
	})
	t.Run("EXCLUDE: group timer out without requested sources ends the group", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude, addrs(3)...)), rawFrame)
		run(e, t0.Add(gmi))
		if isMember(e, hostA, grp) {
			t.Fatal("EXCLUDE group with only excluded sources outlived its group timer")
		}
	})
	t.Run("EXCLUDE: requested source timer out moves it to the exclude list", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, v3(rec(wire.ModeIsExclude)), rawFrame)
		e.HandleMessage(t0.Add(time.Second), hostA, v3(rec(wire.AllowNewSources, addrs(1)...)), rawFrame)
		e.HandleMessage(t0.Add(2*time.Minute), hostA, v3(rec(wire.ModeIsExclude)), rawFrame) // group timer on, 1 deleted (X-A)
		e.HandleMessage(t0.Add(2*time.Minute), hostA, v3(rec(wire.BlockOldSources, addrs(1)...)), rawFrame)
		// BLOCK gives 1 the group timer and queries it: unanswered, it is
		// excluded after the last member query time while the group lives.
		acts := run(e, t0.Add(2*time.Minute+5*time.Second))
		pg := e.table.Get(grpKey, hostA)
		if pg == nil || pg.Mode != fdb.Exclude {
			t.Fatalf("group = %+v", pg)
		}
		if i, ok := pg.Source(addr(1)); !ok || !pg.Sources[i].Expires.IsZero() {
			t.Fatalf("source 1 = %+v, want excluded", pg.Sources)
		}
		if in := kinds(acts, ActInstall); len(in) != 1 || in[0].Mode != fdb.Exclude || !slices.Equal(in[0].Sources, addrs(1)) {
			t.Fatalf("MDB = %+v, want EXCLUDE {1}", in)
		}
	})
}

// TestRFC3376Compatibility checks the older-host compatibility modes of
// §7.3.2 (and RFC 3810 §8.3.2 for MLDv1 hosts).
func TestRFC3376Compatibility(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	t.Run("v1 host: v2 leave ignored", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, report(1, grp), rawFrame)
		e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Second), hostA, leave(grp), rawFrame)
		if len(queries(t, acts)) != 0 || !isMember(e, hostA, grp) || e.Stats().Ignored["compat_mode"] != 1 {
			t.Fatalf("a leave with an IGMPv1 host present was acted on: %+v", acts)
		}
		if g := e.Groups(t0); g[0].Compat != "v1" {
			t.Fatalf("compat = %s, want v1", g[0].Compat)
		}
	})
	t.Run("v1 host: v3 TO_IN ignored", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, report(1, grp), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Second), hostA, v3(rec(wire.ChangeToInclude)), rawFrame)
		if len(queries(t, acts)) != 0 || e.table.Get(grpKey, hostA).Mode != fdb.Exclude {
			t.Fatal("TO_IN{} with an IGMPv1 host present was acted on")
		}
	})
	t.Run("v2 host: BLOCK ignored", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Second), hostA, v3(rec(wire.BlockOldSources, addrs(1)...)), rawFrame)
		if len(queries(t, acts)) != 0 || len(e.table.Get(grpKey, hostA).Sources) != 0 {
			t.Fatal("BLOCK with an IGMPv2 host present was acted on")
		}
	})
	t.Run("v2 host: TO_EX source list ignored", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
		acts := e.HandleMessage(t0.Add(time.Second), hostA, v3(rec(wire.ChangeToExclude, addrs(1)...)), rawFrame)
		if pg := e.table.Get(grpKey, hostA); len(pg.Sources) != 0 {
			t.Fatalf("TO_EX({1}) with an IGMPv2 host present excluded sources: %+v", pg.Sources)
		}
		if in := kinds(acts, ActInstall); len(in) > 0 && len(in[0].Sources) != 0 {
			t.Fatalf("MDB got an exclude list: %+v", in)
		}
	})
	t.Run("v2 host: leave still queried", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
		if len(queries(t, e.HandleMessage(t0.Add(time.Second), hostA, leave(grp), rawFrame))) != 1 {
			t.Fatal("an IGMPv2 leave in v2 mode was not queried")
		}
	})
	t.Run("older host present interval ends the mode", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
		later := t0.Add(gmi + time.Second)
		e.HandleMessage(t0.Add(gmi-time.Second), hostA, v3(rec(wire.ModeIsExclude)), rawFrame)
		acts := e.HandleMessage(later, hostA, v3(rec(wire.BlockOldSources, addrs(1)...)), rawFrame)
		if len(queries(t, acts)) != 1 {
			t.Fatal("BLOCK ignored after the older host present interval")
		}
		if g := e.Groups(later); g[0].Compat != "v3" {
			t.Fatalf("compat = %s, want v3", g[0].Compat)
		}
	})
	t.Run("MLDv1 host: MLDv2 BLOCK ignored", func(t *testing.T) {
		e := newEngine(t)
		e.HandleMessage(t0, hostA, mldMsg(wire.KindReport, 1, host6, grp6), rawFrame)
		r := wire.GroupRecord{Type: wire.BlockOldSources, Group: grp6, Sources: []netip.Addr{netip.MustParseAddr("2001:db8::1")}}
		acts := e.HandleMessage(t0.Add(time.Second), hostA, mldMsg(wire.KindReportV3, 2, host6, netip.Addr{}, r), rawFrame)
		if len(queries(t, acts)) != 0 || e.Stats().Ignored["compat_mode"] != 1 {
			t.Fatal("MLDv2 BLOCK with an MLDv1 host present was acted on")
		}
		if g := e.Groups(t0); g[0].Compat != "v1" || g[0].Version != 1 {
			t.Fatalf("MLD group view = %+v, want compat v1, version 1", g[0])
		}
	})
}
