package report

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// since is the start of every test window; times in the tests are minutes
// from it (negative: before the window). now is a day later.
var (
	since = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	now   = since.Add(24 * time.Hour)
)

func at(min float64) time.Time { return since.Add(time.Duration(min * float64(time.Minute))) }

// req is one request of a scripted history; its methods write the entries
// jitbot would append for it.
type req struct {
	id, role, who string
	third         bool
	extends       string
}

func (r req) entry(typ string, min float64) auditlog.Entry {
	return auditlog.Entry{
		Type: typ, At: at(min), RequestID: r.id, Requester: r.who,
		RequesterEmail: strings.ToLower(strings.TrimPrefix(r.who, "U")) + "@example.com",
		ThirdParty:     r.third, Role: r.role, Extends: r.extends,
		Reason: "fixing INC-42 replica lag", Backend: "aws_sts",
	}
}

// grant is an entry written while the request holds (or held) access:
// granted at g, expiring at x, ended at end (-1: not yet).
func (r req) grant(typ string, min, g, x, end float64, auto bool) auditlog.Entry {
	e := r.entry(typ, min)
	e.GrantedAt, e.ExpiresAt, e.AutoApproved = at(g), at(x), auto
	if end >= 0 {
		e.EndedAt = at(end)
	}
	return e
}

// history is 12 requests in the window over three roles, plus two made
// before it, with every way a request can end.
func history() []auditlog.Entry {
	var (
		r1 = req{id: "JIT-R1", role: "readonly", who: "UALICE"}
		r2 = req{id: "JIT-R2", role: "readonly", who: "UALICE"}
		r3 = req{id: "JIT-R3", role: "readonly", who: "UBOB"}
		r4 = req{id: "JIT-R4", role: "readonly", who: "UBOB", extends: "JIT-R3"}
		r5 = req{id: "JIT-R5", role: "readonly", who: "UCAROL"}
		r6 = req{id: "JIT-R6", role: "readonly", who: "UALICE"}
		r7 = req{id: "JIT-R7", role: "readonly", who: "UDAVE"} // requested before the window

		a0 = req{id: "JIT-A0", role: "admin", who: "UFRANK"} // granted before the window
		a1 = req{id: "JIT-A1", role: "admin", who: "UALICE"}
		a2 = req{id: "JIT-A2", role: "admin", who: "UBOB"}
		a3 = req{id: "JIT-A3", role: "admin", who: "UERIN"}
		a4 = req{id: "JIT-A4", role: "admin", who: "UALICE"}

		v1 = req{id: "JIT-V1", role: "vendor", who: "UVIC", third: true}
		v2 = req{id: "JIT-V2", role: "vendor", who: "UWALT", third: true}
	)
	return []auditlog.Entry{
		a0.entry("requested", -180),
		a0.entry("approved", -175),
		a0.entry("approved", -170),
		a0.grant("granted", -170, -170, 30, -1, false),
		r7.entry("requested", -20),

		r7.entry("approved", 5),
		r7.grant("granted", 5, 5, 65, -1, false),
		a0.grant("revoked", 30, -170, 30, 30, false),
		r1.entry("requested", 60),
		r1.entry("approved", 64),
		r1.grant("granted", 64, 64.5, 124.5, -1, false),
		r7.grant("revoked", 65, 5, 65, 65, false),
		r1.grant("expiring", 114.5, 64.5, 124.5, -1, false),
		r2.entry("requested", 120),
		r1.grant("revoked", 124.5, 64.5, 124.5, 124.5, false),
		r2.entry("approved", 130),
		r2.grant("granted", 130, 130, 160, -1, false),
		r2.grant("revoked", 140, 130, 160, 140, false),
		r2.grant("usage", 150, 130, 160, 140, false),
		r3.entry("requested", 200),
		r3.entry("auto_approved", 200),
		r3.grant("granted", 200, 200, 220, -1, true),
		r4.entry("requested", 210),
		r4.entry("auto_approved", 210),
		r4.grant("granted", 210, 210, 250, -1, true),
		r3.grant("reviewed", 215, 200, 220, -1, true),
		r3.grant("revoked", 220, 200, 220, 220, true),
		r4.grant("revoked", 250, 210, 250, 250, true),
		r5.entry("requested", 300),
		r5.entry("denied", 305),
		r6.entry("requested", 400),
		r6.entry("timed_out", 430),
		a1.entry("requested", 500),
		a1.entry("approved", 510),
		a1.entry("approved", 520),
		a1.grant("granted", 520, 520.5, 580.5, -1, false),
		a1.grant("revoked", 580.5, 520.5, 580.5, 580.5, false),
		a3.entry("requested", 600),
		a3.entry("cancelled", 610),
		a4.entry("requested", 700),
		a4.entry("approved", 705),
		a4.entry("refused", 706),
		a4.entry("approved", 710),
		a4.entry("grant_failed", 710),
		a4.entry("revoked", 711),
		v1.entry("requested", 800),
		v1.entry("approved", 810),
		v1.entry("approved", 815),
		v1.grant("granted", 815, 815, 845, -1, false),
		v1.grant("revoked", 845, 815, 845, 845, false),
		v2.entry("requested", 900),
		v2.entry("timed_out", 930),
		a2.entry("requested", 1380),
		a2.entry("approved", 1390),
		a2.entry("approved", 1392),
		a2.grant("granted", 1392, 1392, 1512, -1, false),
		// After now: a report run at now has not seen it yet.
		a2.grant("revoked", 1512, 1392, 1512, 1512, false),
	}
}

