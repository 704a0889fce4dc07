package main

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{7}, 7},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{9, 1, 5, 3}, 4},
		{[]time.Duration{2, 2, 100, 1, 3, 50, 2}, 2},
	} {
		in := append([]time.Duration(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median sorted its argument: %v", c.in)
			}
		}
	}
}

func TestPct(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {1, 10}, {0, 1}, {0.11, 2}} {
		if got := pct(s, c.p); got != c.want {
			t.Errorf("pct(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if pct(nil, 0.5) != 0 {
		t.Error("pct of nothing not 0")
	}
}

// stormCPU is a round that took c.
func stormCPU(c cpuUse) stormResult { return stormResult{cpu: c} }

func TestPerJoin(t *testing.T) {
	rs := []stormResult{
		stormCPU(cpuUse{bench: 1000, daemon: 1000, softirq: 0}),
		stormCPU(cpuUse{bench: 2000, daemon: 2000, softirq: 0}),
		stormCPU(cpuUse{bench: 3000, daemon: 0, softirq: 9000}),
	}
	got := perJoin(rs, 10)
	// Each part's median, and the median of the rounds' totals (2 000,
	// 4 000, 12 000), not the sum of the parts' medians (3 000).
	want := cpuFigures{bench: 200, daemon: 100, softirq: 0, total: 400}
	if got != want {
		t.Fatalf("perJoin = %+v, want %+v", got, want)
	}
}

func TestCompareCPU(t *testing.T) {
	kernel := cpuFigures{bench: 9600, softirq: 100, total: 9700}
	c := compareCPU(kernel, cpuFigures{bench: 7200, daemon: 9500, softirq: 100, total: 16800})
	if math.Abs(c.total-16800.0/9700) > 1e-9 || c.inline != 2400 || math.Abs(c.vsInline-9500.0/2400) > 1e-9 {
		t.Fatalf("compareCPU = %+v", c)
	}
	// Senders that cost more with the daemon than with the kernel: no
	// inline cost to compare with.
	c = compareCPU(kernel, cpuFigures{bench: 9700, daemon: 9500, total: 19200})
	if c.inline != -100 || !math.IsNaN(c.vsInline) || times(c.vsInline) != "-" {
		t.Fatalf("compareCPU with no inline cost = %+v (%s)", c, times(c.vsInline))
	}
	if !math.IsNaN(ratio(1, 0)) || times(ratio(3, 2)) != "1.50×" {
		t.Fatal("ratio")
	}
}
