// Package report turns the durable audit log into an access report: per
// role, how often it was asked for and how those requests ended, how long
// people waited for approval, how many hours of elevated access were held,
// who asks most, and which roles nobody asked for (candidates for
// removal). Requests are telemetry; this is where they show.
//
// Build is pure: it reads only auditlog.Entry values, and a Report has no
// field that could hold a secret (counts, durations, role names, Slack
// IDs and emails).
package report

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
)

// TopRequesters is how many requesters a role lists, most requests first.
const TopRequesters = 5

// Report covers the window [Since, Until].
type Report struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Roles are the roles with anything to report in the window (a
	// counted event or elevated time), sorted by name. A catalog role
	// with nothing is only in NeverRequested.
	Roles []RoleStats `json:"roles"`
	// NeverRequested are the catalog roles with no request in the window,
	// sorted: candidates for removal.
	NeverRequested []string `json:"never_requested"`
	// Total adds up every role; its TimeToApproval and TopRequesters are
	// over all samples and requests, not sums of the roles'.
	Total RoleStats `json:"total"`
	// Activity is the detail over time that the HTML report charts.
	Activity Activity `json:"activity"`
}

// RoleStats is one role's figures. Every count is of audit entries whose
// time falls in the window, so a request made before the window and
// granted inside it counts as Granted (and for ElevatedHours) but not as a
// Request, and has no TimeToApproval sample.
type RoleStats struct {
	Role string `json:"role,omitempty"`
	// NotInCatalog marks a role that is in the log but no longer in the
	// catalog.
	NotInCatalog bool `json:"not_in_catalog,omitempty"`

	Requests   int `json:"requests"`    // `requested` entries, extensions included
	Extensions int `json:"extensions"`  // of which /jit extend
	ThirdParty int `json:"third_party"` // of which by guests or Slack Connect users
	Approvals  int `json:"approvals"`   // `approved` entries: one per approver's yes
	Refused    int `json:"refused"`     // clicks by people who may not decide
	Granted    int `json:"granted"`     // access issued, break-glass included
	BreakGlass int `json:"break_glass"` // `auto_approved` entries
	Denials    int `json:"denials"`
	Timeouts   int `json:"timeouts"`
	Cancelled  int `json:"cancelled"`
	Failed     int `json:"failed"` // `grant_failed`: approved, but AWS did not issue the access
	// UsageLooked and NeverUsed count grants whose use CloudTrail was
	// asked about (JIT_USAGE_LOOKUP) and, of those, the ones whose latest
	// look found no call at all: access nobody needed.
	UsageLooked int `json:"usage_looked"`
	NeverUsed   int `json:"never_used"`

	// TimeToApproval runs from a request's `requested` entry to the
	// GrantedAt of its `granted` entry, both in the window, for grants
	// people approved; break-glass grants are left out.
	TimeToApproval Latency `json:"time_to_approval"`
	// ElevatedHours is how long requesters held the role within the
	// window. A grant runs from GrantedAt to EndedAt or, while it has not
	// ended, to the earlier of ExpiresAt and the end of the window. The
	// grants of one requester for one role are merged before they are
	// added up: an extension overlaps the grant it extends, and the access
	// is the same.
	ElevatedHours float64     `json:"elevated_hours"`
	TopRequesters []Requester `json:"top_requesters"`
	// Accounts break the figures of a role granted per account (aws_sso)
	// down by AWS account, sorted by account ID; empty for other roles.
	Accounts []AccountStats `json:"accounts,omitempty"`
}

// AccountStats is one account's share of a role's figures, counted as
// the role's are.
type AccountStats struct {
	Account       string  `json:"account"` // the AWS account ID
	Requests      int     `json:"requests"`
	Granted       int     `json:"granted"`
	ElevatedHours float64 `json:"elevated_hours"`
}

// Latency summarises time-to-approval samples with nearest-rank
// percentiles: the p-th percentile of n sorted samples is the one at rank
// ⌈p·n/100⌉, always an observed value (the median of 2 samples is the
// smaller one).
type Latency struct {
	Samples       int     `json:"samples"`
	MedianSeconds float64 `json:"median_seconds"`
	P95Seconds    float64 `json:"p95_seconds"`
}

// Requester is someone who asked for a role, with how many times.
type Requester struct {
	ID       string `json:"id"` // Slack user ID
	Email    string `json:"email,omitempty"`
	Requests int    `json:"requests"`
}

