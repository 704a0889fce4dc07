package snoop

import (
	"slices"
	"testing"
	"time"

	"github.com/igmpsnoop/igmpsnoop/fdb"
	"github.com/igmpsnoop/igmpsnoop/wire"
)

// RFC 3376 §7.3.2 (RFC 3810 §8.3.2): while an IGMPv2 host is present the
// group is any-source: the source lists of TO_EX and IS_EX records mean
// nothing (TO_EX (B) is TO_EX ({})), while ALLOW and IS_IN records are
// processed as ever: in EXCLUDE mode their sources get the membership
// interval (§6.4.2, X+A, (A)=GMI).
func TestOlderHostModeDropsOnlyExcludeSourceLists(t *testing.T) {
	gmi := DefaultConfig().GroupMembershipInterval()
	for _, tc := range []struct {
		name      string
		rec       wire.GroupRecord
		requested []string // the EXCLUDE membership's X set after the record
	}{
		{"IS_EX {1}", rec(wire.ModeIsExclude, addr(1)), nil},
		{"TO_EX {1}", rec(wire.ChangeToExclude, addr(1)), nil},
		{"ALLOW {1}", rec(wire.AllowNewSources, addr(1)), []string{addr(1).String()}},
		{"IS_IN {1}", rec(wire.ModeIsInclude, addr(1)), []string{addr(1).String()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t)
			e.HandleMessage(t0, hostA, report(2, grp), rawFrame)
			acts := e.HandleMessage(t0.Add(time.Second), hostA, v3(tc.rec), rawFrame)
			rows := e.Groups(t0.Add(time.Second))
			if len(rows) != 1 || rows[0].Mode != "exclude" || rows[0].Compat != "v2" || len(rows[0].Excluded) != 0 {
				t.Fatalf("rows %+v, want one any-source EXCLUDE row in v2 mode", rows)
			}
			var got []string
			for _, s := range rows[0].Requested {
				got = append(got, s.Source)
				if s.ExpiresMs != gmi.Milliseconds() {
					t.Fatalf("source %s timer %d ms, want the membership interval", s.Source, s.ExpiresMs)
				}
			}
			if !slices.Equal(got, tc.requested) {
				t.Fatalf("requested sources %v, want %v", got, tc.requested)
			}
			for _, in := range kinds(acts, ActInstall) {
				if in.Mode != fdb.Exclude || len(in.Sources) != 0 {
					t.Fatalf("MDB written %+v, want any-source", in)
				}
			}
		})
	}
}