var catalog = []string{"admin", "ops", "pager", "readonly", "vendor"}

func min2s(m float64) float64 { return m * 60 }

func TestReportScriptedHistory(t *testing.T) {
	want := Report{
		Since: since, Until: now,
		Roles: []RoleStats{
			{
				Role: "admin",
				// a1, a2, a3, a4; a0 was requested before the window.
				Requests: 4,
				// 2 each for a1, a2, a4 (the refused click is not one).
				Approvals: 6, Refused: 1,
				Granted: 2, Cancelled: 1, Failed: 1,
				// a1: 500 → 520.5 = 20m30s; a2: 1380 → 1392 = 12m.
				// Sorted [12m, 20m30s]: median rank ⌈1⌉ = 12m, p95 rank ⌈1.9⌉ = 20m30s.
				TimeToApproval: Latency{Samples: 2, MedianSeconds: min2s(12), P95Seconds: min2s(20.5)},
				// frank: a0 clipped to [0, 30] = 30m; alice: a1 520.5 → 580.5 = 60m
				// (a4 never granted); bob: a2 1392 → now (1440) = 48m.
				// 30 + 60 + 48 = 138m = 2.3h.
				ElevatedHours: 2.3,
				TopRequesters: []Requester{
					{ID: "UALICE", Email: "alice@example.com", Requests: 2},
					{ID: "UBOB", Email: "bob@example.com", Requests: 1},
					{ID: "UERIN", Email: "erin@example.com", Requests: 1},
				},
			},
			{
				Role: "readonly",
				// r1..r6; r4 is an extension; r7 was requested before the window.
				Requests: 6, Extensions: 1,
				// r1, r2, and r7's approval inside the window.
				Approvals: 3,
				// r1, r2, r7 approved; r3, r4 break-glass.
				Granted: 5, BreakGlass: 2,
				Denials: 1, Timeouts: 1,
				// r2's one CloudTrail look, which found calls.
				UsageLooked: 1,
				// r1: 60 → 64.5 = 4m30s; r2: 120 → 130 = 10m; r7's request
				// is outside the window, r3 and r4 are break-glass.
				// Median rank ⌈1⌉ = 4m30s, p95 rank ⌈1.9⌉ = 10m.
				TimeToApproval: Latency{Samples: 2, MedianSeconds: min2s(4.5), P95Seconds: min2s(10)},
				// alice: r1 64.5 → 124.5 = 60m, r2 130 → 140 (revoked early) = 10m;
				// bob: r3 [200, 220] ∪ r4 [210, 250] = [200, 250] = 50m, not 20 + 40;
				// dave: r7 5 → 65 = 60m. 70 + 50 + 60 = 180m = 3h.
				ElevatedHours: 3,
				TopRequesters: []Requester{
					{ID: "UALICE", Email: "alice@example.com", Requests: 3},
					{ID: "UBOB", Email: "bob@example.com", Requests: 2},
					{ID: "UCAROL", Email: "carol@example.com", Requests: 1},
				},
			},
			{
				Role:     "vendor",
				Requests: 2, ThirdParty: 2,
				Approvals: 2, Granted: 1, Timeouts: 1,
				// v1: 800 → 815 = 15m, the only sample.
				TimeToApproval: Latency{Samples: 1, MedianSeconds: min2s(15), P95Seconds: min2s(15)},
				// vic: 815 → 845 = 30m.
				ElevatedHours: 0.5,
				TopRequesters: []Requester{
					{ID: "UVIC", Email: "vic@example.com", Requests: 1},
					{ID: "UWALT", Email: "walt@example.com", Requests: 1},
				},
			},
		},
		NeverRequested: []string{"ops", "pager"},
		Total: RoleStats{
			// 4 + 6 + 2 requests, and so on down the roles above.
			Requests: 12, Extensions: 1, ThirdParty: 2,
			Approvals: 11, Refused: 1, // 6 + 3 + 2
			Granted: 8, BreakGlass: 2, // 2 + 5 + 1
			Denials: 1, Timeouts: 2, Cancelled: 1, Failed: 1,
			UsageLooked: 1,
			// [4m30s, 10m, 12m, 15m, 20m30s]: median rank ⌈2.5⌉ = 3rd = 12m,
			// p95 rank ⌈4.75⌉ = 5th = 20m30s.
			TimeToApproval: Latency{Samples: 5, MedianSeconds: min2s(12), P95Seconds: min2s(20.5)},
			ElevatedHours:  5.8, // 138 + 180 + 30 = 348m
			// alice 3 + 2, bob 2 + 1, then the ones at 1 by ID: walt is sixth.
			TopRequesters: []Requester{
				{ID: "UALICE", Email: "alice@example.com", Requests: 5},
				{ID: "UBOB", Email: "bob@example.com", Requests: 3},
				{ID: "UCAROL", Email: "carol@example.com", Requests: 1},
				{ID: "UERIN", Email: "erin@example.com", Requests: 1},
				{ID: "UVIC", Email: "vic@example.com", Requests: 1},
			},
		},
	}
	entries := history()
	got := Build(entries, catalog, since, now)
	compare(t, got, want)

	// The order of the entries does not matter.
	slices.Reverse(entries)
	compare(t, Build(entries, catalog, since, now), want)
}

