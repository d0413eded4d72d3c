// Package page renders the access report as one self-contained HTML page:
// a timeline of who held which role when, requests per day by outcome,
// the time from request to decision, the grants nobody used and the roles
// with the most elevated hours, each chart with its table below it.
//
// The page loads nothing: its styles are inline, its charts inline SVG
// (drawn with gonum/plot, the timeline by hand), it has no script, and its
// Content-Security-Policy forbids fetching anything, so it opens the same
// from a laptop, an email attachment or a ticket. Role names, emails and
// other text from the log go through html/template, which escapes them.
package page

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"time"

	"gonum.org/v1/plot/vg"

	"github.com/jitbot/jitbot/internal/report"
)

//go:embed page.html.tmpl
var pageText string

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"stamp":   func(t time.Time) string { return t.UTC().Format(stamp) },
	"day":     func(t time.Time) string { return t.UTC().Format("Mon 2006-01-02") },
	"seconds": func(s float64) string { return report.FormatDuration(time.Duration(s * float64(time.Second))) },
	"hours":   func(h float64) string { return fmt.Sprintf("%.1f", h) },
	"kind":    kind,
}).Parse(pageText))

// view is what the template reads.
type view struct {
	report.Report
	Window    string
	Timeline  timeline
	Outcomes  []report.Outcome
	Days      []dayRow
	NeverUsed []report.Grant
	Top       []report.RoleStats
	Charts    map[string]template.HTML // by the id of the chart's figure
}

// dayRow is a line of the per-day table: counts in Outcomes order.
type dayRow struct {
	Day    time.Time
	Counts []int
	Total  int
}

// Write writes the page of r to w. It fails only if a chart cannot be
// rendered or w cannot be written.
func Write(w io.Writer, r report.Report) error {
	v := view{
		Report:   r,
		Window:   report.FormatDuration(r.Until.Sub(r.Since)),
		Timeline: newTimeline(r.Activity.Grants, r.Since, r.Until),
		Outcomes: report.Outcomes,
		Top:      topRoles(r.Roles),
		Charts:   map[string]template.HTML{},
	}
	for _, d := range r.Activity.Days {
		row := dayRow{Day: d.Day, Total: d.Total()}
		for _, o := range report.Outcomes {
			row.Counts = append(row.Counts, d.Counts[o])
		}
		v.Days = append(v.Days, row)
	}
	for _, g := range r.Activity.Grants {
		if g.NeverUsed() {
			v.NeverUsed = append(v.NeverUsed, g)
		}
	}
	if err := v.renderCharts(); err != nil {
		return err
	}
	// Render whole before writing, so that a failure leaves no half page.
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return fmt.Errorf("render the report page: %w", err)
	}
	_, err := b.WriteTo(w)
	return err
}

// renderCharts draws the gonum/plot charts as inline SVG.
func (v *view) renderCharts() error {
	hoursHeight := vg.Points(float64(80 + 26*max(len(v.Top), 1)))
	charts := []struct {
		id   string
		draw func() (template.HTML, error)
	}{
		{"per-day", func() (template.HTML, error) { return svg(dayChart(v.Activity.Days), 720, 300) }},
		{"decisions", func() (template.HTML, error) { return svg(decisionChart(v.Activity.Decisions), 720, 280) }},
		{"hours", func() (template.HTML, error) { return svg(hoursChart(v.Top), 720, hoursHeight) }},
	}
	for _, c := range charts {
		s, err := c.draw()
		if err != nil {
			return err
		}
		v.Charts[c.id] = s
	}
	return nil
}
