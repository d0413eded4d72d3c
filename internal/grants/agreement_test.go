package grants_test

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/accessmap"
	"github.com/jitbot/jitbot/internal/command"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Rules that two packages apply must give the same answers: `jitbot
// access-map` must show who the service would let in, and the /jit parser
// must refuse exactly the text the service refuses. These tests ask both
// sides the same questions, so they fail if either side grows a rule of
// its own.

const agreementCatalog = `
defaults:
  default_duration: 1h
roles:
  members-ro:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/members-ro
    approvers: [UAPPROVER1]
    eligible: 'user.email.endsWith("@example.com")'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
  sre-admin:
    backend: aws_iam_group
    group: jit-sre-admin
    iam_user: 'user.email'
    approvers: [UAPPROVER1]
    eligible: '"sre" in user.groups'
  vendor-ro:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/vendor-ro
    allow_guests: true
    guest_max_duration: 30m
    default_duration: 2h
    approvers: [UAPPROVER1]
    eligible: 'user.email.endsWith("@example.com") || request.duration <= duration("30m")'
    auto_approve: 'request.incident != ""'
  incidents-only:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/incidents-only
    approvers: [UAPPROVER1]
    eligible: 'request.incident != ""'
    auto_approve: '"oncall" in user.groups'
`

// everyone is a workspace with one user of every kind the fixed rules
// treat apart, most of them in the groups that would admit them.
var everyone = map[string]rules.User{
	"UALICE":     {ID: "UALICE", Name: "alice", Email: "alice@example.com", Groups: []string{"sre"}},
	"UBOB":       {ID: "UBOB", Name: "bob", Email: "bob@example.com", Groups: []string{"sre", "oncall"}},
	"UEVE":       {ID: "UEVE", Name: "eve", Email: "eve@elsewhere.org", Groups: []string{"oncall"}},
	"UGUEST":     {ID: "UGUEST", Name: "guest", Email: "guest@example.com", Groups: []string{"sre", "oncall"}, IsGuest: true},
	"UVENDOR":    {ID: "UVENDOR", Name: "vendor", Email: "vendor@vendor.example", Groups: []string{"oncall"}, IsExternal: true},
	"UBOT":       {ID: "UBOT", Name: "deploybot", Email: "bot@example.com", Groups: []string{"sre", "oncall"}, IsBot: true},
	"UGONE":      {ID: "UGONE", Name: "gone", Email: "gone@example.com", Groups: []string{"sre", "oncall"}, Deleted: true},
	"UAPPROVER1": {ID: "UAPPROVER1", Name: "carol", Email: "carol@example.com"},
}

// workspace is fakeDirectory with the listing accessmap needs.
type workspace struct{ *fakeDirectory }

func (w workspace) Users(context.Context) ([]rules.User, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.SortedFunc(maps.Values(w.users), func(a, b rules.User) int { return cmp.Compare(a.ID, b.ID) }), nil
}