// compare checks got against want, hours to the microsecond.
func compare(t *testing.T, got, want Report) {
	t.Helper()
	round := func(r *Report) {
		r.Total.ElevatedHours = math.Round(r.Total.ElevatedHours*1e6) / 1e6
		for i := range r.Roles {
			r.Roles[i].ElevatedHours = math.Round(r.Roles[i].ElevatedHours*1e6) / 1e6
		}
	}
	round(&got)
	round(&want)
	if got.Since != want.Since || got.Until != want.Until {
		t.Errorf("window = %v to %v, want %v to %v", got.Since, got.Until, want.Since, want.Until)
	}
	if !slices.Equal(got.NeverRequested, want.NeverRequested) {
		t.Errorf("never requested = %q, want %q", got.NeverRequested, want.NeverRequested)
	}
	if len(got.Roles) != len(want.Roles) {
		t.Errorf("%d roles, want %d: %+v", len(got.Roles), len(want.Roles), got.Roles)
	}
	for i := range min(len(got.Roles), len(want.Roles)) {
		if !reflect.DeepEqual(got.Roles[i], want.Roles[i]) {
			t.Errorf("role %d:\n got %+v\nwant %+v", i, got.Roles[i], want.Roles[i])
		}
	}
	if !reflect.DeepEqual(got.Total, want.Total) {
		t.Errorf("total:\n got %+v\nwant %+v", got.Total, want.Total)
	}
}

