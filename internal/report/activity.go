package report

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
)

// Activity is the report's detail over time, what the charts of the HTML
// report draw: every grant held in the window, the requests of each day
// by how they ended, and how long each took to decide.
type Activity struct {
	// Grants are the grants held at some time in the window, clipped to
	// it, sorted by role, requester, account and start.
	Grants []Grant `json:"grants"`
	// Days are the UTC days the window touches, oldest first, with the
	// requests made on each by outcome.
	Days []Day `json:"days"`
	// Decisions are the requests made in the window that a person
	// decided (approved, or denied), oldest first. Break-glass grants,
	// timeouts and withdrawals have no decision.
	Decisions []Decision `json:"decisions"`
}

// Grant is one grant's time within the window.
type Grant struct {
	RequestID string    `json:"request_id"`
	Role      string    `json:"role"`
	Account   string    `json:"account,omitempty"`
	Requester string    `json:"requester"` // Slack user ID
	Email     string    `json:"email,omitempty"`
	Start     time.Time `json:"start"` // GrantedAt, or the window's start
	End       time.Time `json:"end"`   // when it ended, or the window's end
	// Running: the grant had not ended by the end of the window.
	Running    bool `json:"running,omitempty"`
	BreakGlass bool `json:"break_glass,omitempty"`
	ThirdParty bool `json:"third_party,omitempty"`
	// Usage is the latest CloudTrail summary of the grant ("never used",
	// or the calls made), empty when nobody looked (JIT_USAGE_LOOKUP off,
	// or the look is still to come).
	Usage string `json:"usage,omitempty"`
}

// NeverUsed says CloudTrail's latest look found no call at all.
func (g Grant) NeverUsed() bool { return strings.HasPrefix(g.Usage, "never used") }

// Outcome is how a request ended.
type Outcome string

// The outcomes of a request, in the order the report lists them.
const (
	OutcomeApproved   Outcome = "approved"
	OutcomeBreakGlass Outcome = "break-glass"
	OutcomeDenied     Outcome = "denied"
	OutcomeTimedOut   Outcome = "timed out"
	OutcomeCancelled  Outcome = "cancelled"
	OutcomeFailed     Outcome = "failed" // approved, but AWS did not issue the access
	OutcomePending    Outcome = "pending"
)

// Outcomes are all outcomes, in the order the report lists them.
var Outcomes = []Outcome{OutcomeApproved, OutcomeBreakGlass, OutcomeDenied, OutcomeTimedOut, OutcomeCancelled, OutcomeFailed, OutcomePending}

// Day is one UTC day's requests by outcome; a request counts on the day
// it was made, whenever it ended.
type Day struct {
	Day    time.Time       `json:"day"`
	Counts map[Outcome]int `json:"counts"`
}

// Total is the day's number of requests.
func (d Day) Total() int {
	n := 0
	for _, c := range d.Counts {
		n += c
	}
	return n
}

// Decision is the time from a request to the decision on it.
type Decision struct {
	RequestID   string    `json:"request_id"`
	Role        string    `json:"role"`
	Requester   string    `json:"requester"`
	RequestedAt time.Time `json:"requested_at"`
	Outcome     Outcome   `json:"outcome"` // approved, denied or failed
	Seconds     float64   `json:"seconds"`
}

// terminal maps the entry types that end a pending request to the
// outcome they give it (granted: approved, or break-glass when auto).
var terminal = map[grants.EventType]Outcome{
	grants.EventGranted: OutcomeApproved, grants.EventDenied: OutcomeDenied,
	grants.EventTimedOut: OutcomeTimedOut, grants.EventCancelled: OutcomeCancelled,
	grants.EventGrantFailed: OutcomeFailed,
}