func TestAccessMapAgreesWithTheService(t *testing.T) {
	cat, err := rules.Parse("roles.yaml", []byte(agreementCatalog))
	if err != nil {
		t.Fatal(err)
	}
	dir := &fakeDirectory{users: everyone, groups: map[string][]string{}}
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	backend := newFakeBackend()
	svc, err := grants.New(grants.Options{
		Store:        newMemStore(),
		Backends:     map[string]grants.Backend{grants.BackendSTS: backend, grants.BackendGroup: backend},
		Directory:    dir,
		Catalog:      cat,
		Now:          func() time.Time { return now },
		RequestLimit: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := accessmap.Build(t.Context(), cat, workspace{dir}, now)
	if err != nil {
		t.Fatal(err)
	}
	var admitted, autoApproved int
	for _, ra := range m.Roles {
		role, _ := cat.Role(ra.Role)
		for _, u := range everyone {
			// The request the map asks about (accessmap.Probe): the
			// default duration, at most what guests may hold, with and
			// without an incident.
			in := grants.RequestInput{UserID: u.ID, Role: role.Name, Duration: role.DefaultDuration, Reason: accessmap.ProbeReason}
			if grants.ThirdParty(u) {
				in.Duration = min(in.Duration, role.GuestMaxDuration)
			}
			_, plainErr := svc.Request(t.Context(), in)
			in.Incident = accessmap.ProbeIncident
			r, incidentErr := svc.Request(t.Context(), in)
			may := admits(t, plainErr) || admits(t, incidentErr)
			auto := incidentErr == nil && r.AutoApproved
			if got := listed(ra.Requesters, u.ID); got != may {
				t.Errorf("%s, %s: the access map lists them as a requester: %v; the service admits them: %v (%v; with %s: %v)",
					role.Name, u.ID, got, may, plainErr, accessmap.ProbeIncident, incidentErr)
			}
			if got := listed(ra.AutoApproved, u.ID); got != auto {
				t.Errorf("%s, %s: the access map lists them as auto-approved: %v; the service auto-approves them: %v", role.Name, u.ID, got, auto)
			}
			admitted += count1(may)
			autoApproved += count1(auto)
		}
	}
	// The table is worth something only if both answers occur.
	if total := len(m.Roles) * len(everyone); admitted == 0 || admitted == total || autoApproved == 0 || autoApproved == admitted {
		t.Errorf("a one-sided table: %d of %d (role, user) pairs admitted, %d auto-approved", admitted, total, autoApproved)
	}
}

// admits reports whether the service took the request: a refusal for
// eligibility is a no, and any other error fails the test.
func admits(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !errors.Is(err, grants.ErrIneligible) {
		t.Fatalf("request failed for another reason than eligibility: %v", err)
	}
	return err == nil
}

func listed(ps []accessmap.Person, id string) bool {
	return slices.ContainsFunc(ps, func(p accessmap.Person) bool { return p.ID == id })
}

func count1(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestCommandAndServiceRefuseTheSameText(t *testing.T) {
	tests := []struct{ name, reason, incident string }{
		{name: "no reason"},
		{name: "one word", reason: "fix"},
		{name: "nine characters", reason: "123456789"},
		{name: "ten characters", reason: "1234567890"},
		{name: "nine characters padded", reason: "\t 123456789 \n"},
		{name: "ten runes of two bytes", reason: strings.Repeat("é", 10)},
		{name: "nine runes of two bytes", reason: strings.Repeat("é", 9)},
		{name: "reason of 500", reason: strings.Repeat("x", 500)},
		{name: "reason of 501", reason: strings.Repeat("x", 501)},
		{name: "reason of 500 runes, 1000 bytes", reason: strings.Repeat("é", 500)},
		{name: "reason of 501 runes", reason: strings.Repeat("é", 501)},
		{name: "incident", reason: "fixing the replica lag", incident: "INC-42"},
		{name: "incident of 100", reason: "fixing the replica lag", incident: strings.Repeat("I", 100)},
		{name: "incident of 101", reason: "fixing the replica lag", incident: strings.Repeat("I", 101)},
		{name: "incident of 100 runes, 200 bytes", reason: "fixing the replica lag", incident: strings.Repeat("é", 100)},
		{name: "incident of 101 runes", reason: "fixing the replica lag", incident: strings.Repeat("é", 101)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "request prod-readonly 1h "
			if tt.incident != "" {
				text += "--incident " + tt.incident + " "
			}
			_, parseErr := command.Parse(text + tt.reason)
			e := newEnv(t)
			_, err := e.svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "prod-readonly", Duration: time.Hour, Reason: tt.reason, Incident: tt.incident})
			if err != nil && !errors.Is(err, grants.ErrInvalidInput) {
				t.Fatalf("the service failed for another reason than the text: %v", err)
			}
			if (parseErr != nil) != (err != nil) {
				t.Errorf("/jit %s\nthe parser says %v; the service says %v", text+"…", parseErr, err)
			}
		})
	}
}
