package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// summary is the distribution of one measured quantity.
type summary struct {
	N                  int
	P50, P95, P99, Max float64
}

// summarize returns the nearest-rank percentiles of xs.
func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return summary{N: len(s), P50: rank(0.50), P95: rank(0.95), P99: rank(0.99), Max: s[len(s)-1]}
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// interval is a span of time, e.g. one call at a proxy.
type interval struct{ start, end time.Time }

// covered returns how much of [from, to] the intervals cover, counting
// time covered by several of them once.
func covered(ivs []interval, from, to time.Time) time.Duration {
	var clipped []interval
	for _, iv := range ivs {
		s, e := maxTime(iv.start, from), minTime(iv.end, to)
		if e.After(s) {
			clipped = append(clipped, interval{s, e})
		}
	}
	slices.SortFunc(clipped, func(a, b interval) int { return a.start.Compare(b.start) })
	var total time.Duration
	var cur interval
	for i, iv := range clipped {
		switch {
		case i == 0:
			cur = iv
		case iv.start.After(cur.end):
			total += cur.end.Sub(cur.start)
			cur = iv
		case iv.end.After(cur.end):
			cur.end = iv.end
		}
	}
	if len(clipped) > 0 {
		total += cur.end.Sub(cur.start)
	}
	return total
}

// maxInFlight returns the largest number of intervals open at one moment.
func maxInFlight(ivs []interval) int {
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(ivs))
	for _, iv := range ivs {
		edges = append(edges, edge{iv.start, +1}, edge{iv.end, -1})
	}
	// At equal times an end comes before a start: a call that ends as
	// another begins did not overlap it.
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// slowest names the n largest of xs with their places in xs ("#12 8.1"):
// whether a tail is one stall, the first runs or spread throughout.
func slowest(xs []float64, n int) string {
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(xs[b], xs[a]) })
	var said []string
	for _, i := range order[:min(n, len(order))] {
		said = append(said, fmt.Sprintf("#%d %.2f", i, xs[i]))
	}
	return strings.Join(said, ", ")
}
