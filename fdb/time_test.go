package fdb

import (
	"math"
	"testing"
	"time"
	"unsafe"
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

// TestClockRangeEdges: a Time keeps every instant less than timeBias
// (about 146 years) from the origin, to the nanosecond, and clamps the
// ones further away to the first or the last Time, never wrapping round
// and never giving the zero Time (Clock: "instants further away are
// clamped"); the same by the monotonic and by the wall clock, whatever
// the origin's nanoseconds.
func TestClockRangeEdges(t *testing.T) {
	const bias = time.Duration(timeBias)
	type edge struct {
		d    time.Duration // from the origin
		want Time
	}
	later := []edge{
		{0, timeBias},
		{bias - 1, math.MaxInt64}, // the last instant kept, exactly
		{bias - 1500*time.Millisecond, math.MaxInt64 - Time(1500*time.Millisecond) + 1},
		{bias - 300*time.Millisecond, math.MaxInt64 - Time(300*time.Millisecond) + 1},
		{bias, math.MaxInt64},
		{bias + time.Second, math.MaxInt64},
	}
	earlier := []edge{
		{-(bias - 1), 1}, // the first instant kept, exactly
		{-(bias - 1500*time.Millisecond), Time(1500 * time.Millisecond)},
		{-(bias - 300*time.Millisecond), Time(300 * time.Millisecond)},
		{-bias, 1},
		{-bias - time.Second, 1},
	}
	// Monotonic origins from which the instants tried keep a monotonic
	// reading (Go keeps one between 1885 and 2157), and wall origins.
	now := time.Now()
	origins := []struct {
		name           string
		o              time.Time
		mono           bool
		later, earlier bool
	}{
		{"monotonic, 100 years ago", now.Add(-100 * year), true, true, false},
		{"monotonic, in 80 years", now.Add(80 * year), true, false, true},
		{"wall, .999999999", time.Date(2026, 1, 1, 0, 0, 0, 999999999, time.UTC), false, true, true},
		{"wall, .0", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false, true, true},
	}
	for _, o := range origins {
		c := NewClock(o.o)
		var offsets []edge
		if o.later {
			offsets = append(offsets, later...)
		}
		if o.earlier {
			offsets = append(offsets, earlier...)
		}
		for _, off := range offsets {
			x := o.o.Add(off.d)
			if hasMono := x.Round(0) != x; hasMono != o.mono {
				t.Fatalf("%s: %v from the origin has a monotonic reading: %v", o.name, off.d, hasMono)
			}
			if got := c.TimeOf(x); got != off.want {
				t.Errorf("%s: %v from the origin gives %d, want %d", o.name, off.d, got, off.want)
			}
		}
	}
}

// TestWallClockStepMovesNoTimer: a Time made from a time.Time with a
// monotonic reading counts by the monotonic clock, so a step of the wall
// clock (settimeofday, an NTP step) between the origin and now moves no
// timer (Clock).
func TestWallClockStepMovesNoTimer(t *testing.T) {
	origin := time.Now()
	c := NewClock(origin)
	at := origin.Add(10 * time.Second)
	for _, step := range []time.Duration{-time.Hour, time.Hour} {
		stepped := wallStepped(t, at, step)
		if got, want := c.TimeOf(stepped), c.TimeOf(at); got != want {
			t.Errorf("wall clock stepped by %v: the Time moved by %v", step, time.Duration(got-want))
		}
	}
}

// wallStepped returns the reading time.Now() gives at the instant of t
// (which has a monotonic reading) after the wall clock was stepped by
// step: the wall reading moves, the monotonic one does not. No API makes
// such a reading, so it is put together as time.Time holds one: a wall
// word and, while that word says so, the monotonic reading in ext (the
// doc comment of time.Time in the standard library's source). It skips
// the test if that no longer holds.
func wallStepped(tb testing.TB, t time.Time, step time.Duration) time.Time {
	type reading struct {
		wall uint64
		ext  int64
		loc  *time.Location
	}
	if unsafe.Sizeof(t) != unsafe.Sizeof(reading{}) {
		tb.Skip("time.Time is not laid out as {wall, ext, loc}: cannot step its wall clock")
	}
	s := t.Add(step)
	(*reading)(unsafe.Pointer(&s)).ext = (*reading)(unsafe.Pointer(&t)).ext
	if s.Round(0) == s || s.Sub(t) != 0 || !s.Round(0).Equal(t.Add(step).Round(0)) {
		tb.Skip("time.Time is not laid out as {wall, ext, loc}: cannot step its wall clock")
	}
	return s
}
