package rules_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// good is a valid catalog; bad cases below change one thing each.
const good = `defaults:
  max_duration: 4h
  default_duration: 1h
  request_ttl: 30m
roles:
  prod-readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-readonly
    approvers: [U0APPROVER1, "@platform-leads"]
    eligible: 'user.email.endsWith("@example.com")'
  prod-admin:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email'
    max_duration: 2h
    approvers: ["@platform-leads"]
    approvals_required: 2
    eligible: '"sre" in user.groups'
`

func TestParseGood(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := c.Role("prod-readonly")
	ad, _ := c.Role("prod-admin")
	switch {
	case ro.Backend != "aws_sts" || ro.RoleARN != "arn:aws:iam::111111111111:role/prod-readonly" || ro.ApprovalsRequired != 1:
		t.Errorf("prod-readonly = %+v", ro)
	case ro.MaxDuration != 4*time.Hour || ro.DefaultDuration != time.Hour || ro.RequestTTL != 30*time.Minute:
		t.Errorf("prod-readonly durations = %v %v %v", ro.MaxDuration, ro.DefaultDuration, ro.RequestTTL)
	case ad.Group != "jit-prod-admin" || ad.MaxDuration != 2*time.Hour || ad.ApprovalsRequired != 2 || ad.Reconcile != "off":
		t.Errorf("prod-admin = %+v", ad)
	case strings.Join(ro.Users(), ",") != "U0APPROVER1" || strings.Join(ro.Groups(), ",") != "platform-leads":
		t.Errorf("approvers users=%v groups=%v", ro.Users(), ro.Groups())
	case strings.Join(c.Names(), ",") != "prod-admin,prod-readonly":
		t.Errorf("names = %v", c.Names())
	case len(c.SHA256) != 64:
		t.Errorf("sha256 = %q", c.SHA256)
	}
}