func TestReportRolesAndCatalog(t *testing.T) {
	legacy := req{id: "JIT-L1", role: "legacy", who: "UALICE"}
	ro := req{id: "JIT-R1", role: "readonly", who: "UBOB"}
	tests := []struct {
		name      string
		entries   []auditlog.Entry
		wantRoles []string // with "!" for not in the catalog
		wantNever []string
	}{
		{name: "empty log", wantNever: catalog},
		{
			name:      "a role gone from the catalog",
			entries:   []auditlog.Entry{legacy.entry("requested", 10), legacy.entry("denied", 11)},
			wantRoles: []string{"legacy!"},
			wantNever: catalog,
		},
		{
			name:      "requests before the window do not count",
			entries:   []auditlog.Entry{ro.entry("requested", -10), ro.entry("timed_out", -1)},
			wantNever: catalog,
		},
		{
			name:      "requests after now do not count",
			entries:   []auditlog.Entry{ro.entry("requested", 24*60+1)},
			wantNever: catalog,
		},
		{
			name:      "a decision inside the window lists the role, which still had no request",
			entries:   []auditlog.Entry{ro.entry("requested", -10), ro.entry("denied", 1)},
			wantRoles: []string{"readonly"},
			wantNever: catalog,
		},
		{
			name:      "entries that only describe a grant list nothing without elevated time",
			entries:   []auditlog.Entry{ro.entry("revoked", 5), ro.entry("reconciled", 6)},
			wantNever: catalog,
		},
		{
			name:      "a request at the window's first instant counts",
			entries:   []auditlog.Entry{ro.entry("requested", 0)},
			wantRoles: []string{"readonly"},
			wantNever: []string{"admin", "ops", "pager", "vendor"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(tt.entries, catalog, since, now)
			var roles []string
			for _, s := range r.Roles {
				name := s.Role
				if s.NotInCatalog {
					name += "!"
				}
				roles = append(roles, name)
			}
			if !slices.Equal(roles, tt.wantRoles) {
				t.Errorf("roles = %q, want %q", roles, tt.wantRoles)
			}
			if !slices.Equal(r.NeverRequested, tt.wantNever) {
				t.Errorf("never requested = %q, want %q", r.NeverRequested, tt.wantNever)
			}
		})
	}
}

func TestReportPercentile(t *testing.T) {
	secs := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Second)
		}
		return out
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       int
		want    time.Duration
	}{
		{name: "1 sample median", samples: secs(7), p: 50, want: 7 * time.Second},
		{name: "1 sample p95", samples: secs(7), p: 95, want: 7 * time.Second},
		// rank ⌈0.5·2⌉ = 1: nearest rank takes the lower, never averages.
		{name: "2 samples median", samples: secs(3, 9), p: 50, want: 3 * time.Second},
		{name: "2 samples p95", samples: secs(3, 9), p: 95, want: 9 * time.Second},                              // ⌈1.9⌉ = 2
		{name: "10 samples median", samples: secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), p: 50, want: 5 * time.Second}, // ⌈5⌉
		{name: "10 samples p90", samples: secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), p: 90, want: 9 * time.Second},    // ⌈9⌉
		{name: "10 samples p95", samples: secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), p: 95, want: 10 * time.Second},   // ⌈9.5⌉
		{name: "10 samples p100", samples: secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), p: 100, want: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("p%d of %v = %v, want %v", tt.p, tt.samples, got, tt.want)
			}
		})
	}

	// Through Build: ten approvals that waited 1..10 minutes, given out of order.
	var entries []auditlog.Entry
	for _, i := range []int{7, 3, 10, 1, 5, 9, 2, 8, 6, 4} {
		r := req{id: fmt.Sprintf("JIT-P%d", i), role: "readonly", who: "UALICE"}
		start := float64(100 * i)
		entries = append(entries, r.entry("requested", start), r.grant("granted", start+float64(i), start+float64(i), start+60, -1, false))
	}
	got := Build(entries, catalog, since, now).Roles[0].TimeToApproval
	if want := (Latency{Samples: 10, MedianSeconds: min2s(5), P95Seconds: min2s(10)}); got != want {
		t.Errorf("time to approval of 1..10 minutes = %+v, want %+v", got, want)
	}
}

