package page

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitbot/jitbot/internal/report"
	"github.com/jitbot/jitbot/internal/testenv"
)

func scriptedPage(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, report.Build(entries(), scriptedCatalog, since, now)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPageSelfContained: the page fetches nothing and runs nothing; it has
// no script, and the text of the log is escaped.
func TestPageSelfContained(t *testing.T) {
	page := string(scriptedPage(t))
	t.Logf("the page of the scripted log is %d bytes", len(page))
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "@import", `src="http`, `href="http`, "url(http"} {
		if strings.Contains(strings.ToLower(page), strings.ToLower(bad)) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;window.pwned=1&lt;/script&gt;db-admin") {
		t.Errorf("the role %q is not in the page escaped", evilRole)
	}
	if !strings.Contains(page, "default-src 'none'") {
		t.Error("the page has no Content-Security-Policy that forbids fetching")
	}
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("the page has %d SVG charts, want 4 (timeline, per day, decisions, hours)", n)
	}
}

// TestPageEmpty: a window with no activity still renders, with empty
// tables and charts.
func TestPageEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, report.Build(nil, scriptedCatalog, since, now)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "nobody held a role in this window") {
		t.Errorf("an empty timeline does not say so")
	}
	if strings.Contains(b.String(), `id="timeline-table"`) {
		t.Errorf("an empty timeline has a table of no grants under it")
	}
	if strings.Contains(b.String(), "Median") || !strings.Contains(b.String(), "No request was approved by a person in this window.") {
		t.Errorf("with no approval, the page gives a median instead of saying there is none")
	}
}

// TestMainChartPNG: the chart /jit report attaches is a PNG image.
func TestMainChartPNG(t *testing.T) {
	png, err := MainChartPNG(report.Build(entries(), scriptedCatalog, since, now))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
		t.Errorf("not a PNG image: %d bytes starting %q", len(png), png[:min(len(png), 8)])
	}
}

// pageCounts is what the browser test reads off the loaded page.
type pageCounts struct {
	Bars, Rows, TimelineRows, DayRows, DecisionRows, NeverUsedRows, HoursRows int
	BreakGlassBars, ThirdPartyBars, NeverUsedBars                             int
	DayFills, DecisionFills, HoursFills                                       map[string]int
	Scripts                                                                   int
	Pwned                                                                     bool
	EvilShown                                                                 bool
}

// countsJS reads pageCounts in the page. A chart's bars are counted by
// their fill colour: gonum/plot writes each as a path filled with the
// colour of its series, and the legend adds one swatch per series.
const countsJS = `(() => {
	const n = sel => document.querySelectorAll(sel).length;
	const fills = sel => {
		const out = {};
		for (const p of document.querySelectorAll(sel + ' svg path')) {
			const m = (p.getAttribute('style') || '').match(/fill:(#[0-9A-F]{6})/);
			if (m) out[m[1]] = (out[m[1]] || 0) + 1;
		}
		return out;
	};
	return {
		Bars: n('#timeline rect.grant'), BreakGlassBars: n('#timeline rect.grant.break-glass'),
		ThirdPartyBars: n('#timeline rect.grant.third-party'), NeverUsedBars: n('#timeline rect.grant.never-used'),
		TimelineRows: n('#timeline text.row'), Rows: n('#timeline-table tbody tr'),
		DayRows: n('#per-day-table tbody tr'), DecisionRows: n('#decisions-table tbody tr'),
		NeverUsedRows: n('#never-used-table tbody tr'), HoursRows: n('#hours-table tbody tr'),
		DayFills: fills('#per-day'), DecisionFills: fills('#decisions'), HoursFills: fills('#hours'),
		Scripts: document.scripts.length, Pwned: window.pwned !== undefined,
		EvilShown: document.body.innerText.includes(` + "`" + evilRole + "`" + `),
	};
})()`

// TestPageInBrowser loads the page of the scripted log in Chromium and
// checks that nothing fails, that every chart has the bars and every
// table the rows that scripted says, that the log's text runs nothing,
// and leaves a screenshot in bin/report-screenshot.png for review.
func TestPageInBrowser(t *testing.T) {
	file := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(file, scriptedPage(t), 0o644); err != nil {
		t.Fatal(err)
	}
	b := testenv.StartBrowser(t)
	ctx := b.Context(t, time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitReady("#hours-table")); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[pageCounts](countsJS))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
	x := expect()
	check := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %d, want %d", what, got, want)
		}
	}
	check("timeline bars", got.Bars, x.grants)
	check("timeline rows", got.TimelineRows, x.rows)
	check("break-glass bars", got.BreakGlassBars, x.breakGlass)
	check("third-party bars", got.ThirdPartyBars, x.thirdParty)
	check("never-used bars", got.NeverUsedBars, x.neverUsed)
	check("timeline table rows", got.Rows, x.grants)
	check("per-day table rows", got.DayRows, x.days)
	check("decision table rows", got.DecisionRows, x.decisions)
	check("never-used table rows", got.NeverUsedRows, x.neverUsed)
	check("hours table rows", got.HoursRows, x.hoursBars)
	check("hours bars", got.HoursFills[hex(hoursColor)], x.hoursBars)
	for _, o := range report.Outcomes {
		check("per-day bars of "+string(o)+" (and its legend swatch)", got.DayFills[hex(outcomeColors[o])], x.dayBars[o]+1)
	}
	for _, o := range decided {
		check("decision bars of "+string(o)+" (and its legend swatch)", got.DecisionFills[hex(outcomeColors[o])], x.decisionBars[o]+1)
	}
	if got.Scripts != 0 || got.Pwned {
		t.Errorf("the page runs script: %d script elements, window.pwned set: %v", got.Scripts, got.Pwned)
	}
	if !got.EvilShown {
		t.Errorf("the role %q is not shown as text", evilRole)
	}
	writeScreenshot(t, shot)
}

func writeScreenshot(t *testing.T, png []byte) {
	t.Helper()
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("the screenshot is not a PNG image")
	}
	dir := filepath.Join("..", "..", "..", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "report-screenshot.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// hex is a colour as vgsvg writes it in a fill.
func hex(c color.Color) string {
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02X%02X%02X", r>>8, g>>8, b>>8)
}