func TestParseDefaultsCapDefaultDuration(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(strings.Replace(good, "max_duration: 2h", "max_duration: 30m", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Role("prod-admin"); r.DefaultDuration != 30*time.Minute {
		t.Errorf("default_duration = %v, want capped at the role's max of 30m", r.DefaultDuration)
	}
}

func TestExampleCatalog(t *testing.T) {
	c, err := rules.Load("../../rules/roles.yaml")
	if err != nil {
		t.Fatalf("rules/roles.yaml: %v", err)
	}
	if len(c.Roles) < 4 {
		t.Errorf("example catalog has %d roles", len(c.Roles))
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name    string
		old     string // replaced in good by new
		new     string
		want    string // the problem, as file:line: message
		catalog string // a whole catalog instead of an edit of good
	}{
		{name: "unknown top-level key", old: "defaults:", new: "default:", want: `roles.yaml:1: unknown key "default" (the catalog has defaults, workload_issuers and roles)`},
		{name: "unknown defaults key", old: "  request_ttl: 30m", new: "  request_tll: 30m", want: `roles.yaml:4: unknown key "request_tll" in defaults`},
		{name: "unknown role key", old: "    approvals_required: 2", new: "    approvals_needed: 2", want: `roles.yaml:17: role prod-admin: unknown key "approvals_needed"`},
		{name: "unknown backend", old: "backend: aws_sts", new: "backend: aws_ssm", want: `roles.yaml:7: role prod-readonly: unknown backend "aws_ssm" (known: aws_sts, aws_iam_group, aws_sso, aws_sso_group)`},
		{name: "missing backend", old: "    backend: aws_sts\n", new: "", want: `roles.yaml:6: role prod-readonly: missing backend`},
		{name: "missing role_arn", old: "    role_arn: arn:aws:iam::111111111111:role/prod-readonly\n", new: "", want: `roles.yaml:7: role prod-readonly: backend aws_sts needs role_arn`},
		{name: "missing group", old: "    group: jit-prod-admin\n", new: "", want: `roles.yaml:12: role prod-admin: backend aws_iam_group needs group`},
		{name: "missing iam_user", old: "    iam_user: 'user.email'\n", new: "", want: `roles.yaml:12: role prod-admin: backend aws_iam_group needs iam_user`},
		{name: "bad arn", old: "arn:aws:iam::111111111111:role/prod-readonly", new: "arn:aws:iam::1111:role/prod-readonly", want: `roles.yaml:8: role prod-readonly: role_arn "arn:aws:iam::1111:role/prod-readonly" is not an IAM role ARN`},
		{name: "arn of a user", old: "arn:aws:iam::111111111111:role/prod-readonly", new: "arn:aws:iam::111111111111:user/alice", want: `roles.yaml:8: role prod-readonly: role_arn "arn:aws:iam::111111111111:user/alice" is not an IAM role ARN`},
		{name: "bad group name", old: "group: jit-prod-admin", new: "group: jit prod admin", want: `roles.yaml:13: role prod-admin: group "jit prod admin" is not a valid IAM group name`},
		{name: "bad duration", old: "    max_duration: 2h", new: "    max_duration: two hours", want: `roles.yaml:15: max_duration: "two hours" is not a duration`},
		{name: "negative duration", old: "  request_ttl: 30m", new: "  request_ttl: -5m", want: `roles.yaml:4: request_ttl: "-5m" is not a duration`},
		{name: "default exceeds max", old: "    max_duration: 2h", new: "    max_duration: 2h\n    default_duration: 3h", want: `roles.yaml:16: role prod-admin: default_duration 3h exceeds max_duration 2h`},
		{name: "guest limit without guests", old: "    max_duration: 2h", new: "    max_duration: 2h\n    guest_max_duration: 30m", want: `roles.yaml:16: role prod-admin: guest_max_duration applies only with allow_guests: true`},
		{name: "guest limit over max", old: "    max_duration: 2h", new: "    max_duration: 2h\n    allow_guests: true\n    guest_max_duration: 3h", want: `roles.yaml:17: role prod-admin: guest_max_duration 3h exceeds max_duration 2h`},
		{name: "allow_guests not a bool", old: "    max_duration: 2h", new: "    max_duration: 2h\n    allow_guests: maybe", want: `roles.yaml:16: role prod-admin: allow_guests must be true or false, got "maybe"`},
		{name: "sts longer than 12h", old: "  max_duration: 4h", new: "  max_duration: 13h", want: `roles.yaml:6: role prod-readonly: max_duration 13h exceeds 12h, the longest session AWS STS issues`},
		{name: "group longer than 12h", old: "    max_duration: 2h", new: "    max_duration: 24h", want: ""},
		{name: "defaults default exceeds max", old: "  default_duration: 1h", new: "  default_duration: 5h", want: `roles.yaml:2: defaults: default_duration 5h exceeds max_duration 4h`},
		{name: "approvals below one", old: "approvals_required: 2", new: "approvals_required: 0", want: `roles.yaml:17: role prod-admin: approvals_required must be at least 1, got 0`},
		{name: "more approvals than users", old: `approvers: ["@platform-leads"]`, new: `approvers: [U0AAA, U0BBB]`, want: "", catalog: ""},
		{name: "approvals exceed listed users", old: `approvers: ["@platform-leads"]`, new: `approvers: [U0AAA]`, want: `roles.yaml:17: role prod-admin: approvals_required is 2 but only 1 approver(s) are listed`},
		{name: "approvals not a number", old: "approvals_required: 2", new: `approvals_required: "two"`, want: `roles.yaml:17: role prod-admin: approvals_required must be a whole number, got "\"two\""`},
		{name: "empty approvers", old: `approvers: ["@platform-leads"]`, new: `approvers: []`, want: `roles.yaml:16: role prod-admin: approvers is empty`},
		{name: "bad approver", old: `approvers: ["@platform-leads"]`, new: `approvers: ["platform-leads", "@platform-leads"]`, want: `roles.yaml:16: role prod-admin: approver "platform-leads" is neither a Slack user ID (U…) nor a user group (@handle)`},
		{name: "duplicate approver", old: `approvers: ["@platform-leads"]`, new: `approvers: ["@platform-leads", "@platform-leads"]`, want: `roles.yaml:16: role prod-admin: approver @platform-leads is listed twice`},
		{name: "approvers not a list", old: `approvers: ["@platform-leads"]`, new: `approvers: "@platform-leads"`, want: `roles.yaml:16: role prod-admin: approvers must be a list`},
		{name: "bad reconcile", old: "    max_duration: 2h", new: "    max_duration: 2h\n    reconcile: always", want: `roles.yaml:16: role prod-admin: reconcile must be off, report or enforce, got "always"`},
		{name: "reconcile on sts", old: "    approvers: [U0APPROVER1", new: "    reconcile: report\n    approvers: [U0APPROVER1", want: `roles.yaml:9: role prod-readonly: reconcile applies only to backend aws_iam_group`},
		{name: "allow_role_chaining not a bool", old: "    approvers: [U0APPROVER1", new: "    allow_role_chaining: yes-please\n    approvers: [U0APPROVER1", want: `roles.yaml:9: role prod-readonly: allow_role_chaining must be true or false, got "yes-please"`},
		{name: "allow_role_chaining on a group", old: "    max_duration: 2h", new: "    max_duration: 2h\n    allow_role_chaining: true", want: `roles.yaml:16: role prod-admin: allow_role_chaining applies only to backend aws_sts`},
		{name: "allow_role_chaining on sts", old: "    approvers: [U0APPROVER1", new: "    allow_role_chaining: true\n    approvers: [U0APPROVER1", want: ""},
		{name: "session policy not json", old: "    approvers: [U0APPROVER1", new: "    session_policy: 'allow all'\n    approvers: [U0APPROVER1", want: `roles.yaml:9: role prod-readonly: session_policy is not a JSON policy document`},
		{name: "missing eligible", old: "    eligible: '\"sre\" in user.groups'\n", new: "", want: `roles.yaml:11: role prod-admin: missing eligible`},
		{name: "cel unknown field", old: `user.email.endsWith("@example.com")`, new: `user.emial.endsWith("@example.com")`, want: `roles.yaml:10: role prod-readonly: eligible: undefined field 'emial' (column 5 of the expression)`},
		{name: "cel wrong type", old: `'"sre" in user.groups'`, new: `'request.duration > 5'`, want: `roles.yaml:18: role prod-admin: eligible: found no matching overload for '_>_' applied to '(duration, int)'`},
		{name: "cel not bool", old: `'"sre" in user.groups'`, new: `'user.email'`, want: `roles.yaml:18: role prod-admin: eligible: must give a bool, but gives a string`},
		{name: "cel auto_approve not bool", old: "    approvers: [U0APPROVER1", new: "    auto_approve: 'request.duration'\n    approvers: [U0APPROVER1", want: `roles.yaml:9: role prod-readonly: auto_approve: must give a bool, but gives a google.protobuf.Duration`},
		{name: "cel iam_user not string", old: "iam_user: 'user.email'", new: "iam_user: 'user.is_guest'", want: `roles.yaml:14: role prod-admin: iam_user: must give a string, but gives a bool`},
		{name: "cel syntax", old: `'"sre" in user.groups'`, new: `'"sre" in user.groups &&'`, want: `roles.yaml:18: role prod-admin: eligible: Syntax error`},
		{name: "cel unknown variable", old: `'"sre" in user.groups'`, new: `'"sre" in person.groups'`, want: `roles.yaml:18: role prod-admin: eligible: undeclared reference to 'person'`},
		{name: "cel error on later line of block", old: `    eligible: '"sre" in user.groups'`, new: "    eligible: |\n      \"sre\" in user.groups &&\n      user.nmae == \"x\"", want: `roles.yaml:20: role prod-admin: eligible: undefined field 'nmae'`},
		{name: "bad role name", old: "  prod-admin:", new: "  Prod_Admin:", want: `roles.yaml:11: role name "Prod_Admin" must be lowercase letters, digits and dashes`},
		{name: "bad incident pattern", old: "    approvers: [U0APPROVER1", new: "    incident_pattern: '^INC-[0-9+$'\n    approvers: [U0APPROVER1", want: `roles.yaml:9: role prod-readonly: incident_pattern is not a valid regular expression`},
		{name: "group key on sts", old: "    approvers: [U0APPROVER1", new: "    group: admins\n    approvers: [U0APPROVER1", want: `roles.yaml:9: role prod-readonly: group applies only to backend aws_iam_group`},
		{name: "role not a mapping", catalog: "roles:\n  prod-admin: yes\n", want: `roles.yaml:2: role prod-admin must be a mapping of keys to values`},
		{name: "role without settings", catalog: "roles:\n  prod-admin:\n", want: `roles.yaml:2: role prod-admin has no settings`},
		{name: "empty roles", catalog: "defaults:\n  max_duration: 1h\nroles: {}\n", want: `roles.yaml:3: roles is empty: list at least one role`},
		{name: "no roles", catalog: "defaults:\n  max_duration: 1h\n", want: `roles.yaml:1: missing roles: the catalog must list at least one role`},
		{name: "empty file", catalog: "", want: `roles.yaml:1: the catalog is empty`},
		{name: "yaml syntax", catalog: "roles:\n  prod-admin:\n    backend: [aws_sts\n", want: `roles.yaml:3: YAML syntax`},
		{name: "not a mapping", catalog: "- a\n- b\n", want: `roles.yaml:1: the catalog must be a mapping of keys to values`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.catalog
			if src == "" && tt.old != "" {
				if !strings.Contains(good, tt.old) {
					t.Fatalf("test edit %q does not apply", tt.old)
				}
				src = strings.Replace(good, tt.old, tt.new, 1)
			}
			wantProblem(t, src, tt.want)
		})
	}
}

// wantProblem parses src as roles.yaml and checks that one of its problems
// starts with want (file:line: message), or that it has none when want is
// "".
func wantProblem(t *testing.T, src, want string) {
	t.Helper()
	_, err := rules.Parse("roles.yaml", []byte(src))
	if want == "" {
		if err != nil {
			t.Fatalf("want no problem, got %v", err)
		}
		return
	}
	var le *rules.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want *LoadError", err)
	}
	for _, p := range le.Problems {
		if strings.HasPrefix(p.String(), want) {
			return
		}
	}
	t.Errorf("problems:\n%v\nwant one starting with:\n%s", err, want)
}

