package accessmap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/accessmap"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// fakeDir is a workspace held in memory.
type fakeDir struct {
	users  []rules.User
	groups map[string][]string // handle → member IDs
	err    error               // answered by every call when set
}

func (d *fakeDir) Users(context.Context) ([]rules.User, error) {
	if d.err != nil {
		return nil, d.err
	}
	return slices.Clone(d.users), nil
}

func (d *fakeDir) GroupMembers(_ context.Context, handle string) ([]string, error) {
	if d.err != nil {
		return nil, d.err
	}
	return slices.Clone(d.groups[handle]), nil
}

const catalogYAML = `
roles:
  # Approved by a named person and a user group.
  prod-admin:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email'
    approvers: [U0DAN, "@platform-leads"]
    approvals_required: 2
    eligible: '"sre" in user.groups'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
  # Open to guests and Slack Connect users, for at most 30m: the rule
  # admits anyone for 30m or less, and members with example.com for the
  # 2h default.
  vendor-ro:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/vendor-ro
    allow_guests: true
    guest_max_duration: 30m
    default_duration: 2h
    approvers: [U0ALICE]
    eligible: 'user.email.endsWith("@example.com") || request.duration <= duration("30m")'
    auto_approve: 'request.incident != ""'
  # The rule fails for carol, whose email Slack does not show.
  db-write:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/db-write
    approvers: ["@dba", U0NOBODY]
    eligible: 'user.email.split("@")[1] == "example.com"'
`

func workspace() *fakeDir {
	return &fakeDir{
		users: []rules.User{
			{ID: "U0BOB", Name: "bob", Email: "bob@example.com", Groups: []string{"oncall", "sre"}},
			{ID: "U0ALICE", Name: "alice", Email: "alice@example.com", Groups: []string{"platform-leads", "sre"}},
			{ID: "U0CAROL", Name: "carol", Groups: []string{"dba"}},
			{ID: "U0DAN", Name: "dan", Email: "dan@example.com"},
			{ID: "U0GUS", Name: "gus", Email: "gus@partner.example", Groups: []string{"oncall", "sre"}, IsGuest: true},
			{ID: "U0VIC", Name: "vic", Email: "vic@vendor.example", IsExternal: true},
			{ID: "U0GONE", Name: "gone", Email: "gone@example.com", Groups: []string{"platform-leads", "sre"}, Deleted: true},
			{ID: "U0BOT", Name: "deploybot", Email: "bot@example.com", Groups: []string{"sre"}, IsBot: true},
		},
		groups: map[string][]string{
			"platform-leads": {"U0GONE", "U0ALICE"},
			"dba":            {"U0CAROL"},
		},
	}
}

func parse(t *testing.T, src string) *rules.Catalog {
	t.Helper()
	cat, err := rules.Parse("roles.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse catalog: %v", err)
	}
	return cat
}

var now = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func ids(people []accessmap.Person) []string {
	out := []string{}
	for _, p := range people {
		out = append(out, p.ID)
	}
	return out
}

func TestAccessMapBuild(t *testing.T) {
	cat := parse(t, catalogYAML)
	m, err := accessmap.Build(t.Context(), cat, workspace(), now)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if m.CatalogSHA256 != cat.SHA256 || !m.Generated.Equal(now) {
		t.Errorf("header = %q %v", m.CatalogSHA256, m.Generated)
	}
	carolErr := `U0CAROL: eligible: evaluate "user.email.split(\"@\")[1] == \"example.com\"": index out of bounds: 1`
	// Worked out by hand from the catalog and the workspace above. Lists
	// are sorted by name, so an unknown ID (no name) comes first.
	tests := []struct {
		role                        string
		approvers, requesters, auto []string
		errors                      []string
	}{
		{
			role: "db-write",
			// @dba is carol; U0NOBODY is listed but not in the workspace.
			approvers: []string{"U0NOBODY", "U0CAROL"},
			// Guests, the external user, the deactivated user and the bot
			// are never asked; carol's rule fails and is reported.
			requesters: []string{"U0ALICE", "U0BOB", "U0DAN"},
			auto:       []string{},
			errors:     []string{carolErr},
		},
		{
			role: "prod-admin",
			// U0DAN plus @platform-leads, whose deactivated member is
			// shown: it is who the group holds.
			approvers: []string{"U0ALICE", "U0DAN", "U0GONE"},
			// gus is in sre but a guest, and the role has no allow_guests;
			// gone and the bot are in sre too.
			requesters: []string{"U0ALICE", "U0BOB"},
			auto:       []string{"U0BOB"},
		},
		{
			role:      "vendor-ro",
			approvers: []string{"U0ALICE"},
			// Third parties are asked for 30m (their maximum), members for
			// the 2h default; carol has no example.com email.
			requesters: []string{"U0ALICE", "U0BOB", "U0DAN", "U0GUS", "U0VIC"},
			// Third parties are never auto-approved.
			auto: []string{"U0ALICE", "U0BOB", "U0DAN"},
		},
	}
	if len(m.Roles) != len(tests) {
		t.Fatalf("%d roles, want %d", len(m.Roles), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			r := m.Roles[i]
			if r.Role != tt.role {
				t.Fatalf("role %d is %s, want %s", i, r.Role, tt.role)
			}
			if got := ids(r.Approvers); !slices.Equal(got, tt.approvers) {
				t.Errorf("approvers = %v, want %v", got, tt.approvers)
			}
			if got := ids(r.Requesters); !slices.Equal(got, tt.requesters) {
				t.Errorf("requesters = %v, want %v", got, tt.requesters)
			}
			if got := ids(r.AutoApproved); !slices.Equal(got, tt.auto) {
				t.Errorf("auto-approved = %v, want %v", got, tt.auto)
			}
			if !slices.Equal(r.Errors, tt.errors) {
				t.Errorf("errors = %q, want %q", r.Errors, tt.errors)
			}
		})
	}
}

