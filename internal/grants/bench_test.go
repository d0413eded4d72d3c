package grants_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
)

// Benchmarks of the domain's share of two docs/design.md §6 figures: /jit roles
// over a 1,000-role catalog, and an Approve click up to the credentials,
// both on the in-memory store and backend, so they time jitbot's own code
// and not Redis, AWS or Slack.

// exampleTimes200 is rules/roles.yaml with its roles copied 200 times
// under new names: 1,000 roles whose rules are the real ones (a string
// test, group membership, a regular expression, the clock).
func exampleTimes200(b *testing.B) *rules.Catalog {
	b.Helper()
	data, err := os.ReadFile("../../rules/roles.yaml")
	if err != nil {
		b.Fatal(err)
	}
	head, body, ok := strings.Cut(string(data), "\nroles:\n")
	if !ok {
		b.Fatal("rules/roles.yaml has no roles section")
	}
	roleKey := regexp.MustCompile(`(?m)^  ([a-z][a-z0-9-]*):`)
	var sb strings.Builder
	sb.WriteString(head + "\nroles:\n")
	for i := range 200 {
		sb.WriteString(roleKey.ReplaceAllString(body, fmt.Sprintf("  ${1}-%03d:", i)))
	}
	c, err := rules.Parse("roles.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	if len(c.Roles) != 1000 {
		b.Fatalf("%d roles, want 1000", len(c.Roles))
	}
	return c
}

func benchService(b *testing.B, cat *rules.Catalog, now func() time.Time) *grants.Service {
	b.Helper()
	backend := newFakeBackend()
	svc, err := grants.New(grants.Options{
		Store:    newMemStore(),
		Backends: map[string]grants.Backend{grants.BackendSTS: backend, grants.BackendGroup: backend},
		Directory: &fakeDirectory{
			users: map[string]rules.User{
				// Eligible for every role of the example catalog at 10:00 UTC.
				"UALICE": {ID: "UALICE", Name: "alice", Email: "alice@example.com", Groups: []string{"engineering", "sre", "finance"}},
				"ULEAD1": {ID: "ULEAD1", Name: "dan", Email: "dan@example.com"},
			},
			groups: map[string][]string{"platform-leads": {"ULEAD1"}},
		},
		Catalog: cat,
		Now:     now,
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// BenchmarkRolesCommand1000 is /jit roles without Slack: every role's
// eligible rule for the caller, then the message (docs/design.md §6: 5 ms).
func BenchmarkRolesCommand1000(b *testing.B) {
	cat := exampleTimes200(b)
	at := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	svc := benchService(b, cat, func() time.Time { return at })
	roles, err := svc.EligibleRoles(b.Context(), "UALICE")
	if err != nil || len(roles) != 1000 {
		b.Fatalf("EligibleRoles = %d roles, %v; want all 1000", len(roles), err)
	}
	raw, err := json.Marshal(blockkit.Roles(roles, ""))
	if err != nil || !strings.Contains(string(raw), "(1000)") || !strings.Contains(string(raw), "*billing-readonly-000*") {
		b.Fatalf("/jit roles message = %.300s, %v; want the count of 1000 roles and billing-readonly-000", raw, err)
	}
	b.Run("eligible", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.EligibleRoles(b.Context(), "UALICE"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eligible+render", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			roles, err := svc.EligibleRoles(b.Context(), "UALICE")
			if err != nil {
				b.Fatal(err)
			}
			blockkit.Roles(roles, "")
		}
	})
}

// BenchmarkRequestApprove files a request and approves it up to issued
// credentials: the domain's part of "Approve click → credentials DM".
// The clock moves 4 minutes a request, so the requester stays under the
// hourly request limit.
func BenchmarkRequestApprove(b *testing.B) {
	cat, err := rules.Load("../../rules/roles.yaml")
	if err != nil {
		b.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)}
	svc := benchService(b, cat, clk.Now)
	in := grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"}
	lifecycle := func() (*grants.Request, error) {
		clk.Advance(4 * time.Minute)
		r, err := svc.Request(b.Context(), in)
		if err != nil {
			return nil, err
		}
		return svc.Approve(b.Context(), r.ID, "ULEAD1")
	}
	if r, err := lifecycle(); err != nil || r.State != grants.Active || r.AccessKeyID == "" {
		b.Fatalf("request and approve = %+v, %v; want an active grant with credentials", r, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lifecycle(); err != nil {
			b.Fatal(err)
		}
	}
}