func TestReportElevatedHours(t *testing.T) {
	alice := req{id: "JIT-E1", role: "readonly", who: "UALICE"}
	alice2 := req{id: "JIT-E2", role: "readonly", who: "UALICE"}
	bob := req{id: "JIT-E3", role: "readonly", who: "UBOB"}
	const day = 24 * 60
	tests := []struct {
		name    string
		entries []auditlog.Entry
		want    float64 // minutes
	}{
		{
			name:    "ended before the window",
			entries: []auditlog.Entry{alice.grant("granted", -120, -120, -60, -1, false), alice.grant("revoked", -60, -120, -60, -60, false)},
			want:    0,
		},
		{
			name:    "started before the window: clipped at since",
			entries: []auditlog.Entry{alice.grant("granted", -30, -30, 90, -1, false), alice.grant("revoked", 90, -30, 90, 90, false)},
			want:    90, // 0 → 90
		},
		{
			name:    "started before the window, no entry inside it, still active at now",
			entries: []auditlog.Entry{alice.grant("granted", -30, -30, day+30, -1, false)},
			want:    day, // the whole window
		},
		{
			name:    "active at now: clipped at now",
			entries: []auditlog.Entry{alice.grant("granted", day-45, day-45, day+15, -1, false)},
			want:    45,
		},
		{
			name:    "the revocation after now is not seen yet",
			entries: []auditlog.Entry{alice.grant("granted", day-45, day-45, day+15, -1, false), alice.grant("revoked", day+15, day-45, day+15, day+15, false)},
			want:    45,
		},
		{
			name:    "expired, revocation not recorded yet: until the expiry",
			entries: []auditlog.Entry{alice.grant("granted", 100, 100, 130, -1, false)},
			want:    30,
		},
		{
			name:    "revoked late (AWS kept failing): until it really ended",
			entries: []auditlog.Entry{alice.grant("granted", 100, 100, 130, -1, false), alice.grant("revoked", 170, 100, 130, 170, false)},
			want:    70,
		},
		{
			name:    "revoked early",
			entries: []auditlog.Entry{alice.grant("granted", 100, 100, 160, -1, false), alice.grant("revoked", 110, 100, 160, 110, false)},
			want:    10,
		},
		{
			name: "overlapping grants of one requester count once",
			entries: []auditlog.Entry{
				alice.grant("granted", 100, 100, 160, -1, false), alice.grant("revoked", 160, 100, 160, 160, false),
				alice2.grant("granted", 130, 130, 190, -1, false), alice2.grant("revoked", 190, 130, 190, 190, false),
			},
			want: 90, // [100, 160] ∪ [130, 190] = [100, 190]
		},
		{
			name: "overlapping grants of two requesters count twice",
			entries: []auditlog.Entry{
				alice.grant("granted", 100, 100, 160, -1, false), alice.grant("revoked", 160, 100, 160, 160, false),
				bob.grant("granted", 130, 130, 190, -1, false), bob.grant("revoked", 190, 130, 190, 190, false),
			},
			want: 120, // 60 + 60
		},
		{
			name: "separate grants of one requester add up",
			entries: []auditlog.Entry{
				alice.grant("granted", 100, 100, 110, -1, false), alice.grant("revoked", 110, 100, 110, 110, false),
				alice2.grant("granted", 200, 200, 215, -1, false), alice2.grant("revoked", 215, 200, 215, 215, false),
			},
			want: 25,
		},
		{
			name:    "a failed grant holds nothing",
			entries: []auditlog.Entry{alice.entry("grant_failed", 100), alice.entry("revoked", 101)},
			want:    0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(tt.entries, catalog, since, now)
			want := tt.want / 60
			if math.Abs(r.Total.ElevatedHours-want) > 1e-9 {
				t.Errorf("elevated hours = %v, want %v (%v minutes)", r.Total.ElevatedHours, want, tt.want)
			}
			if want > 0 && (len(r.Roles) != 1 || math.Abs(r.Roles[0].ElevatedHours-want) > 1e-9) {
				t.Errorf("roles = %+v, want readonly with %v hours", r.Roles, want)
			}
		})
	}
}

