package fdb

import (
	"math"
	"testing"
	"time"
)

const year = 365 * 24 * time.Hour

// TestTime: by any Clock, a Time keeps the instant and the order of the
// time.Time it is made from, to the nanosecond, by either clock; the zero
// Time is unset and first; instants too far from the origin are clamped.
// Clocks with different origins agree on every instant they both cover.
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
	// Origins with a monotonic reading (Add keeps it), decades apart.
	origins := []time.Time{now, now.Add(-100 * year), now.Add(80*year + 17*time.Nanosecond)}
	for _, o := range origins {
		if o.Round(0) == o {
			t.Fatalf("origin %v has no monotonic reading", o)
		}
		c := NewClock(o)
		if c.TimeOf(time.Time{}) != 0 || !c.TimeAt(0).IsZero() || !Time(0).IsZero() {
			t.Fatal("the zero time.Time and the zero Time must map to each other")
		}
		for i, x := range times {
			tx := c.TimeOf(x)
			if tx.IsZero() {
				t.Errorf("origin %v: %v gives the zero Time", o, x)
			}
			clamped := tx == 1 || tx == math.MaxInt64
			if back := c.TimeAt(tx); !clamped && (!back.Equal(x) || c.TimeOf(back) != tx) {
				t.Errorf("origin %v: %v round trips to %v", o, x, back)
			}
			for _, y := range times[i+1:] {
				if ty := c.TimeOf(y); !(tx < ty) && !(clamped && ty == tx) {
					t.Errorf("origin %v: %v (%d) not before %v (%d)", o, x, tx, y, ty)
				}
			}
		}
		// One instant by the monotonic clock and by the wall clock.
		if d := c.TimeOf(now) - c.TimeOf(wall); d > Time(time.Millisecond) || d < -Time(time.Millisecond) {
			t.Errorf("origin %v: the monotonic and the wall clock reading of one instant differ by %v", o, time.Duration(d))
		}
		// A Time made by the monotonic clock comes back with a monotonic
		// reading, so it keeps counting by that clock.
		if back := c.TimeAt(c.TimeOf(now)); back.Round(0) == back || back.Sub(now) != 0 {
			t.Errorf("origin %v: %v comes back as %v, without its monotonic reading", o, now, back)
		}
		if c.TimeOf(times[0]) != 1 || c.TimeOf(times[len(times)-1]) != math.MaxInt64 {
			t.Errorf("origin %v: far instants are not clamped", o)
		}
	}

	// Two clocks: a Time of one maps back to the instant the other's Time
	// of it does, and their Times of one instant differ by exactly the
	// distance between the origins, by either path.
	a, b := NewClock(origins[0]), NewClock(origins[1])
	shift := Time(origins[0].Sub(origins[1]))
	for _, x := range times[1 : len(times)-1] {
		ta, tb := a.TimeOf(x), b.TimeOf(x)
		if !a.TimeAt(ta).Equal(b.TimeAt(tb)) || b.TimeOf(a.TimeAt(ta)) != tb || a.TimeOf(b.TimeAt(tb)) != ta {
			t.Errorf("%v: %d of one origin and %d of the other are different instants", x, ta, tb)
		}
		if tb-ta != shift {
			t.Errorf("%v: Times %d and %d differ by %v, not the %v between the origins", x, ta, tb, time.Duration(tb-ta), time.Duration(shift))
		}
	}

	// Clamping is relative to the origin, on both paths: an instant one
	// clock covers can lie beyond another's reach.
	mono := now.Add(60 * year) // still a monotonic reading
	if mono.Round(0) == mono {
		t.Fatal("now + 60 years has no monotonic reading")
	}
	if a.TimeOf(mono) == math.MaxInt64 || b.TimeOf(mono) != math.MaxInt64 {
		t.Error("monotonic path: 60 years ahead is in reach of now, 160 years is not")
	}
	past := time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC)
	if b.TimeOf(past) == 1 || a.TimeOf(past) != 1 {
		t.Error("wall path: 1850 is in reach of an origin 100 years ago, not of now")
	}
	if back := b.TimeAt(b.TimeOf(past)); !back.Equal(past) {
		t.Errorf("wall path: 1850 round trips to %v", back)
	}
}

// TestTableClock: a table's Times count from the origin given to New.
func TestTableClock(t *testing.T) {
	o := time.Now()
	t1, t2 := New(Limits{}, o), New(Limits{}, o.Add(-time.Hour))
	x := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := t2.TimeOf(x) - t1.TimeOf(x); d != Time(time.Hour) {
		t.Errorf("the table whose origin is an hour earlier counts %v more, want 1h", time.Duration(d))
	}
	if !t1.TimeAt(t1.TimeOf(x)).Equal(x) || !t2.TimeAt(t2.TimeOf(x)).Equal(x) {
		t.Error("a table's Times do not convert back to the instant")
	}
}
