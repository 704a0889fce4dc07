package fdb

import (
	"math"
	"time"
)

// Time is an instant held in the table: 8 bytes where a time.Time takes
// 24, which matters with a dozen per membership and 100 000 memberships.
// The zero Time is unset and comes before every other, as time.Time's zero
// value does.
//
// It counts nanoseconds from a base taken when the program starts, by the
// monotonic clock when the time.Time it is made from has a monotonic
// reading (times from time.Now() do), so a step of the wall clock moves no
// timer; times without one (time.Date, as in tests) count by the wall
// clock. It covers about 146 years either side of the base; instants
// further away are clamped (as for a static membership's "forever").
type Time int64

// timeBase is the instant Time counts from, read from both clocks;
// timeBias keeps every set Time above the zero Time.
var (
	timeBase     = time.Now()
	timeBaseSec  = timeBase.Unix()
	timeBaseNsec = int64(timeBase.Nanosecond())
)

const (
	timeBias  = 1 << 62
	maxOffset = math.MaxInt64 - timeBias // about 146 years
	minOffset = 1 - timeBias
)

// TimeOf returns t as a Time; the zero time.Time gives the zero Time.
func TimeOf(t time.Time) Time {
	if t.IsZero() {
		return 0
	}
	var d int64
	if t.Round(0) != t {
		// A monotonic reading (Round(0) strips it): by that clock.
		d = int64(t.Sub(timeBase))
	} else {
		// By the wall clock, as t.Sub(timeBase) would count, without its
		// costly overflow check.
		sec := t.Unix() - timeBaseSec
		if sec > maxOffset/int64(time.Second) {
			return math.MaxInt64
		}
		if sec < minOffset/int64(time.Second) {
			return 1
		}
		d = sec*int64(time.Second) + int64(t.Nanosecond()) - timeBaseNsec
	}
	switch {
	case d > maxOffset:
		return math.MaxInt64
	case d < minOffset:
		return 1
	}
	return Time(d + timeBias)
}

// Time returns t as a time.Time (the zero time.Time for the zero Time).
func (t Time) Time() time.Time {
	if t == 0 {
		return time.Time{}
	}
	return timeBase.Add(time.Duration(t - timeBias))
}

// IsZero reports whether t is unset.
func (t Time) IsZero() bool { return t == 0 }

// After reports whether t is after u, as time.Time.After would for t.Time().
func (t Time) After(u time.Time) bool { return t > TimeOf(u) }

// Before reports whether t is before u.
func (t Time) Before(u time.Time) bool { return t < TimeOf(u) }

// Equal reports whether t is the instant u.
func (t Time) Equal(u time.Time) bool { return t == TimeOf(u) }

// String formats t as its time.Time does.
func (t Time) String() string { return t.Time().String() }