// TestReportNoSecretField: a report is made of counts, durations, role names,
// Slack IDs and emails. A new string field must be looked at here before
// it is added, so that nothing that could hold a secret slips in.
func TestReportNoSecretField(t *testing.T) {
	allowed := map[string]bool{"RoleStats.Role": true, "Report.NeverRequested": true, "Requester.ID": true, "Requester.Email": true, "AccountStats.Account": true,
		// Activity: request IDs are not secrets, and a usage summary is
		// CloudTrail's count of calls by action name.
		"Grant.RequestID": true, "Grant.Role": true, "Grant.Account": true, "Grant.Requester": true, "Grant.Email": true, "Grant.Usage": true,
		"Decision.RequestID": true, "Decision.Role": true, "Decision.Requester": true, "Decision.Outcome": true}
	var walk func(reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(ty reflect.Type) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		for f := range ty.Fields() {
			ft := f.Type
			for ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.String:
				if !allowed[ty.Name()+"."+f.Name] {
					t.Errorf("%s.%s is a string field; make sure no secret can reach it, then allow it here", ty.Name(), f.Name)
				}
			case reflect.Struct:
				if ft != reflect.TypeFor[time.Time]() {
					walk(ft)
				}
			}
		}
	}
	walk(reflect.TypeFor[Report]())
}

