package page

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/jitbot/jitbot/internal/report"
)

// TopRoles is how many roles the elevated-hours chart shows.
const TopRoles = 10

// outcomeColors are Okabe and Ito's colours, which people with the
// common colour blindnesses still tell apart. None is black or white, so
// a bar is never mistaken for a chart's text or background.
var outcomeColors = map[report.Outcome]color.Color{
	report.OutcomeApproved:   rgb(0x00, 0x9E, 0x73),
	report.OutcomeBreakGlass: rgb(0xD5, 0x5E, 0x00),
	report.OutcomeDenied:     rgb(0xCC, 0x79, 0xA7),
	report.OutcomeTimedOut:   rgb(0x99, 0x99, 0x99),
	report.OutcomeCancelled:  rgb(0x56, 0xB4, 0xE9),
	report.OutcomeFailed:     rgb(0x7F, 0x3C, 0x8D),
	report.OutcomePending:    rgb(0xF0, 0xE4, 0x42),
}

// hoursColor is the bars of the elevated-hours chart.
var hoursColor = rgb(0x00, 0x72, 0xB2)

func rgb(r, g, b uint8) color.Color { return color.RGBA{R: r, G: g, B: b, A: 0xFF} }

// dayChart is the requests of each day, stacked by outcome; every
// outcome is in the legend, whether or not it happened.
func dayChart(days []report.Day) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Requests per day, by outcome"
	p.Y.Label.Text = "requests"
	s := stacked{width: vg.Points(14)}
	for _, o := range report.Outcomes {
		vals := make([]float64, len(days))
		for i, d := range days {
			vals[i] = float64(d.Counts[o])
		}
		s.values = append(s.values, vals)
		s.colors = append(s.colors, outcomeColors[o])
		p.Legend.Add(string(o), swatch{outcomeColors[o]})
	}
	p.Add(s)
	// Label about ten days, so that a month's labels do not run together.
	every := max(1, (len(days)+9)/10)
	labels := make([]string, len(days))
	for i, d := range days {
		if i%every == 0 {
			labels[i] = d.Day.Format("Jan 2")
		}
	}
	p.NominalX(labels...)
	countAxis(p, len(report.Outcomes))
	return p
}

// countAxis marks p's Y axis with whole counts, and raises its top so the
// legend of entries, drawn inside the plot at the top right, sits above
// the tallest bar rather than on it.
func countAxis(p *plot.Plot, entries int) {
	p.Legend.Top = true
	p.Y.Max *= 1 + 0.07*float64(entries)
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		step := max(1, math.Ceil((hi-lo)/6))
		var ticks []plot.Tick
		for v := 0.0; v <= hi; v += step {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
		}
		return ticks
	})
}

// buckets are the ranges of the time-to-decision chart, upper bounds in
// seconds; the last is open.
var buckets = []struct {
	label string
	upTo  float64
}{
	{"< 1m", 60}, {"1-5m", 300}, {"5-15m", 900}, {"15m-1h", 3600}, {"1-4h", 4 * 3600}, {"4h +", 0},
}

// decided are the outcomes of a decision, in the chart's stacking order.
var decided = []report.Outcome{report.OutcomeApproved, report.OutcomeDenied, report.OutcomeFailed}

// bucket is the index in buckets of a wait of secs.
func bucket(secs float64) int {
	for i, b := range buckets[:len(buckets)-1] {
		if secs < b.upTo {
			return i
		}
	}
	return len(buckets) - 1
}

// decisionChart counts decisions by how long they took, stacked by
// outcome.
func decisionChart(ds []report.Decision) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Time from request to decision"
	p.Y.Label.Text = "requests"
	s := stacked{width: vg.Points(24)}
	for _, o := range decided {
		vals := make([]float64, len(buckets))
		for _, d := range ds {
			if d.Outcome == o {
				vals[bucket(d.Seconds)]++
			}
		}
		s.values = append(s.values, vals)
		s.colors = append(s.colors, outcomeColors[o])
		p.Legend.Add(string(o), swatch{outcomeColors[o]})
	}
	p.Add(s)
	labels := make([]string, len(buckets))
	for i, b := range buckets {
		labels[i] = b.label
	}
	p.NominalX(labels...)
	countAxis(p, len(decided))
	return p
}

// topRoles are the roles with elevated hours, most first, at most
// TopRoles of them.
func topRoles(roles []report.RoleStats) []report.RoleStats {
	var top []report.RoleStats
	for _, r := range roles {
		if r.ElevatedHours > 0 {
			top = append(top, r)
		}
	}
	slices.SortStableFunc(top, func(a, b report.RoleStats) int { return cmp.Compare(b.ElevatedHours, a.ElevatedHours) })
	return top[:min(len(top), TopRoles)]
}

// hoursChart is a horizontal bar per role of top, the most at the top.
func hoursChart(top []report.RoleStats) *plot.Plot {
	p := plot.New()
	p.Title.Text = "Roles with the most elevated hours"
	p.X.Label.Text = "hours held"
	vals := make([]float64, len(top))
	names := make([]string, len(top))
	for i, r := range top {
		j := len(top) - 1 - i // NominalY counts from the bottom
		vals[j], names[j] = r.ElevatedHours, r.Role
	}
	p.Add(stacked{values: [][]float64{vals}, colors: []color.Color{hoursColor}, width: vg.Points(14), horizontal: true})
	if len(names) == 0 { // NominalY needs a name
		p.Title.Text += ": nobody held a role in this window"
		p.Y.Tick.Marker = plot.ConstantTicks(nil)
		return p
	}
	p.NominalY(names...)
	return p
}

// svg renders p as an SVG element to inline in the page. vgsvg escapes
// the text it writes (labels hold role names), so the result is safe
// HTML; the XML prolog a standalone file needs is cut off.
func svg(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return "", fmt.Errorf("render chart %q as SVG: %w", p.Title.Text, err)
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", fmt.Errorf("render chart %q as SVG: %w", p.Title.Text, err)
	}
	s := b.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("render chart %q as SVG: no <svg> element in the output", p.Title.Text)
	}
	return template.HTML(s[i:]), nil
}

// MainChartPNG is the requests-per-day chart as a PNG image, the one
// /jit report attaches in Slack, where a message cannot carry SVG.
func MainChartPNG(r report.Report) ([]byte, error) {
	wt, err := dayChart(r.Activity.Days).WriterTo(8*vg.Inch, 4*vg.Inch, "png")
	if err != nil {
		return nil, fmt.Errorf("render the requests-per-day chart as PNG: %w", err)
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("render the requests-per-day chart as PNG: %w", err)
	}
	return b.Bytes(), nil
}
