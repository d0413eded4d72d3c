package page

import (
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/report"
)

// timeline is the chart of who held which role when: one row per holder
// (a requester of a role, in one account for a role granted per account)
// and one bar per grant. The page's template writes it as plain SVG rather
// than through gonum/plot: gonum has no Gantt plotter, and its canvas
// writes anonymous paths, while here each bar is an element of its own
// with classes (break-glass, third-party, never-used) that style it and a
// <title> that names the grant when hovered.
type timeline struct {
	Width, Height int
	Left          int // where the bars start; the labels are to the left
	Rows          []row
	Ticks         []tick
	Bars          []bar
}

type row struct {
	Label string
	Y     int // the baseline of the label
}

type tick struct {
	X     float64
	Label string
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

const (
	timelineWidth = 960
	labelWidth    = 300
	rowHeight     = 22
	axisHeight    = 28
)

// newTimeline lays out the grants of [since, until], which come sorted by
// role, requester, account and start as report.Activity keeps them.
func newTimeline(grants []report.Grant, since, until time.Time) timeline {
	t := timeline{Width: timelineWidth, Left: labelWidth}
	span := until.Sub(since).Seconds()
	plotWidth := float64(timelineWidth - labelWidth - 10)
	x := func(at time.Time) float64 { return float64(labelWidth) + plotWidth*at.Sub(since).Seconds()/span }

	rowOf := map[string]int{}
	for _, g := range grants {
		key := g.Role + "\x00" + g.Requester + "\x00" + g.Account
		i, ok := rowOf[key]
		if !ok {
			i = len(t.Rows)
			rowOf[key] = i
			t.Rows = append(t.Rows, row{Label: shorten(holderLabel(g), maxLabel), Y: axisHeight + i*rowHeight + 15})
		}
		start, end := x(g.Start), x(g.End)
		t.Bars = append(t.Bars, bar{
			X: start, Y: float64(axisHeight + i*rowHeight + 3), W: max(end-start, 1), H: rowHeight - 6,
			Class: grantClass(g), Title: grantTitle(g),
		})
	}
	t.Height = axisHeight + max(len(t.Rows), 1)*rowHeight + 4
	t.Ticks = ticks(since, until, x)
	return t
}

// tickSteps are the spacings the timeline's axis may use, finest first.
var tickSteps = []time.Duration{
	5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 4 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

// ticks mark the window at the finest step that gives at most eight
// marks: times of day below a day's step, dates from it on.
func ticks(since, until time.Time, x func(time.Time) float64) []tick {
	step := tickSteps[0]
	for _, s := range tickSteps {
		step = s
		if until.Sub(since)/step <= 8 {
			break
		}
	}
	for until.Sub(since)/step > 8 { // beyond the table: a window of months
		step *= 2
	}
	layout := "Jan 2"
	if step < 24*time.Hour {
		layout = "15:04"
	}
	var out []tick
	for at := since.UTC().Truncate(step).Add(step); at.Before(until); at = at.Add(step) {
		out = append(out, tick{X: x(at), Label: at.Format(layout)})
	}
	return out
}

// maxLabel is the most characters of a row's label that fit left of the
// bars; a longer one is cut, and the bars' tooltips and the table below
// have it whole.
const maxLabel = 44

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func holderLabel(g report.Grant) string {
	who := g.Requester
	if g.Email != "" {
		who = g.Email
	}
	label := g.Role + " · " + who
	if g.Account != "" {
		label += " (" + g.Account + ")"
	}
	return label
}

// grantClass is the bar's CSS classes.
func grantClass(g report.Grant) string {
	classes := []string{"grant"}
	if g.BreakGlass {
		classes = append(classes, "break-glass")
	}
	if g.ThirdParty {
		classes = append(classes, "third-party")
	}
	if g.NeverUsed() {
		classes = append(classes, "never-used")
	}
	return strings.Join(classes, " ")
}

// grantTitle names the grant and says what kind it is, for the tooltip.
func grantTitle(g report.Grant) string {
	s := g.RequestID + ": " + holderLabel(g) + ", " + g.Start.Format(stamp) + " to " + g.End.Format(stamp)
	if g.Running {
		s += " (still running)"
	}
	if k := kind(g); k != "" {
		s += ", " + k
	}
	return s
}

// kind says what is special about the grant, if anything.
func kind(g report.Grant) string {
	var k []string
	if g.BreakGlass {
		k = append(k, "break-glass")
	}
	if g.ThirdParty {
		k = append(k, "third-party")
	}
	return strings.Join(k, ", ")
}

const stamp = "2006-01-02 15:04 MST"
