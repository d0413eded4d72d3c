package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitbot/jitbot/internal/report"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestReportThroughTheBinary runs a small real history through the bot
// (two approved requests and a break-glass grant of readonly, a denial of
// admin from the deny modal, a withdrawn request for ops) and checks the
// report's figures, that every catalog role is in the text, that roles
// nobody asked for are named, and that no secret is in either format.
func TestReportThroughTheBinary(t *testing.T) {
	b := startBot(t)

	first := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", first), "jit_approve", first)
	dm := b.dmWith(t, "UALICE", first, "export AWS_SECRET_ACCESS_KEY=", "export AWS_SESSION_TOKEN=")
	secrets := []string{exportValue(t, dm, "AWS_SECRET_ACCESS_KEY"), exportValue(t, dm, "AWS_SESSION_TOKEN")}

	second := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-43"))
	b.click(t, "ULEAD2", b.approvalDM(t, "ULEAD2", second), "jit_approve", second)
	b.dmWith(t, "UALICE", second, "export AWS_SESSION_TOKEN=")

	denied := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	b.denyWithReason(t, "ULEAD2", b.approvalDM(t, "ULEAD2", denied), denied, "use the read replica dashboard instead")
	b.dmWith(t, "UALICE", denied, "use the read replica dashboard")

	cancelled := requestID(t, b.command(t, "UALICE", "request ops 1h fixing INC-42 replica lag"))
	b.command(t, "UALICE", "revoke "+cancelled)

	// bob is on call and names an incident: break-glass, nobody clicks.
	breakGlass := requestID(t, b.command(t, "UBOB", "request readonly 20m --incident INC-42 database on fire"))
	b.dmWith(t, "UBOB", breakGlass, "export AWS_SESSION_TOKEN=")

	// The durable entry is written before anything is posted, so once the
	// audit thread shows an event, the log holds it.
	b.waitAudit(t, first, 3)      // requested, approved, granted
	b.waitAudit(t, second, 3)     // requested, approved, granted
	b.waitAudit(t, denied, 2)     // requested, denied
	b.waitAudit(t, cancelled, 2)  // requested, cancelled
	b.waitAudit(t, breakGlass, 3) // requested, auto-approved, granted

	env2 := cleanEnv("REDIS_URL="+b.redis.URL(), "JIT_RULES="+b.catalog)
	out := runBinary(t, env2, "report", "--since", "1h", "--format", "json")
	if out.code != 0 {
		t.Fatalf("report --format json: %+v", out)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out.stdout), &r); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out.stdout)
	}
	roles := map[string]report.RoleStats{}
	for _, s := range r.Roles {
		roles[s.Role] = s
	}
	ro := roles["readonly"]
	if ro.Requests != 3 || ro.Approvals != 2 || ro.Granted != 3 || ro.BreakGlass != 1 || ro.Denials != 0 || ro.TimeToApproval.Samples != 2 {
		t.Errorf("readonly = %+v; want 3 requests, 2 approvals, 3 granted, 1 break-glass, 2 approval times", ro)
	}
	if l := ro.TimeToApproval; l.MedianSeconds <= 0 || l.MedianSeconds > l.P95Seconds || l.P95Seconds > 60 {
		t.Errorf("readonly time to approval = %+v; want 0 < median ≤ p95 < 1m", l)
	}
	// Three grants running for the seconds the test took: more than
	// nothing, far less than an hour.
	if ro.ElevatedHours <= 0 || ro.ElevatedHours > 0.1 {
		t.Errorf("readonly elevated hours = %v", ro.ElevatedHours)
	}
	wantTop := []report.Requester{{ID: "UALICE", Email: "alice@example.com", Requests: 2}, {ID: "UBOB", Email: "bob@example.com", Requests: 1}}
	if !slices.Equal(ro.TopRequesters, wantTop) {
		t.Errorf("readonly top requesters = %+v, want %+v", ro.TopRequesters, wantTop)
	}
	if a := roles["admin"]; a.Requests != 1 || a.Denials != 1 || a.Granted != 0 || a.ElevatedHours != 0 {
		t.Errorf("admin = %+v; want 1 request, 1 denial, nothing granted", a)
	}
	if o := roles["ops"]; o.Requests != 1 || o.Cancelled != 1 || o.Granted != 0 {
		t.Errorf("ops = %+v; want 1 request, cancelled", o)
	}
	if tot := r.Total; tot.Requests != 5 || tot.Granted != 3 || tot.Denials != 1 || tot.Cancelled != 1 || tot.BreakGlass != 1 {
		t.Errorf("total = %+v", tot)
	}
	if want := []string{"pager", "quick", "vendor"}; !slices.Equal(r.NeverRequested, want) {
		t.Errorf("never requested = %q, want %q", r.NeverRequested, want)
	}

	text := runBinary(t, env2, "report", "--since", "1h")
	if text.code != 0 {
		t.Fatalf("report: %+v", text)
	}
	for _, role := range []string{"readonly", "admin", "ops", "pager", "quick", "vendor"} {
		if !strings.Contains(text.stdout, role) {
			t.Errorf("the text report does not name %s:\n%s", role, text.stdout)
		}
	}
	if !strings.Contains(text.stdout, "never requested (candidates for removal):\n  pager, quick, vendor\n") {
		t.Errorf("the text report does not list the roles nobody asked for:\n%s", text.stdout)
	}
	for _, s := range secrets {
		if strings.Contains(out.stdout, s) || strings.Contains(text.stdout, s) {
			t.Errorf("a secret of alice's grant is in the report")
		}
	}
	t.Logf("jitbot report --since 1h:\n%s", text.stdout)
}

func TestReportUsageAndConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, "roles:\n  prod-ro:\n    backend: aws_ssm\n    approvers: [U0AAA]\n    eligible: 'true'\n")
	closed := fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d", testenv.FreePort(t))
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		want     string // in stderr
	}{
		{name: "no REDIS_URL", args: []string{"--since", "7d"}, wantCode: 2, want: "REDIS_URL: required"},
		{name: "bad format", args: []string{"--format", "csv"}, wantCode: 2, want: "--format must be text or json or html"},
		{name: "html to stdout", args: []string{"--format", "html"}, wantCode: 2, want: "--format html needs --out FILE"},
		{name: "bad since", args: []string{"--since", "lately"}, wantCode: 2, want: `--since: invalid duration "lately"`},
		{name: "empty window", args: []string{"--since", "0s"}, wantCode: 2, want: "--since: the window must be longer than nothing"},
		{name: "stray argument", args: []string{"readonly"}, wantCode: 2, want: `unexpected argument "readonly"`},
		{name: "unknown flag", args: []string{"--role", "readonly"}, wantCode: 2, want: "flag provided but not defined: -role"},
		{name: "bad catalog", env: []string{closed, "JIT_RULES=" + bad}, wantCode: 2, want: bad + `:3: role prod-ro: unknown backend "aws_ssm"`},
		{name: "redis down", env: []string{closed}, wantCode: 1, want: "connect to REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, cleanEnv(tt.env...), append([]string{"report"}, tt.args...)...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.wantCode, tt.want)
			}
		})
	}
	if r := runBinary(t, cleanEnv(), "report", "--help"); r.code != 0 || !strings.Contains(r.stdout, "usage: jitbot report") {
		t.Errorf("report --help: %+v", r)
	}
}

