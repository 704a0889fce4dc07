package snoop

import (
	"errors"
	"fmt"
	"slices"

	"github.com/igmpsnoop/igmpsnoop/fdb"
)

// CheckInvariants verifies the engine's internal consistency: every
// membership is within the limits, the (S,G) key count matches what is
// installed, timers are scheduled for every membership that can expire,
// and the timer heap is bounded. It is for tests and fuzzing, and for
// the daemon's own consistency report; it does not change anything.
func (e *Engine) CheckInvariants() error {
	var errs []error
	want := make(map[srcKey]int)
	for _, k := range e.table.AllKeys() {
		pg := e.table.Get(k.Key, k.Port)
		if pg.Mode == 0 {
			errs = append(errs, fmt.Errorf("%v on %d: no filter mode", k.Key, k.Port))
		}
		if pg.Since.IsZero() {
			errs = append(errs, fmt.Errorf("%v on %d: no start (uptime)", k.Key, k.Port))
		}
		if !slices.IsSortedFunc(pg.Sources, func(a, b fdb.Source) int { return a.Addr.Compare(b.Addr) }) {
			errs = append(errs, fmt.Errorf("%v on %d: sources not sorted", k.Key, k.Port))
		}
		if max := e.cfg.MaxSources; max > 0 && len(pg.Sources) > max && !pg.Static {
			errs = append(errs, fmt.Errorf("%v on %d: %d sources over the limit %d", k.Key, k.Port, len(pg.Sources), max))
		}
		if max := e.cfg.MaxHosts; max > 0 && len(pg.Hosts) > max {
			errs = append(errs, fmt.Errorf("%v on %d: %d hosts over the limit %d", k.Key, k.Port, len(pg.Hosts), max))
		}
		if !pg.Static && pg.Wake.IsZero() {
			errs = append(errs, fmt.Errorf("%v on %d: no timer set", k.Key, k.Port))
		}
		if pg.Mode == fdb.Include && len(pg.Sources) == 0 { // INCLUDE {} is no membership
			errs = append(errs, fmt.Errorf("%v on %d: INCLUDE with no sources", k.Key, k.Port))
		}
		for _, s := range pg.InstalledSources {
			want[srcKey{k.Key, s}]++
		}
	}
	if len(want) != len(e.srcKeys) {
		errs = append(errs, fmt.Errorf("source key count %d, installed sources say %d", len(e.srcKeys), len(want)))
	}
	for k, n := range want {
		if e.srcKeys[k] != n {
			errs = append(errs, fmt.Errorf("source key %v counted %d, installed %d times", k, e.srcKeys[k], n))
		}
	}
	// maybeCompact's bound, with one item of slack.
	if len(e.timers) > e.timerBound()+1 {
		errs = append(errs, fmt.Errorf("%d timers, bound %d", len(e.timers), e.timerBound()))
	}
	return errors.Join(errs...) // nil without errors
}
