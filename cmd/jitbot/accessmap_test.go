package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/accessmap"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

const accessMapCatalog = `roles:
  prod-admin:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email'
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
  prod-readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/prod-readonly
    approvers: [U0DAN]
    eligible: 'user.email.endsWith("@example.com")'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
`

// accessMapSetup is a workspace in the Slack fake and a catalog on disk,
// and the environment that points jitbot at both.
func accessMapSetup(t *testing.T) (*slackfake.Server, string, []string) {
	t.Helper()
	s := testenv.StartSlack(t)
	s.AddUser(slackfake.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"})
	s.AddUser(slackfake.User{ID: "U0BOB", Name: "bob", Email: "bob@example.com"})
	s.AddUser(slackfake.User{ID: "U0DAN", Name: "dan", Email: "dan@example.com"})
	s.AddUser(slackfake.User{ID: "U0GUS", Name: "gus", Email: "gus@example.com", IsGuest: true})
	s.AddUser(slackfake.User{ID: "U0GONE", Name: "gone", Email: "gone@example.com", Deleted: true})
	s.AddUserGroup("S0LEADS", "platform-leads", "U0ALICE")
	s.AddUserGroup("S0SRE", "sre", "U0ALICE", "U0BOB", "U0GUS", "U0GONE")
	s.AddUserGroup("S0ONCALL", "oncall", "U0BOB")
	catalog := filepath.Join(t.TempDir(), "roles.yaml")
	writeFile(t, catalog, accessMapCatalog)
	return s, catalog, cleanEnv("SLACK_BOT_TOKEN="+s.BotToken(), "SLACK_API_URL="+s.APIURL(), "JIT_RULES="+catalog)
}

func TestAccessMapCommand(t *testing.T) {
	s, catalog, env := accessMapSetup(t)
	cat, err := rules.Load(catalog)
	if err != nil {
		t.Fatal(err)
	}

	r := runBinary(t, env, "access-map")
	// gus is in sre but a guest, gone is deactivated, and the bot (in
	// every workspace) never requests.
	want := []string{
		"catalog sha256 " + cat.SHA256,
		"role prod-admin: aws_iam_group jit-prod-admin, approvals_required 1",
		"  approve: alice <alice@example.com> (U0ALICE)",
		"  request: alice <alice@example.com> (U0ALICE)",
		"  request: bob <bob@example.com> (U0BOB)",
		"role prod-readonly: aws_sts arn:aws:iam::111111111111:role/prod-readonly, approvals_required 1",
		"  approve: dan <dan@example.com> (U0DAN)",
		"  request: alice <alice@example.com> (U0ALICE)",
		"  request: bob <bob@example.com> (U0BOB)",
		"  request: dan <dan@example.com> (U0DAN)",
		"  auto-approve: bob <bob@example.com> (U0BOB)",
	}
	if r.code != 0 || r.stdout != strings.Join(want, "\n")+"\n" || r.stderr != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0 and\n%s", r.code, r.stdout, r.stderr, strings.Join(want, "\n"))
	}
	if n := len(s.Calls("users.list")); n < 3 {
		t.Errorf("users.list called %d times: the six users take three pages", n)
	}

	// JSON is the same map: decoded and written as text, it is what the
	// text format printed.
	j := runBinary(t, env, "access-map", "--format", "json")
	var m accessmap.Map
	if err := json.Unmarshal([]byte(j.stdout), &m); j.code != 0 || err != nil {
		t.Fatalf("--format json: exit %d, %v\n%s%s", j.code, err, j.stdout, j.stderr)
	}
	var text bytes.Buffer
	m.WriteText(&text)
	if text.String() != r.stdout || m.Generated.IsZero() {
		t.Errorf("JSON map as text:\n%s\nwant\n%s", text.String(), r.stdout)
	}
	if j2 := runBinary(t, env, "access-map", "--format=json"); j2.code != 0 || !json.Valid([]byte(j2.stdout)) {
		t.Errorf("--format=json: exit %d\n%s", j2.code, j2.stderr)
	}

	// Bob joins the approving group: the next map differs from the first
	// by exactly one line, the one that says bob may now approve.
	s.SetUserGroupMembers("platform-leads", "U0ALICE", "U0BOB")
	r2 := runBinary(t, env, "access-map")
	if r2.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r2.code, r2.stderr)
	}
	gained := "  approve: bob <bob@example.com> (U0BOB)"
	before, after := accessMapLines(r.stdout), accessMapLines(r2.stdout)
	i := slices.Index(after, gained)
	if i < 0 || !slices.Equal(slices.Delete(slices.Clone(after), i, i+1), before) {
		t.Errorf("second run is not the first plus %q:\n%s", gained, r2.stdout)
	}
	if i >= 0 && after[i-1] != "  approve: alice <alice@example.com> (U0ALICE)" {
		t.Errorf("bob's line is not among prod-admin's approvers:\n%s", r2.stdout)
	}
}