// TestSlackReportForApprovers: /jit report answers approvers with the
// report and its chart, a PNG in their DM, and everyone else with why
// not. When the upload fails, the text still arrives and the failure is
// logged.
func TestSlackReportForApprovers(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	b.approvalDM(t, "ULEAD1", id)
	got := b.command(t, "ULEAD1", "report 1h")
	for _, want := range []string{"```", "admin", "readonly"} {
		if !strings.Contains(got, want) {
			t.Errorf("/jit report for an approver lacks %q: %s", want, got)
		}
	}
	var chart slackfake.File
	b.slack.WaitFor(t, "the report chart in ULEAD1's DM", 10*time.Second, func() bool {
		files := b.slack.Files("ULEAD1")
		if len(files) > 0 {
			chart = files[0]
		}
		return len(files) > 0
	})
	if !bytes.HasPrefix(chart.Data, []byte("\x89PNG\r\n\x1a\n")) || chart.Name != "access-report.png" {
		t.Errorf("the file in ULEAD1's DM is %q, %d bytes starting %q; want a PNG image", chart.Name, len(chart.Data), chart.Data[:min(8, len(chart.Data))])
	}
	if got := b.command(t, "UBOB", "report"); !strings.Contains(got, "you approve none") {
		t.Errorf("/jit report for a non-approver: %s", got)
	}
	if n := len(b.slack.Files("")); n != 1 {
		t.Errorf("%d files shared; only the approver's report has a chart", n)
	}

	b.slack.FailNext("files.completeUploadExternal", 1, "internal_error")
	if got := b.command(t, "ULEAD1", "report 1h"); !strings.Contains(got, "admin") {
		t.Errorf("/jit report when the upload fails: %s", got)
	}
	b.slack.WaitFor(t, "the failed upload in the log", 10*time.Second, func() bool {
		return strings.Contains(b.logs.text(), "upload the report chart")
	})
	if n := len(b.slack.Files("ULEAD1")); n != 1 {
		t.Errorf("%d charts in ULEAD1's DM after a failed upload, want the first only", n)
	}
}

// TestReportHTMLThroughTheBinary runs jitbot report --format html --out
// on a real history (an approved grant and a break-glass grant of
// readonly, a denial of admin) and loads the page in Chromium: it loads
// without an error, and its timeline and tables have the grants and the
// decision the history made.
func TestReportHTMLThroughTheBinary(t *testing.T) {
	b := startBot(t)
	approved := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", approved), "jit_approve", approved)
	b.dmWith(t, "UALICE", approved, "export AWS_SESSION_TOKEN=")
	denied := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	b.denyWithReason(t, "ULEAD2", b.approvalDM(t, "ULEAD2", denied), denied, "use the read replica dashboard instead")
	breakGlass := requestID(t, b.command(t, "UBOB", "request readonly 20m --incident INC-42 database on fire"))
	b.dmWith(t, "UBOB", breakGlass, "export AWS_SESSION_TOKEN=")
	b.waitAudit(t, approved, 3)   // requested, approved, granted
	b.waitAudit(t, denied, 2)     // requested, denied
	b.waitAudit(t, breakGlass, 3) // requested, auto-approved, granted

	file := filepath.Join(t.TempDir(), "report.html")
	out := runBinary(t, cleanEnv("REDIS_URL="+b.redis.URL(), "JIT_RULES="+b.catalog), "report", "--since", "1h", "--format", "html", "--out", file)
	if out.code != 0 || out.stdout != "" {
		t.Fatalf("report --format html: %+v", out)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the page is %d bytes", len(body))

	// A file that cannot be written is exit 1, and leaves nothing behind.
	missing := filepath.Join(t.TempDir(), "no-such-dir", "report.html")
	if bad := runBinary(t, cleanEnv("REDIS_URL="+b.redis.URL(), "JIT_RULES="+b.catalog), "report", "--format", "html", "--out", missing); bad.code != 1 || !strings.Contains(bad.stderr, "write "+missing) {
		t.Errorf("report --out into a missing directory: %+v; want exit 1 naming the file", bad)
	}

	br := testenv.StartBrowser(t)
	ctx := br.Context(t, time.Minute)
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitReady("#hours-table")); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	type counts struct{ Bars, BreakGlass, Decisions, Days int }
	got, err := chromedp.Run(ctx, chromedp.Evaluate[counts](`({
		Bars: document.querySelectorAll('#timeline rect.grant').length,
		BreakGlass: document.querySelectorAll('#timeline rect.grant.break-glass').length,
		Decisions: document.querySelectorAll('#decisions-table tbody tr').length,
		Days: document.querySelectorAll('#per-day-table tbody tr').length,
	})`))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	// Two grants, one of them break-glass; two decisions by people (the
	// approval and the denial); a one-hour window touches one or two days.
	if got.Bars != 2 || got.BreakGlass != 1 || got.Decisions != 2 || got.Days < 1 || got.Days > 2 {
		t.Errorf("the page shows %+v; want 2 grants, 1 break-glass, 2 decisions, 1 or 2 days", got)
	}
	if errs := br.Errors(); len(errs) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
