package report

import (
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
)

// TestActivityScriptedHistory checks the detail of history() against
// figures worked out by hand from its entries (minutes from since; the
// window's first UTC day ends at minute 720).
func TestActivityScriptedHistory(t *testing.T) {
	entries := history()
	r1 := req{id: "JIT-R1", role: "readonly", who: "UALICE"}
	looked := r1.grant("usage", 200, 64.5, 124.5, 124.5, false)
	looked.Outcome = "never used (after CloudTrail's delivery delay)"
	entries = append(entries, looked)
	a := Build(entries, catalog, since, now).Activity

	type span struct {
		id          string
		start, end  float64
		bg, third   bool
		running     bool
		neverUsed   bool
		hasLookedUp bool
	}
	want := []span{ // by role, requester, start
		{id: "JIT-A1", start: 520.5, end: 580.5},
		{id: "JIT-A2", start: 1392, end: 1440, running: true},
		{id: "JIT-A0", start: 0, end: 30}, // granted before the window
		{id: "JIT-R1", start: 64.5, end: 124.5, neverUsed: true, hasLookedUp: true},
		{id: "JIT-R2", start: 130, end: 140, hasLookedUp: false}, // its usage entry has no summary
		{id: "JIT-R3", start: 200, end: 220, bg: true},
		{id: "JIT-R4", start: 210, end: 250, bg: true},
		{id: "JIT-R7", start: 5, end: 65},
		{id: "JIT-V1", start: 815, end: 845, third: true},
	}
	var got []span
	for _, g := range a.Grants {
		got = append(got, span{id: g.RequestID, start: g.Start.Sub(since).Minutes(), end: g.End.Sub(since).Minutes(),
			bg: g.BreakGlass, third: g.ThirdParty, running: g.Running, neverUsed: g.NeverUsed(), hasLookedUp: g.Usage != ""})
	}
	if !slices.Equal(got, want) {
		t.Errorf("grants =\n%+v\nwant\n%+v", got, want)
	}

	wantDays := []map[Outcome]int{
		{OutcomeApproved: 3, OutcomeBreakGlass: 2, OutcomeDenied: 1, OutcomeTimedOut: 1, OutcomeCancelled: 1, OutcomeFailed: 1},
		{OutcomeApproved: 2, OutcomeTimedOut: 1},
	}
	if len(a.Days) != len(wantDays) {
		t.Fatalf("%d days, want %d: %+v", len(a.Days), len(wantDays), a.Days)
	}
	for i, d := range a.Days {
		if !d.Day.Equal(since.Truncate(24*time.Hour).AddDate(0, 0, i)) {
			t.Errorf("day %d is %v", i, d.Day)
		}
		for _, o := range Outcomes {
			if d.Counts[o] != wantDays[i][o] {
				t.Errorf("day %d: %d %s, want %d", i, d.Counts[o], o, wantDays[i][o])
			}
		}
	}

	type decision struct {
		id      string
		outcome Outcome
		minutes float64
	}
	wantDecisions := []decision{
		{"JIT-R1", OutcomeApproved, 4.5}, {"JIT-R2", OutcomeApproved, 10}, {"JIT-R5", OutcomeDenied, 5},
		{"JIT-A1", OutcomeApproved, 20.5}, {"JIT-A4", OutcomeFailed, 10}, {"JIT-V1", OutcomeApproved, 15},
		{"JIT-A2", OutcomeApproved, 12},
	}
	var gotDecisions []decision
	for _, d := range a.Decisions {
		gotDecisions = append(gotDecisions, decision{d.RequestID, d.Outcome, d.Seconds / 60})
	}
	if !slices.Equal(gotDecisions, wantDecisions) {
		t.Errorf("decisions = %v, want %v", gotDecisions, wantDecisions)
	}
}

// TestActivityExpiredWithoutEntry: a grant whose revoked entry is missing
// ends at its expiry, not at the end of the window.
func TestActivityExpiredWithoutEntry(t *testing.T) {
	r := req{id: "JIT-X1", role: "readonly", who: "UALICE"}
	a := Build([]auditlog.Entry{r.entry("requested", 10), r.grant("granted", 11, 11, 71, -1, false)}, catalog, since, now).Activity
	if len(a.Grants) != 1 || a.Grants[0].Running || !a.Grants[0].End.Equal(at(71)) {
		t.Errorf("grants = %+v; want one ending at its expiry, minute 71", a.Grants)
	}
}

// TestActivityWindowEndsAtMidnight: a window ending at midnight has no
// day for the one that starts then, and a request made at that instant
// counts on the day before.
func TestActivityWindowEndsAtMidnight(t *testing.T) {
	from := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	to := from.Add(48 * time.Hour)
	r := req{id: "JIT-M1", role: "readonly", who: "UALICE"}
	e := r.entry("requested", 0)
	e.At = to
	days := Build([]auditlog.Entry{e}, catalog, from, to).Activity.Days
	if len(days) != 2 || days[1].Counts[OutcomePending] != 1 {
		t.Errorf("days = %+v; want 2 days, the request pending on the second", days)
	}
}