func accessMapLines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func TestAccessMapCommandErrors(t *testing.T) {
	s, catalog, env := accessMapSetup(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, "roles: {}\n")
	// An address nothing listens on: Slack is unreachable.
	down := fmt.Sprintf("http://127.0.0.1:%d/api/", testenv.FreePort(t))
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string // in stderr
	}{
		{name: "no token", env: cleanEnv("JIT_RULES=" + catalog), code: 2,
			want: "jitbot: SLACK_BOT_TOKEN: required for access-map: the bot token (xoxb-…, with users:read, users:read.email and usergroups:read)\n"},
		{name: "app token as bot token", env: cleanEnv("SLACK_BOT_TOKEN="+s.AppToken(), "JIT_RULES="+catalog), code: 2,
			want: "jitbot: SLACK_BOT_TOKEN: expected a bot token starting with xoxb-\n"},
		{name: "token Slack refuses", env: cleanEnv("SLACK_BOT_TOKEN=xoxb-revoked", "SLACK_API_URL="+s.APIURL(), "JIT_RULES="+catalog), code: 2,
			want: "jitbot: SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)"},
		{name: "bad SLACK_API_URL", env: cleanEnv("SLACK_BOT_TOKEN=xoxb-test", "SLACK_API_URL=slack.com/api", "JIT_RULES="+catalog), code: 2,
			want: "jitbot: SLACK_API_URL: expected an http(s) URL ending in /"},
		{name: "bad catalog", env: cleanEnv("SLACK_BOT_TOKEN="+s.BotToken(), "SLACK_API_URL="+s.APIURL(), "JIT_RULES="+bad), code: 2,
			want: bad + ":1: roles is empty"},
		{name: "unknown format", env: env, args: []string{"--format", "yaml"}, code: 2,
			want: `jitbot access-map: --format must be text or json, got "yaml"`},
		{name: "unknown flag", env: env, args: []string{"--catalog", "x"}, code: 2,
			want: "usage: jitbot access-map [--format text|json]"},
		{name: "argument", env: env, args: []string{"roles.yaml"}, code: 2,
			want: `unexpected argument "roles.yaml"; the catalog comes from JIT_RULES`},
		{name: "Slack unreachable", env: cleanEnv("SLACK_BOT_TOKEN=xoxb-test", "SLACK_API_URL="+down, "JIT_RULES="+catalog), code: 1,
			want: "jitbot: access-map: list users: usergroups.list: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, tt.env, append([]string{"access-map"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit %d and %q", r.code, r.stdout, r.stderr, tt.code, tt.want)
			}
		})
	}

	t.Run("users.list fails", func(t *testing.T) {
		s.FailNext("users.list", 1, "internal_error")
		r := runBinary(t, env, "access-map")
		if want := "jitbot: access-map: list users: users.list: internal_error\n"; r.code != 1 || r.stderr != want {
			t.Errorf("exit %d, stderr %q\nwant exit 1 and %q", r.code, r.stderr, want)
		}
	})
	t.Run("help", func(t *testing.T) {
		r := runBinary(t, env, "access-map", "-h")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: jitbot access-map") {
			t.Errorf("exit %d, stdout %q", r.code, r.stdout)
		}
	})
}

// TestAccessMapNamesTheAccount: through the binary, an Identity Center
// role is mapped per account, in the catalog's order, with the account's
// own approvers and the requesters its rules admit there.
func TestAccessMapNamesTheAccount(t *testing.T) {
	_, catalog, env := accessMapSetup(t)
	writeFile(t, catalog, `roles:
  admin-sso:
    backend: aws_sso
    permission_set: AdministratorAccess
    accounts: {staging: "111111111111", prod: "222222222222"}
    approvers: ["@platform-leads"]
    account_approvers: {prod: [U0DAN]}
    eligible: '"sre" in user.groups && (request.account != "222222222222" || "oncall" in user.groups)'
`)
	r := runBinary(t, env, "access-map")
	want := strings.Join([]string{
		"role admin-sso in staging (111111111111): aws_sso AdministratorAccess, approvals_required 1",
		"  approve: alice <alice@example.com> (U0ALICE)",
		"  request: alice <alice@example.com> (U0ALICE)",
		"  request: bob <bob@example.com> (U0BOB)",
		"role admin-sso in prod (222222222222): aws_sso AdministratorAccess, approvals_required 1",
		"  approve: dan <dan@example.com> (U0DAN)",
		"  request: bob <bob@example.com> (U0BOB)",
	}, "\n")
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant it to hold:\n%s", r.code, r.stdout, r.stderr, want)
	}
}

const ouMapCatalog = `roles:
  ou-admin:
    backend: aws_sso
    permission_set: AdministratorAccess
    organizational_unit: %s
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
`

// TestAccessMapReadsOrganizationalUnits: access-map reads the accounts of
// an organizational unit as jitbot serve does, and one it cannot read is
// said on stderr, the role still mapped and its entry saying why.
func TestAccessMapReadsOrganizationalUnits(t *testing.T) {
	_, catalog, env := accessMapSetup(t)
	moto := testenv.StartMoto(t)
	org := testenv.CreateOrganization(t, testenv.AWSConfig(t, moto.URL()))
	ou := org.OU(t, org.Root, "workloads")
	prod := org.Account(t, "Workload Prod", ou)
	writeFile(t, catalog, fmt.Sprintf(ouMapCatalog, ou))
	aws := append(env, "AWS_ENDPOINT_URL="+moto.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	r := runBinary(t, aws, "access-map")
	if want := "role ou-admin in workload-prod (" + prod + "): aws_sso AdministratorAccess"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant a line %q", r.code, r.stdout, r.stderr, want)
	}

	writeFile(t, catalog, fmt.Sprintf(ouMapCatalog, "ou-zzzz-zzzzzzzz"))
	r = runBinary(t, aws, "access-map")
	if r.code != 0 || !strings.Contains(r.stderr, "could not be read from AWS Organizations") ||
		!strings.Contains(r.stdout, "role ou-admin: aws_sso AdministratorAccess") ||
		!strings.Contains(r.stdout, "error: no accounts: those of organizational unit ou-zzzz-zzzzzzzz were not read") {
		t.Errorf("an unreadable OU: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}
