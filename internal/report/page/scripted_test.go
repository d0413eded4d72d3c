package page

import (
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/report"
)

// The scripted log: a window of three days, and requests that end every
// way a request can. Times are hours from since.
var (
	since = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	now   = since.Add(72 * time.Hour)
)

func at(h float64) time.Time { return since.Add(time.Duration(h * float64(time.Hour))) }

// evil is a role name and a requester that would run script if the page
// did not escape them.
const (
	evilRole = `<script>window.pwned=1</script>db-admin`
	evilWho  = `U"><img src=x onerror="window.pwned=2">`
)

// script is one request of the scripted log: asked at hour, decided (or
// ended otherwise) at decide, held from decide to end when granted.
type script struct {
	role, who   string
	third       bool
	outcome     report.Outcome
	hour        float64
	decide, end float64
	neverUsed   bool
}

var scripted = []script{
	{role: "readonly", who: "UALICE", outcome: report.OutcomeApproved, hour: 1, decide: 1.1, end: 2, neverUsed: true},
	{role: "readonly", who: "UALICE", outcome: report.OutcomeApproved, hour: 5, decide: 5.5, end: 6},
	{role: "readonly", who: "UBOB", outcome: report.OutcomeBreakGlass, hour: 7, decide: 7, end: 8},
	{role: "admin", who: "UCAROL", outcome: report.OutcomeDenied, hour: 9, decide: 9.2},
	{role: "admin", who: "UCAROL", outcome: report.OutcomeApproved, hour: 10, decide: 12, end: 14},
	{role: "vendor", who: "UVIC", third: true, outcome: report.OutcomeApproved, hour: 26, decide: 26.3, end: 27, neverUsed: true},
	{role: "vendor", who: "UVIC", third: true, outcome: report.OutcomeTimedOut, hour: 30, decide: 31},
	{role: "ops", who: "UDAVE", outcome: report.OutcomeCancelled, hour: 33, decide: 33.1},
	{role: "admin", who: "UERIN", outcome: report.OutcomeFailed, hour: 50, decide: 50.05},
	{role: evilRole, who: evilWho, outcome: report.OutcomeApproved, hour: 52, decide: 52.01, end: 60},
	{role: "admin", who: "UFRANK", outcome: report.OutcomeBreakGlass, hour: 70, decide: 70, end: 75}, // still running at now
	{role: "readonly", who: "UBOB", outcome: report.OutcomePending, hour: 71.5},
}

var scriptedCatalog = []string{"admin", "ops", "pager", "readonly", "vendor"}

// entries are the audit entries jitbot would have written for scripted.
func entries() []auditlog.Entry {
	var out []auditlog.Entry
	for i, s := range scripted {
		base := auditlog.Entry{RequestID: fmt.Sprintf("JIT-S%02d", i), Role: s.role, Requester: s.who,
			RequesterEmail: strings.ToLower(strings.TrimPrefix(s.who, "U")) + "@example.com", ThirdParty: s.third}
		e := func(typ string, h float64) auditlog.Entry {
			x := base
			x.Type, x.At = typ, at(h)
			return x
		}
		out = append(out, e("requested", s.hour))
		grant := func(typ string, h float64, auto, ended bool) auditlog.Entry {
			x := e(typ, h)
			x.GrantedAt, x.ExpiresAt, x.AutoApproved = at(s.decide), at(s.end), auto
			if ended {
				x.EndedAt = at(s.end)
			}
			return x
		}
		switch s.outcome {
		case report.OutcomeApproved, report.OutcomeBreakGlass:
			auto := s.outcome == report.OutcomeBreakGlass
			if auto {
				out = append(out, e("auto_approved", s.decide))
			} else {
				out = append(out, e("approved", s.decide))
			}
			out = append(out, grant("granted", s.decide, auto, false), grant("revoked", s.end, auto, true))
			if s.neverUsed {
				u := grant("usage", s.end+0.25, auto, true)
				u.Outcome = "never used (after CloudTrail's delivery delay)"
				out = append(out, u)
			}
		case report.OutcomeDenied:
			out = append(out, e("denied", s.decide))
		case report.OutcomeTimedOut:
			out = append(out, e("timed_out", s.decide))
		case report.OutcomeCancelled:
			out = append(out, e("cancelled", s.decide))
		case report.OutcomeFailed:
			out = append(out, e("approved", s.decide), e("grant_failed", s.decide))
		}
	}
	return out
}

// expected are the figures the page must show, worked out from scripted
// alone, not from report.Build or the renderer.
type expected struct {
	grants, rows, decisions, neverUsed, days, hoursBars int
	breakGlass, thirdParty                              int                    // grants
	dayBars                                             map[report.Outcome]int // (day, outcome) pairs with a request
	decisionBars                                        map[report.Outcome]int // (bucket, outcome) pairs with a decision
}

func expect() expected {
	x := expected{days: 3, dayBars: map[report.Outcome]int{}, decisionBars: map[report.Outcome]int{}}
	rows, roles := map[string]bool{}, map[string]bool{}
	dayPairs, bucketPairs := map[string]bool{}, map[string]bool{}
	for _, s := range scripted {
		if k := fmt.Sprint(int(s.hour/24), s.outcome); !dayPairs[k] {
			dayPairs[k] = true
			x.dayBars[s.outcome]++
		}
		switch s.outcome {
		case report.OutcomeApproved, report.OutcomeBreakGlass:
			x.grants++
			if s.outcome == report.OutcomeBreakGlass {
				x.breakGlass++
			}
			if s.third {
				x.thirdParty++
			}
			rows[s.role+"/"+s.who] = true
			roles[s.role] = true
		}
		if s.neverUsed {
			x.neverUsed++
		}
		switch s.outcome {
		case report.OutcomeApproved, report.OutcomeDenied, report.OutcomeFailed:
			x.decisions++
			// The buckets by hand: under 1m, 1-5m, 5-15m, 15m-1h, 1-4h, more.
			mins := (s.decide - s.hour) * 60
			b := 0
			for _, limit := range []float64{1, 5, 15, 60, 240} {
				if mins >= limit {
					b++
				}
			}
			if k := fmt.Sprint(b, s.outcome); !bucketPairs[k] {
				bucketPairs[k] = true
				x.decisionBars[s.outcome]++
			}
		}
	}
	x.rows, x.hoursBars = len(rows), min(len(roles), TopRoles)
	return x
}