// buildActivity gathers the Activity of [since, now] from entries (in any
// order); latest is each grant's last entry that describes it, as Build
// finds them.
func buildActivity(entries []auditlog.Entry, latest map[string]auditlog.Entry, since, now time.Time) Activity {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b auditlog.Entry) int { return a.At.Compare(b.At) })

	requested := map[string]auditlog.Entry{} // in the window
	ended := map[string]auditlog.Entry{}     // the first terminal entry of a request
	usage := map[string]string{}
	third := map[string]bool{}
	for _, e := range sorted {
		if e.Role == "" || e.At.After(now) {
			continue
		}
		third[e.RequestID] = third[e.RequestID] || e.ThirdParty
		typ := grants.EventType(e.Type)
		switch _, isTerminal := terminal[typ]; {
		case typ == grants.EventRequested && !e.At.Before(since):
			requested[e.RequestID] = e
		case typ == grants.EventUsage:
			usage[e.RequestID] = e.Outcome
		case isTerminal:
			if _, ok := ended[e.RequestID]; !ok {
				ended[e.RequestID] = e
			}
		}
	}
	return Activity{
		Grants:    grantSpans(latest, usage, third, since, now),
		Days:      days(requested, ended, since, now),
		Decisions: decisions(requested, ended),
	}
}

// outcome is how the request ended, given its first terminal entry.
func outcome(end auditlog.Entry, ok bool) Outcome {
	if !ok {
		return OutcomePending
	}
	o := terminal[grants.EventType(end.Type)]
	if o == OutcomeApproved && end.AutoApproved {
		return OutcomeBreakGlass
	}
	return o
}

func grantSpans(latest map[string]auditlog.Entry, usage map[string]string, third map[string]bool, since, now time.Time) []Grant {
	out := []Grant{}
	for id, e := range latest {
		start, end, running := heldWithin(e, since, now)
		g := Grant{
			RequestID: id, Role: e.Role, Account: e.Account, Requester: e.Requester, Email: e.RequesterEmail,
			Start: start.UTC(), End: end.UTC(), Running: running,
			BreakGlass: e.AutoApproved, ThirdParty: third[id], Usage: usage[id],
		}
		if g.End.After(g.Start) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b Grant) int {
		return cmp.Or(cmp.Compare(a.Role, b.Role), cmp.Compare(a.Requester, b.Requester),
			cmp.Compare(a.Account, b.Account), a.Start.Compare(b.Start), cmp.Compare(a.RequestID, b.RequestID))
	})
	return out
}

func days(requested, ended map[string]auditlog.Entry, since, now time.Time) []Day {
	first := since.UTC().Truncate(24 * time.Hour)
	var out []Day
	// A window ending at midnight does not touch the day that starts then.
	for d := first; d.Before(now) || d.Equal(first); d = d.Add(24 * time.Hour) {
		out = append(out, Day{Day: d, Counts: map[Outcome]int{}})
	}
	for id, e := range requested {
		end, ok := ended[id]
		i := min(int(e.At.UTC().Sub(first)/(24*time.Hour)), len(out)-1) // a request at midnight, at now
		out[i].Counts[outcome(end, ok)]++
	}
	return out
}

func decisions(requested, ended map[string]auditlog.Entry) []Decision {
	out := []Decision{}
	for id, r := range requested {
		end, ok := ended[id]
		o := outcome(end, ok)
		if o != OutcomeApproved && o != OutcomeDenied && o != OutcomeFailed {
			continue
		}
		at := end.At
		if o == OutcomeApproved && !end.GrantedAt.IsZero() {
			at = end.GrantedAt // as TimeToApproval counts it
		}
		out = append(out, Decision{RequestID: id, Role: r.Role, Requester: r.Requester, RequestedAt: r.At.UTC(),
			Outcome: o, Seconds: max(at.Sub(r.At), 0).Seconds()})
	}
	slices.SortFunc(out, func(a, b Decision) int {
		return cmp.Or(a.RequestedAt.Compare(b.RequestedAt), cmp.Compare(a.RequestID, b.RequestID))
	})
	return out
}