func TestReportJSON(t *testing.T) {
	r := Build(history(), catalog, since, now)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	compare(t, back, r)
	for _, key := range []string{`"never_requested"`, `"time_to_approval"`, `"median_seconds"`, `"elevated_hours"`, `"top_requesters"`, `"break_glass"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("the JSON has no %s", key)
		}
	}
	if empty, _ := json.Marshal(Build(nil, nil, since, now)); !strings.Contains(string(empty), `"roles":[],"never_requested":[]`) {
		t.Errorf("an empty report should have empty lists, not null: %s", empty)
	}
}

func TestReportText(t *testing.T) {
	got := Text(Build(history(), catalog, since, now))
	golden := filepath.Join("testdata", "report.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("text report differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
	empty := Text(Build(nil, []string{"readonly"}, since, now))
	if !strings.Contains(empty, "no activity in this window") || !strings.Contains(empty, "  readonly\n") {
		t.Errorf("empty report:\n%s", empty)
	}
}

// TestReportTextSize: the report of a 50-role catalog, every role busy with five
// requesters of long email addresses, splits at blank lines into blocks
// that each fit one Slack section (3,000 characters).
func TestReportTextSize(t *testing.T) {
	var entries []auditlog.Entry
	var roles []string
	for i := range 50 {
		role := fmt.Sprintf("role-with-a-longish-name-%02d", i)
		roles = append(roles, role)
		for j := range 6 {
			r := req{id: fmt.Sprintf("JIT-%02d%02d", i, j), role: role, who: fmt.Sprintf("U0REQUESTER%d", j)}
			e := r.entry("requested", float64(i*20+j))
			e.RequesterEmail = fmt.Sprintf("firstname.lastname-%d@engineering.example.com", j)
			entries = append(entries, e, r.grant("granted", float64(i*20+j+2), float64(i*20+j+2), float64(i*20+j+62), -1, false))
		}
	}
	text := Text(Build(entries, roles, since, now))
	blocks := strings.Split(text, "\n\n")
	longest := 0
	for _, b := range blocks {
		longest = max(longest, len(b))
	}
	if longest > 3000 {
		t.Errorf("a block of %d characters does not fit a Slack section", longest)
	}
	t.Logf("50 busy roles: %d characters in %d blocks, the longest %d", len(text), len(blocks), longest)
}

func TestReportFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{450 * time.Millisecond, "450ms"},
		{45 * time.Second, "45s"},
		{4*time.Minute + 30*time.Second, "4m30s"},
		{5 * time.Minute, "5m"},
		{59*time.Minute + 59*time.Second + 600*time.Millisecond, "1h"},
		{time.Hour + 5*time.Minute + 20*time.Second, "1h5m"},
		{26*time.Hour + 40*time.Minute, "1d3h"},
		{30 * 24 * time.Hour, "30d"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestNeverUsedGrants: the latest CloudTrail look at each grant decides.
func TestNeverUsedGrants(t *testing.T) {
	a, b, c := req{id: "JIT-AAAAA2", role: "readonly", who: "UALICE"}, req{id: "JIT-AAAAA3", role: "readonly", who: "UBOB"}, req{id: "JIT-AAAAA4", role: "readonly", who: "UBOB"}
	usage := func(r req, min float64, outcome string) auditlog.Entry {
		e := r.entry("usage", min)
		e.Outcome = outcome
		return e
	}
	entries := []auditlog.Entry{
		usage(a, 10, "never used (first look)"), usage(a, 30, "3 API calls, 0 failed; top: s3:GetObject ×3 (after CloudTrail's delivery delay)"),
		usage(b, 10, "never used (first look)"), usage(b, 30, "never used (after CloudTrail's delivery delay)"),
		usage(c, 10, "never used (first look)"),
	}
	got := Build(entries, []string{"readonly"}, since, now)
	if len(got.Roles) != 1 || got.Roles[0].UsageLooked != 3 || got.Roles[0].NeverUsed != 2 {
		t.Fatalf("roles = %+v; want 3 grants looked at, 2 never used (a was used after all)", got.Roles)
	}
	if !strings.Contains(Text(got), "never used        2 of 3 grants looked up in CloudTrail") {
		t.Errorf("text lacks the never-used line:\n%s", Text(got))
	}
}

// TestReportPerAccount: a role granted per account is broken down by
// account; the same person's grants in two accounts are two accesses, so
// their hours add up instead of merging.
func TestReportPerAccount(t *testing.T) {
	in := func(r req, account string, entries ...auditlog.Entry) []auditlog.Entry {
		for i := range entries {
			entries[i].Account, entries[i].Backend = account, "aws_sso"
		}
		return entries
	}
	prod := req{id: "JIT-P1", role: "admin-sso", who: "UALICE"}
	prod2 := req{id: "JIT-P2", role: "admin-sso", who: "UBOB"}
	staging := req{id: "JIT-S1", role: "admin-sso", who: "UALICE"}
	var entries []auditlog.Entry
	entries = append(entries, in(prod, "222222222222", prod.entry("requested", 10), prod.grant("granted", 20, 20, 80, -1, false), prod.grant("expired", 80, 20, 80, 80, false))...)
	entries = append(entries, in(prod2, "222222222222", prod2.entry("requested", 30), prod2.entry("denied", 35))...)
	entries = append(entries, in(staging, "111111111111", staging.entry("requested", 40), staging.grant("granted", 50, 50, 80, -1, false), staging.grant("expired", 80, 50, 80, 80, false))...)
	r := Build(entries, []string{"admin-sso"}, since, now)
	if len(r.Roles) != 1 {
		t.Fatalf("roles: %+v", r.Roles)
	}
	want := []AccountStats{
		{Account: "111111111111", Requests: 1, Granted: 1, ElevatedHours: 0.5},
		{Account: "222222222222", Requests: 2, Granted: 1, ElevatedHours: 1},
	}
	if got := r.Roles[0].Accounts; !reflect.DeepEqual(got, want) {
		t.Errorf("accounts = %+v, want %+v", got, want)
	}
	if got := r.Roles[0].ElevatedHours; got != 1.5 {
		t.Errorf("role's elevated hours = %v, want 1.5 (alice's hours in two accounts add up)", got)
	}
	if r.Total.Accounts != nil {
		t.Errorf("the total breaks down by account: %+v", r.Total.Accounts)
	}
	if text := Text(r); !strings.Contains(text, "  in 222222222222   requests 2, granted 1, elevated hours 1.0\n") {
		t.Errorf("text lacks prod's line:\n%s", text)
	}
}
