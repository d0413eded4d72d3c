package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// lateSecond is one second of a revocation window, by the grants whose
// expiry fell in it.
type lateSecond struct {
	at          time.Time
	n, late     int // grants, and those later than the target
	p50, maxLag float64
}

// keepLagTimeline writes, per second of expiry, how many grants expired,
// their median and worst lag and how many were later than targetMS, into
// lag-<name>.tsv in the work directory, and names the seconds with the
// most late grants: when lateness gathers (a kill, a rewrite of Redis's
// log, the emulator warming up) shows what a p99 is made of.
func (b *bench) keepLagTimeline(name string, gs []seeded, lags []float64, targetMS float64) {
	if len(gs) == 0 {
		return
	}
	secs := lagSeconds(gs, lags, targetMS)
	t0 := secs[0].at
	path := filepath.Join(b.st.dir, "lag-"+name+".tsv")
	if err := writeLagTimeline(path, t0, secs); err != nil {
		b.logf("lag timeline: %v", err)
	}
	worst := slices.Clone(secs)
	slices.SortStableFunc(worst, func(a, b lateSecond) int { return b.late - a.late })
	var said []string
	for _, s := range worst[:min(5, len(worst))] {
		if s.late > 0 {
			said = append(said, fmt.Sprintf("+%ds %d of %d (max %.0f ms)", int(s.at.Sub(t0).Seconds()), s.late, s.n, s.maxLag))
		}
	}
	if len(said) > 0 {
		b.logf("%s: seconds with the most grants over %.0f ms: %s; per second in %s", name, targetMS, strings.Join(said, ", "), path)
	}
}

func writeLagTimeline(path string, t0 time.Time, secs []lateSecond) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "second\tclock\tgrants\tp50_ms\tmax_ms\tover_target")
	for _, s := range secs {
		fmt.Fprintf(w, "%d\t%s\t%d\t%.1f\t%.1f\t%d\n", int(s.at.Sub(t0).Seconds()), s.at.Format("15:04:05"), s.n, s.p50, s.maxLag, s.late)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// lagSeconds groups lags (of gs, in the same order) by the second the
// grant expired in, in time order.
func lagSeconds(gs []seeded, lags []float64, targetMS float64) []lateSecond {
	bySecond := map[time.Time][]float64{}
	for i, g := range gs {
		sec := g.expires.Truncate(time.Second)
		bySecond[sec] = append(bySecond[sec], lags[i])
	}
	var secs []lateSecond
	for at, ls := range bySecond {
		s, late := summarize(ls), 0
		for _, l := range ls {
			if l > targetMS {
				late++
			}
		}
		secs = append(secs, lateSecond{at: at, n: len(ls), late: late, p50: s.P50, maxLag: s.Max})
	}
	slices.SortFunc(secs, func(a, b lateSecond) int { return a.at.Compare(b.at) })
	return secs
}
