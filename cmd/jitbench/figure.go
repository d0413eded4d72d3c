package main

import (
	"fmt"
	"math"
)

// Units of a figure; each names the suffix of its JSON fields.
const (
	unitMS    = "ms"
	unitMiB   = "MiB"
	unitCount = "count"
)

// figure is one measured figure of the report.
type figure struct {
	Name string
	What string // one line: what exactly was measured
	Unit string
	Sum  summary
	// Target is docs/design.md §6's bound, 0 when it sets none. It applies to the
	// p99, or to the max when TargetOnMax.
	Target      float64
	TargetOnMax bool
	// Emulator is the round trip of the emulator the figure waits on, when
	// it does; the report then also states the figure as a multiple of it.
	Emulator summary
	Extra    map[string]float64
	Note     string
	// Lost says the run lost something the target also requires whole
	// (incident_flood: a DM, an audit post, a log entry): the figure is
	// then missed, however fast the rest was.
	Lost bool
}

func (f *figure) addExtra(k string, v float64) {
	if f.Extra == nil {
		f.Extra = map[string]float64{}
	}
	f.Extra[k] = v
}

// bound is the value the target applies to.
func (f figure) bound() float64 {
	if f.TargetOnMax {
		return f.Sum.Max
	}
	return f.Sum.P99
}

func (f figure) met() bool { return f.Target > 0 && !f.Lost && f.bound() <= f.Target }

// ratio is the p99 over the emulator's median round trip, or 0.
func (f figure) ratio() float64 {
	if f.Emulator.P50 <= 0 {
		return 0
	}
	return f.Sum.P99 / f.Emulator.P50
}

func (f figure) suffix() string {
	switch f.Unit {
	case unitMiB:
		return "_mib"
	case unitCount:
		return ""
	}
	return "_ms"
}

// json is the figure as bench/latest.json holds it.
func (f figure) json() map[string]any {
	x := f.suffix()
	m := map[string]any{
		"p50" + x: round3(f.Sum.P50), "p95" + x: round3(f.Sum.P95), "p99" + x: round3(f.Sum.P99), "max" + x: round3(f.Sum.Max),
		"n": f.Sum.N, "unit": f.Unit, "what": f.What,
	}
	if f.Target > 0 {
		m["target"+x] = f.Target
		m["met"] = f.met()
		if f.TargetOnMax {
			m["target_applies_to"] = "max"
		} else {
			m["target_applies_to"] = "p99"
		}
	}
	if r := f.ratio(); r > 0 {
		m["emulator_rtt_p50_ms"] = round3(f.Emulator.P50)
		m["p99_over_emulator_rtt"] = round3(r)
	}
	for k, v := range f.Extra {
		m[k] = round3(v)
	}
	if f.Note != "" {
		m["note"] = f.Note
	}
	return m
}

func round3(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

// verdict is the table's last column.
func (f figure) verdict() string {
	if f.Target <= 0 {
		return "—"
	}
	which := "p99"
	if f.TargetOnMax {
		which = "max"
	}
	if f.met() {
		return fmt.Sprintf("met (%s ≤ %g)", which, f.Target)
	}
	if f.Lost {
		return "MISSED (something lost)"
	}
	return fmt.Sprintf("MISSED (%s > %g)", which, f.Target)
}