// Build computes the report of the window [since, now] from entries (in
// any order). roles are the catalog's role names. Entries before since
// are read only for the grants they describe, so a caller should pass the
// entries from since minus the longest grant on, or a grant that started
// before the window and runs on without an entry inside it is missed.
// Entries after now are ignored.
func Build(entries []auditlog.Entry, roles []string, since, now time.Time) Report {
	inWindow := func(t time.Time) bool { return !t.Before(since) && !t.After(now) }
	accs := map[string]*acc{}
	total := newAcc("")
	role := func(name string) *acc {
		a := accs[name]
		if a == nil {
			a = newAcc(name)
			accs[name] = a
		}
		return a
	}

	requestedAt := map[string]time.Time{} // request ID → its `requested` entry, in the window
	var approved []auditlog.Entry         // `granted` entries of human-approved grants, in the window
	latest := map[string]auditlog.Entry{} // request ID → its last entry that describes a grant
	for _, e := range entries {
		if e.Role == "" || e.At.After(now) {
			continue
		}
		if e.RequestID != "" && !e.GrantedAt.IsZero() {
			if l, ok := latest[e.RequestID]; !ok || !e.At.Before(l.At) {
				latest[e.RequestID] = e
			}
		}
		if !inWindow(e.At) {
			continue
		}
		if !counted[grants.EventType(e.Type)] {
			continue
		}
		role(e.Role).count(e)
		total.count(e)
		switch grants.EventType(e.Type) {
		case grants.EventRequested:
			requestedAt[e.RequestID] = e.At
		case grants.EventGranted:
			if !e.AutoApproved {
				approved = append(approved, e)
			}
		}
	}

	for _, e := range approved {
		if at, ok := requestedAt[e.RequestID]; ok && !e.GrantedAt.Before(at) {
			d := e.GrantedAt.Sub(at)
			role(e.Role).waits = append(role(e.Role).waits, d)
			total.waits = append(total.waits, d)
		}
	}

	for h, d := range elevated(latest, since, now) {
		role(h.role).elevated += d
		total.elevated += d
		if h.account != "" {
			role(h.role).account(h.account).ElevatedHours += d.Hours()
		}
	}
	r := assemble(accs, total, roles, since, now)
	r.Activity = buildActivity(entries, latest, since, now)
	return r
}

// holder is one requester of one role, in one account for a role granted
// per account (grants in two accounts are two accesses).
type holder struct{ role, account, requester string }

// elevated is how long each holder held the role within [since, now]:
// one interval per grant (latest: its last entry), clipped to the window,
// merged per requester and role.
func elevated(latest map[string]auditlog.Entry, since, now time.Time) map[holder]time.Duration {
	held := map[holder][]interval{}
	for _, e := range latest {
		start, end, _ := heldWithin(e, since, now)
		iv := interval{start, end}
		if iv.end.After(iv.start) {
			h := holder{e.Role, e.Account, e.Requester}
			held[h] = append(held[h], iv)
		}
	}
	out := make(map[holder]time.Duration, len(held))
	for h, ivs := range held {
		out[h] = union(ivs)
	}
	return out
}

// heldWithin is the part of a grant (e, its latest entry) within
// [since, now], and whether it is still held at now: a grant with no end
// recorded runs until now, or until its expiry if that has passed.
func heldWithin(e auditlog.Entry, since, now time.Time) (start, end time.Time, running bool) {
	end = e.EndedAt
	if end.IsZero() || end.After(now) {
		end, running = now, true
		if !e.ExpiresAt.IsZero() && e.ExpiresAt.Before(now) {
			end, running = e.ExpiresAt, false
		}
	}
	return maxTime(e.GrantedAt, since), minTime(end, now), running
}

// assemble is the report of the gathered figures: every role with any,
// sorted, and the catalog roles nobody asked for.
func assemble(accs map[string]*acc, total *acc, roles []string, since, now time.Time) Report {
	inCatalog := map[string]bool{}
	for _, name := range roles {
		inCatalog[name] = true
	}
	r := Report{Since: since.UTC(), Until: now.UTC(), Roles: []RoleStats{}, NeverRequested: []string{}, Total: total.stats()}
	for _, a := range accs {
		s := a.stats()
		s.NotInCatalog = !inCatalog[a.Role]
		r.Roles = append(r.Roles, s)
	}
	slices.SortFunc(r.Roles, func(a, b RoleStats) int { return cmp.Compare(a.Role, b.Role) })
	for name := range inCatalog {
		if a := accs[name]; a == nil || a.Requests == 0 {
			r.NeverRequested = append(r.NeverRequested, name)
		}
	}
	slices.Sort(r.NeverRequested)
	return r
}