const golden = `catalog sha256 SHA
role db-write: aws_sts arn:aws:iam::111111111111:role/db-write, approvals_required 1
  approve: (U0NOBODY) [unknown]
  approve: carol (U0CAROL)
  request: alice <alice@example.com> (U0ALICE)
  request: bob <bob@example.com> (U0BOB)
  request: dan <dan@example.com> (U0DAN)
  error: U0CAROL: eligible: evaluate "user.email.split(\"@\")[1] == \"example.com\"": index out of bounds: 1
role prod-admin: aws_iam_group jit-prod-admin, approvals_required 2
  approve: alice <alice@example.com> (U0ALICE)
  approve: dan <dan@example.com> (U0DAN)
  approve: gone <gone@example.com> (U0GONE) [deactivated]
  request: alice <alice@example.com> (U0ALICE)
  request: bob <bob@example.com> (U0BOB)
  auto-approve: bob <bob@example.com> (U0BOB)
role vendor-ro: aws_sts arn:aws:iam::111111111111:role/vendor-ro, approvals_required 1
  approve: alice <alice@example.com> (U0ALICE)
  request: alice <alice@example.com> (U0ALICE)
  request: bob <bob@example.com> (U0BOB)
  request: dan <dan@example.com> (U0DAN)
  request: gus <gus@partner.example> (U0GUS) [guest]
  request: vic <vic@vendor.example> (U0VIC) [external]
  auto-approve: alice <alice@example.com> (U0ALICE)
  auto-approve: bob <bob@example.com> (U0BOB)
  auto-approve: dan <dan@example.com> (U0DAN)
`

