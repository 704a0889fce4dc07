package main

import (
	"testing"
	"time"
)

func TestParseSchedstat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"17814125106 85403140162 139517\n", 17814125106, true},
		{"0 37105 1", 0, true},
		{"  42   7 1  ", 42, true},
		{"", 0, false},
		{"42 7", 0, false},
		{"42 7 1 9", 0, false},
		{"-42 7 1", 0, false},
		{"4x2 7 1", 0, false},
	} {
		got, err := parseSchedstat(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseSchedstat(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestTaskTimesSince(t *testing.T) {
	for _, c := range []struct {
		name          string
		before, after taskTimes
		want          time.Duration
	}{
		{"each thread's difference, summed", taskTimes{"a": 10, "b": 100}, taskTimes{"a": 15, "b": 130}, 35},
		{"a thread started meanwhile: all its time", taskTimes{"a": 10}, taskTimes{"a": 15, "b": 7}, 12},
		{"a thread ended meanwhile: lost", taskTimes{"a": 10, "b": 100}, taskTimes{"a": 15}, 5},
		{"an id reused by a new thread: all its time", taskTimes{"a": 100}, taskTimes{"a": 3}, 3},
		{"nothing before", nil, taskTimes{"a": 4}, 4},
		{"nothing at all", nil, nil, 0},
	} {
		if got := c.after.since(c.before); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSnapshotSince(t *testing.T) {
	before := cpuSnapshot{bench: taskTimes{"s": 1}, daemon: taskTimes{"d": 10}, softirq: taskTimes{"k0": 5, "k1": 5}}
	after := cpuSnapshot{bench: taskTimes{"s": 4}, daemon: taskTimes{"d": 30, "d2": 1}, softirq: taskTimes{"k0": 6, "k1": 8}}
	got := after.since(before)
	if want := (cpuUse{bench: 3, daemon: 21, softirq: 4}); got != want {
		t.Fatalf("since = %+v, want %+v", got, want)
	}
	if got.total() != 28 {
		t.Fatalf("total = %v, want 28ns", got.total())
	}
}
