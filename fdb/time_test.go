package fdb

import (
	"math"
	"testing"
	"time"
)

// TestTime: a Time keeps the instant and the order of the time.Time it is
// made from, to the nanosecond, by either clock; the zero Time is unset
// and first; instants too far away are clamped.
func TestTime(t *testing.T) {
	now := time.Now()
	wall := now.Round(0) // no monotonic reading
	// In order. Readings of different clocks are only compared far apart:
	// the wall clock may be slewed against the monotonic one.
	times := []time.Time{
		time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), // clamped to the earliest
		time.Date(1999, 1, 1, 0, 0, 0, 7, time.UTC),
		now.Add(-5 * time.Second), wall, wall.Add(3 * time.Nanosecond), now.Add(time.Hour), wall.Add(2 * time.Hour),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), // clamped: a static membership's "forever"
	}
	if TimeOf(time.Time{}) != 0 || !Time(0).Time().IsZero() || !Time(0).IsZero() {
		t.Fatal("the zero time.Time and the zero Time must map to each other")
	}
	for i, x := range times {
		tx := TimeOf(x)
		if tx.IsZero() || !tx.After(time.Time{}) {
			t.Errorf("%v: %d is not after the zero Time", x, tx)
		}
		clamped := tx == 1 || tx == math.MaxInt64
		if !clamped && (!tx.Time().Equal(x) || !tx.Equal(x) || TimeOf(tx.Time()) != tx) {
			t.Errorf("%v: round trip gives %v", x, tx.Time())
		}
		for _, y := range times[i+1:] {
			if ty := TimeOf(y); !(tx < ty) && !(clamped && ty == tx) || !tx.Before(y) && !clamped {
				t.Errorf("%v (%d) not before %v (%d)", x, tx, y, ty)
			}
		}
	}
	if d := TimeOf(now) - TimeOf(wall); d > Time(time.Millisecond) || d < -Time(time.Millisecond) {
		t.Errorf("the monotonic and the wall clock reading of one instant differ by %v", time.Duration(d))
	}
	if TimeOf(times[0]) != 1 || TimeOf(times[len(times)-1]) != math.MaxInt64 {
		t.Error("far instants are not clamped")
	}
}