func TestAccessMapText(t *testing.T) {
	cat := parse(t, catalogYAML)
	m, err := accessmap.Build(t.Context(), cat, workspace(), now)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(golden, "SHA", cat.SHA256, 1)
	if buf.String() != want {
		t.Errorf("text map:\n%s\nwant:\n%s", buf.String(), want)
	}

	// Another run, later, over the same people listed in another order and
	// with groups in another order, is byte for byte the same.
	d := workspace()
	slices.Reverse(d.users)
	for _, u := range d.users {
		slices.Reverse(u.Groups)
	}
	slices.Reverse(d.groups["platform-leads"])
	m2, err := accessmap.Build(t.Context(), cat, d, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var buf2 bytes.Buffer
	m2.WriteText(&buf2)
	if buf2.String() != buf.String() {
		t.Errorf("a second run differs:\n%s", buf2.String())
	}
}

func TestAccessMapJSONRoundTrip(t *testing.T) {
	m, err := accessmap.Build(t.Context(), parse(t, catalogYAML), workspace(), now)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back accessmap.Map
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("decode: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip changed the map:\n got %+v\nwant %+v", back, m)
	}
	// The names a consumer reads, and [] rather than null for nobody.
	for _, want := range []string{`"catalog_sha256": "`, `"generated": "2025-03-04T05:06:07Z"`, `"auto_approved": []`,
		`"approvals_required": 2`, `"notes": [`, `"email": "gus@partner.example"`, `"errors": [`, `"target": "jit-prod-admin"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, buf.String())
		}
	}
}

func TestAccessMapIncidentOnlyEligibility(t *testing.T) {
	// A role that only opens during an incident lists the people it opens
	// to then; a rule on the request's reason sees a realistic reason.
	cat := parse(t, `
roles:
  incident-ro:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/incident-ro
    approvers: [U0ALICE]
    eligible: 'request.incident != "" && "oncall" in user.groups && request.reason.size() >= 10'
    auto_approve: '"oncall" in user.groups'
`)
	m, err := accessmap.Build(t.Context(), cat, workspace(), now)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Roles[0]
	// gus is on call too, but a guest.
	if got := ids(r.Requesters); !slices.Equal(got, []string{"U0BOB"}) {
		t.Errorf("requesters = %v, want [U0BOB]", got)
	}
	if got := ids(r.AutoApproved); !slices.Equal(got, []string{"U0BOB"}) {
		t.Errorf("auto-approved = %v, want [U0BOB]", got)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors = %q", r.Errors)
	}
}

func TestAccessMapTooFewApprovers(t *testing.T) {
	// Two approvals from a group whose only other member is deactivated
	// can never be given; the map says so.
	cat := parse(t, `
roles:
  prod-admin:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-admin
    approvers: ["@platform-leads", "@nobody-here"]
    approvals_required: 2
    eligible: 'false'
`)
	m, err := accessmap.Build(t.Context(), cat, workspace(), now)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Roles[0]
	want := []string{"approvals_required is 2 but only 1 approver(s) are active users"}
	if !slices.Equal(r.Errors, want) || len(r.Requesters) != 0 {
		t.Errorf("errors = %q, requesters = %v", r.Errors, r.Requesters)
	}
	var buf bytes.Buffer
	m.WriteText(&buf)
	if !strings.Contains(buf.String(), "\n  request: (nobody)\n") || strings.Contains(buf.String(), "auto-approve") {
		t.Errorf("text:\n%s", buf.String())
	}
}

func TestAccessMapDirectoryErrors(t *testing.T) {
	down := errors.New("slack is down")
	d := workspace()
	d.err = down
	if _, err := accessmap.Build(t.Context(), parse(t, catalogYAML), d, now); !errors.Is(err, down) {
		t.Errorf("Build = %v, want the directory's error", err)
	}
}

func TestAccessMapLinesCannotBeForged(t *testing.T) {
	d := workspace()
	d.users[0].Name = "bob\n  approve: mallory"
	m, err := accessmap.Build(t.Context(), parse(t, catalogYAML), d, now)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m.WriteText(&buf)
	if strings.Contains(buf.String(), "\n  approve: mallory") {
		t.Errorf("a name with a newline made a line of its own:\n%s", buf.String())
	}
}

func TestAccessMapSlackDirectory(t *testing.T) {
	s := slackfake.Start(t)
	s.AddUser(slackfake.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"})
	s.AddUser(slackfake.User{ID: "U0BOB", Name: "bob", Email: "bob@example.com"})
	s.AddUser(slackfake.User{ID: "U0GUS", Name: "gus", Email: "gus@partner.example", SingleChannelGuest: true})
	s.AddUser(slackfake.User{ID: "U0GONE", Name: "gone", Email: "gone@example.com", Deleted: true})
	s.AddUserGroup("S0SRE", "sre", "U0BOB", "U0ALICE")
	s.AddUserGroup("S0LEADS", "platform-leads", "U0ALICE")
	dir := directory.New(slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL())), 0, 0)

	users, err := dir.Users(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []rules.User{
		{ID: "U0ALICE", Name: "alice", Email: "alice@example.com", Groups: []string{"platform-leads", "sre"}},
		{ID: "U0BOB", Name: "bob", Email: "bob@example.com", Groups: []string{"sre"}},
		{ID: "U0GONE", Name: "gone", Email: "gone@example.com", Deleted: true},
		{ID: "U0GUS", Name: "gus", Email: "gus@partner.example", IsGuest: true},
		{ID: slackfake.BotUserID, Name: slackfake.BotName, IsBot: true},
	}
	if !reflect.DeepEqual(users, want) {
		t.Errorf("users:\n got %+v\nwant %+v", users, want)
	}
	if got, err := dir.GroupMembers(t.Context(), "sre"); err != nil || !slices.Equal(got, []string{"U0BOB", "U0ALICE"}) {
		t.Errorf("@sre = %v, %v", got, err)
	}
	if got, err := dir.GroupMembers(t.Context(), "nobody"); err != nil || len(got) != 0 {
		t.Errorf("unknown group = %v, %v", got, err)
	}
	s.FailNext("users.list", 1, "missing_scope")
	if _, err := dir.Users(t.Context()); err == nil || !strings.Contains(err.Error(), "users.list: missing_scope") {
		t.Errorf("failing users.list: %v", err)
	}
}

// TestAccessMapApprovalSteps: the approvers of a role with steps are the
// people of every step; a step that can never be completed is named.
func TestAccessMapApprovalSteps(t *testing.T) {
	cat := parse(t, `
roles:
  prod-admin:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-admin
    eligible: 'false'
    approval_steps:
      - approvers: [U0DAN]
      - approvers: ["@platform-leads"]
        approvals_required: 2
`)
	m, err := accessmap.Build(t.Context(), cat, workspace(), now)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Roles[0]
	if got := ids(r.Approvers); !slices.Equal(got, []string{"U0ALICE", "U0DAN", "U0GONE"}) {
		t.Errorf("approvers = %v, want both steps' people", got)
	}
	want := []string{"approvals_required of step 2 is 2 but only 1 approver(s) are active users"}
	if !slices.Equal(r.Errors, want) || r.ApprovalsRequired != 3 {
		t.Errorf("errors = %q, approvals_required %d", r.Errors, r.ApprovalsRequired)
	}
}