// counted are the entry types that add to a count; the others (revoked,
// expiring, reviewed, usage, …) only describe grants.
var counted = map[grants.EventType]bool{
	grants.EventRequested: true, grants.EventApproved: true, grants.EventRefused: true,
	grants.EventGranted: true, grants.EventAutoApproved: true, grants.EventDenied: true,
	grants.EventTimedOut: true, grants.EventCancelled: true, grants.EventGrantFailed: true,
	grants.EventUsage: true,
}

// acc gathers one role's figures (or all roles', for the total).
type acc struct {
	RoleStats
	waits      []time.Duration
	elevated   time.Duration
	requesters map[string]*Requester
	neverUsed  map[string]bool // by request ID: the latest usage look found nothing
	accounts   map[string]*AccountStats
}

// account is the role's figures in the AWS account id.
func (a *acc) account(id string) *AccountStats {
	s := a.accounts[id]
	if s == nil {
		s = &AccountStats{Account: id}
		a.accounts[id] = s
	}
	return s
}

func newAcc(role string) *acc {
	return &acc{RoleStats: RoleStats{Role: role}, requesters: map[string]*Requester{}, neverUsed: map[string]bool{}, accounts: map[string]*AccountStats{}}
}

// count adds one entry of a counted type.
func (a *acc) count(e auditlog.Entry) {
	switch grants.EventType(e.Type) {
	case grants.EventRequested:
		a.Requests++
		if e.Account != "" {
			a.account(e.Account).Requests++
		}
		if e.Extends != "" {
			a.Extensions++
		}
		if e.ThirdParty {
			a.ThirdParty++
		}
		r := a.requesters[e.Requester]
		if r == nil {
			r = &Requester{ID: e.Requester}
			a.requesters[e.Requester] = r
		}
		r.Requests++
		if r.Email == "" {
			r.Email = e.RequesterEmail
		}
	case grants.EventApproved:
		a.Approvals++
	case grants.EventRefused:
		a.Refused++
	case grants.EventGranted:
		a.Granted++
		if e.Account != "" {
			a.account(e.Account).Granted++
		}
	case grants.EventAutoApproved:
		a.BreakGlass++
	case grants.EventDenied:
		a.Denials++
	case grants.EventTimedOut:
		a.Timeouts++
	case grants.EventCancelled:
		a.Cancelled++
	case grants.EventGrantFailed:
		a.Failed++
	case grants.EventUsage:
		a.neverUsed[e.RequestID] = strings.HasPrefix(e.Outcome, "never used")
	}
}

func (a *acc) stats() RoleStats {
	s := a.RoleStats
	s.TimeToApproval = latency(a.waits)
	s.UsageLooked = len(a.neverUsed)
	for _, never := range a.neverUsed {
		if never {
			s.NeverUsed++
		}
	}
	s.ElevatedHours = a.elevated.Hours()
	s.TopRequesters = []Requester{}
	for _, r := range a.requesters {
		s.TopRequesters = append(s.TopRequesters, *r)
	}
	slices.SortFunc(s.TopRequesters, func(x, y Requester) int {
		return cmp.Or(cmp.Compare(y.Requests, x.Requests), cmp.Compare(x.ID, y.ID))
	})
	if len(s.TopRequesters) > TopRequesters {
		s.TopRequesters = s.TopRequesters[:TopRequesters]
	}
	if s.Role != "" { // the total adds up roles, not accounts
		for _, id := range slices.Sorted(maps.Keys(a.accounts)) {
			s.Accounts = append(s.Accounts, *a.accounts[id])
		}
	}
	return s
}

func latency(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	return Latency{
		Samples:       len(sorted),
		MedianSeconds: percentile(sorted, 50).Seconds(),
		P95Seconds:    percentile(sorted, 95).Seconds(),
	}
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted, which must be sorted and not empty: the sample at rank
// ⌈p·n/100⌉.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[min(max(rank, 1), len(sorted))-1]
}

type interval struct{ start, end time.Time }

// union is the time covered by ivs, overlaps counted once.
func union(ivs []interval) time.Duration {
	slices.SortFunc(ivs, func(a, b interval) int { return a.start.Compare(b.start) })
	var total time.Duration
	cur := ivs[0]
	for _, iv := range ivs[1:] {
		if iv.start.After(cur.end) {
			total += cur.end.Sub(cur.start)
			cur = iv
			continue
		}
		cur.end = maxTime(cur.end, iv.end)
	}
	return total + cur.end.Sub(cur.start)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