func TestParseReportsEveryProblem(t *testing.T) {
	src := strings.NewReplacer(
		"backend: aws_sts", "backend: aws_ssm",
		"approvals_required: 2", "approvals_required: 0",
		`'"sre" in user.groups'`, `'user.emial'`,
	).Replace(good)
	_, err := rules.Parse("roles.yaml", []byte(src))
	var le *rules.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	if len(le.Problems) != 3 {
		t.Errorf("got %d problems, want 3:\n%v", len(le.Problems), err)
	}
	for i := 1; i < len(le.Problems); i++ {
		if le.Problems[i].Line < le.Problems[i-1].Line {
			t.Errorf("problems not in file order:\n%v", err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := rules.Load(path)
	if err == nil || !strings.Contains(err.Error(), path+": cannot read the role catalog") {
		t.Errorf("err = %v", err)
	}
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := rules.Load(path); err != nil || c.Path != path {
		t.Errorf("Load = %v, %v", c, err)
	}
}

func TestEvaluate(t *testing.T) {
	const src = `roles:
  r:
    backend: aws_iam_group
    group: g
    iam_user: 'user.email.split("@")[0].lowerAscii()'
    approvers: [U0AAA]
    eligible: '"sre" in user.groups && !user.is_guest && request.duration <= duration("2h")'
    auto_approve: 'request.incident.matches("^INC-[0-9]+$") && now.getHours("UTC") < 12 && request.role == "r" && size(request.reason) > 3'
`
	c, err := rules.Parse("roles.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Role("r")
	morning := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	evening := morning.Add(10 * time.Hour)
	sre := rules.User{ID: "U1", Email: "Alice.Smith@example.com", Groups: []string{"sre"}}
	in := rules.Input{Role: "r", Duration: time.Hour, Reason: "fixing it", Incident: "INC-42"}
	tests := []struct {
		name           string
		user           rules.User
		in             rules.Input
		now            time.Time
		eligible, auto bool
	}{
		{name: "sre in an incident, morning", user: sre, in: in, now: morning, eligible: true, auto: true},
		{name: "evening is not auto-approved", user: sre, in: in, now: evening, eligible: true, auto: false},
		{name: "no incident", user: sre, in: rules.Input{Role: "r", Duration: time.Hour, Reason: "fixing it"}, now: morning, eligible: true, auto: false},
		{name: "malformed incident", user: sre, in: rules.Input{Role: "r", Duration: time.Hour, Reason: "fixing it", Incident: "INC42"}, now: morning, eligible: true, auto: false},
		{name: "too long", user: sre, in: rules.Input{Role: "r", Duration: 3 * time.Hour, Reason: "fixing it"}, now: morning, eligible: false},
		{name: "not sre", user: rules.User{Email: "bob@example.com"}, in: in, now: morning, eligible: false, auto: true},
		{name: "guest", user: rules.User{Email: "g@example.com", Groups: []string{"sre"}, IsGuest: true}, in: in, now: morning, eligible: false, auto: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := r.IsEligible(tt.user, tt.in, tt.now)
			if err != nil || ok != tt.eligible {
				t.Errorf("eligible = %v, %v; want %v", ok, err, tt.eligible)
			}
			auto, err := r.IsAutoApproved(tt.user, tt.in, tt.now)
			if err != nil || auto != tt.auto {
				t.Errorf("auto_approve = %v, %v; want %v", auto, err, tt.auto)
			}
		})
	}
	name, err := r.IAMUserName(sre, in, morning)
	if err != nil || name != "alice.smith" {
		t.Errorf("iam_user = %q, %v", name, err)
	}
}

func TestNoAutoApproveRule(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Role("prod-admin")
	if ok, err := r.IsAutoApproved(rules.User{Groups: []string{"sre"}}, rules.Input{}, time.Now()); ok || err != nil {
		t.Errorf("IsAutoApproved without a rule = %v, %v", ok, err)
	}
	r, _ = c.Role("prod-readonly")
	if _, err := r.IAMUserName(rules.User{}, rules.Input{}, time.Now()); err == nil {
		t.Errorf("IAMUserName without a rule succeeded")
	}
}

func TestCostLimit(t *testing.T) {
	const src = `roles:
  r:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/r
    approvers: [U0AAA]
    eligible: 'user.groups.all(a, user.groups.all(b, user.groups.all(c, a + b + c != "")))'
`
	c, err := rules.Parse("roles.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Role("r")
	groups := make([]string, 200)
	for i := range groups {
		groups[i] = strings.Repeat("g", i%7+1)
	}
	start := time.Now()
	_, err = r.IsEligible(rules.User{Groups: groups}, rules.Input{}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Errorf("err = %v, want the cost limit to stop it", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("evaluation ran %v before stopping", d)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "15m", want: 15 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "2h", want: 2 * time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: " 1h ", want: time.Hour},
		{in: "", wantErr: true},
		{in: "h", wantErr: true},
		{in: "d", wantErr: true},
		{in: "-1h", wantErr: true},
		{in: "+1h", wantErr: true},
		{in: "1.5d", wantErr: true},
		{in: "1d-1h", wantErr: true},
		{in: "1w", wantErr: true},
		{in: "10", wantErr: true},
		{in: "99999999d", wantErr: true},
		{in: "65535d", want: 65535 * 24 * time.Hour},
		{in: "2562047h", want: 2562047 * time.Hour},
		{in: "65535d2562047h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := rules.ParseDuration(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want && !tt.wantErr {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMatching(t *testing.T) {
	roles := []*rules.Role{
		{Name: "prod-admin", Description: "Admin access to production"},
		{Name: "prod-readonly", Description: "Read-only access to the production DB"},
		{Name: "billing-readonly"},
		{Name: "staging-db", Description: "Ünïcode Database"},
	}
	names := func(rs []*rules.Role) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct{ query, want string }{
		{"", "prod-admin,prod-readonly,billing-readonly,staging-db"},
		{"  ", "prod-admin,prod-readonly,billing-readonly,staging-db"},
		{"prod", "prod-admin,prod-readonly"},
		{"PROD db", "prod-readonly"}, // every word, ignoring case, name or description
		{"readonly", "prod-readonly,billing-readonly"},
		{"ünïcode", "staging-db"},
		{"admin readonly", ""},
		{"nothing-like-it", ""},
	} {
		if got := names(rules.Matching(roles, c.query)); got != c.want {
			t.Errorf("Matching(%q) = %s, want %s", c.query, got, c.want)
		}
	}
}
