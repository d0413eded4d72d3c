package main

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100 … 1, unsorted
	}
	s := summarize(xs)
	if s.N != 100 || s.P50 != 50 || s.P95 != 95 || s.P99 != 99 || s.Max != 100 {
		t.Errorf("summarize(1…100) = %+v", s)
	}
	if s := summarize([]float64{7}); s.P50 != 7 || s.P99 != 7 || s.Max != 7 {
		t.Errorf("summarize(7) = %+v", s)
	}
	if s := summarize(nil); s.N != 0 {
		t.Errorf("summarize(nil) = %+v", s)
	}
}

func TestCoveredAndInFlight(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(msec int) time.Time { return t0.Add(time.Duration(msec) * time.Millisecond) }
	ivs := []interval{
		{at(0), at(10)},
		{at(5), at(15)},  // overlaps the first
		{at(15), at(20)}, // touches the second: not in flight together
		{at(30), at(50)}, // partly outside the window
	}
	if got := covered(ivs, at(0), at(40)); got != 30*time.Millisecond {
		t.Errorf("covered = %v, want 30ms (0–20 and 30–40)", got)
	}
	if got := covered(nil, at(0), at(40)); got != 0 {
		t.Errorf("covered(nil) = %v", got)
	}
	if got := maxInFlight(ivs); got != 2 {
		t.Errorf("maxInFlight = %d, want 2", got)
	}
}
