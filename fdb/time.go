package fdb

import (
	"math"
	"time"
)

// Time is an instant held in the table: 8 bytes where a time.Time takes
// 24, which matters with a dozen per membership and 100 000 memberships.
// The zero Time is unset and comes before every other, as time.Time's zero
// value does. Times compare as integers, with < and ==, and only with
// Times of the same Clock: the table's (Table.TimeOf, Table.TimeAt).
type Time int64

// IsZero reports whether t is unset.
func (t Time) IsZero() bool { return t == 0 }

// Clock converts between time.Time and Time. A Time counts nanoseconds
// from the clock's origin: by the monotonic clock when the time.Time it is
// made from has a monotonic reading (times from time.Now() do), so a step
// of the wall clock moves no timer; times without one (time.Date, as in
// tests) count by the wall clock. It covers about 146 years either side
// of the origin; instants further away are clamped (as for a static
// membership's "forever").
//
// The origin is the caller's, so that the package holds no clock of its
// own. It should come from time.Now(): an origin without a monotonic
// reading would make every Time count by the wall clock.
type Clock struct {
	origin time.Time
	// The origin's wall clock reading, for the wall clock path.
	originSec, originNsec int64
}

// timeBias keeps every set Time above the zero Time: a Time is its
// offset from the origin plus timeBias, so offsets short of timeBias
// either way (about 146 years) are kept, and further ones are clamped.
const timeBias = 1 << 62

// wallReach bounds the wall clock path's count of seconds, so that it
// cannot overflow in nanoseconds: about 272 years, beyond timeBias.
const wallReach = 1 << 33

// NewClock returns a Clock whose Times count from origin.
func NewClock(origin time.Time) Clock {
	return Clock{origin: origin, originSec: origin.Unix(), originNsec: int64(origin.Nanosecond())}
}

// TimeOf returns t as a Time; the zero time.Time gives the zero Time.
func (c Clock) TimeOf(t time.Time) Time {
	if t.IsZero() {
		return 0
	}
	var d int64
	if t.Round(0) != t {
		// A monotonic reading (Round(0) strips it): by that clock.
		d = int64(t.Sub(c.origin))
	} else {
		// By the wall clock, as t.Sub(c.origin) would count, without its
		// costly overflow check.
		sec := min(max(t.Unix()-c.originSec, -wallReach), wallReach)
		d = sec*int64(time.Second) + int64(t.Nanosecond()) - c.originNsec
	}
	if d >= timeBias {
		return math.MaxInt64
	}
	if d <= -timeBias {
		return 1
	}
	return Time(d + timeBias)
}

// TimeAt returns t as a time.Time (the zero time.Time for the zero Time).
// It carries the origin's monotonic reading, if any.
func (c Clock) TimeAt(t Time) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return c.origin.Add(time.Duration(t - timeBias))
}
