package rules_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

const approverRuleRole = `roles:
  r:
    backend: aws_iam_group
    group: g
    iam_user: 'user.id'
    approvers: ['@leads']
    eligible: 'true'
`

// TestApproverRule: approver_rule is CEL over approver and request,
// type-checked at load like the other rules; it cannot read user (the
// requester) and the other rules cannot read approver.
func TestApproverRule(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(approverRuleRole+`    approver_rule: '!approver.is_guest && "sre" in approver.groups && request.duration <= duration("2h")'
`))
	if err != nil {
		t.Fatal(err)
	}
	role := c.Roles["r"]
	for _, tt := range []struct {
		u    rules.User
		d    time.Duration
		want bool
	}{
		{rules.User{ID: "UA", Groups: []string{"sre"}}, time.Hour, true},
		{rules.User{ID: "UB", Groups: []string{"dba"}}, time.Hour, false},
		{rules.User{ID: "UC", Groups: []string{"sre"}, IsGuest: true}, time.Hour, false},
		{rules.User{ID: "UD", Groups: []string{"sre"}}, 3 * time.Hour, false},
	} {
		got, err := role.ApproverAllowed(tt.u, rules.Input{Role: "r", Duration: tt.d}, time.Now())
		if err != nil || got != tt.want {
			t.Errorf("ApproverAllowed(%s, %v) = %v, %v; want %v", tt.u.ID, tt.d, got, err, tt.want)
		}
	}
	if ok, err := c.Roles["r"].ApproverAllowed(rules.User{}, rules.Input{}, time.Now()); err != nil || ok {
		t.Errorf("nobody in no group passes: %v, %v", ok, err)
	}

	for _, bad := range []struct{ yaml, want string }{
		{`    approver_rule: '"sre" in approver.grups'` + "\n", "approver_rule"},
		{`    approver_rule: '"sre" in user.groups'` + "\n", "approver_rule"},
		{`    approver_rule: 'approver.email'` + "\n", "approver_rule"},
		{`    auto_approve: 'approver.is_guest'` + "\n", "auto_approve"},
	} {
		_, err := rules.Parse("roles.yaml", []byte(approverRuleRole+bad.yaml))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want a problem with %s", strings.TrimSpace(bad.yaml), err, bad.want)
		}
	}
	plain, err := rules.Parse("roles.yaml", []byte(approverRuleRole))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := plain.Roles["r"].ApproverAllowed(rules.User{IsGuest: true}, rules.Input{}, time.Now()); err != nil || !ok {
		t.Errorf("a role without approver_rule admits every approver: %v, %v", ok, err)
	}
}

// TestRuleTestsMayApprove: a rules test case may name an approver and
// expect may_approve, which runs the role's approver_rule.
func TestRuleTestsMayApprove(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "roles.yaml"), approverRuleRole+`    approver_rule: '"sre" in approver.groups'
`)
	tests := filepath.Join(dir, "t.yaml")
	writeTestFile(t, tests, `catalog: roles.yaml
cases:
  - name: an sre lead may approve
    user: {id: U0BOB}
    approver: {id: U0LEAD, groups: [sre]}
    request: {role: r}
    expect: {may_approve: true}
  - name: a dba lead may not
    user: {id: U0BOB}
    approver: {id: U0DBA, groups: [dba]}
    request: {role: r}
    expect: {may_approve: true}
`)
	f, err := rules.LoadTests(tests)
	if err != nil {
		t.Fatal(err)
	}
	res := f.Run(loadCatalog(t, f.Catalog))
	if !res[0].Pass || res[1].Pass || len(res[1].Failures) != 1 ||
		res[1].Failures[0] != `approver_rule = false, want true (approver_rule: '"sre" in approver.groups')` {
		t.Errorf("results = %+v", res)
	}

	writeTestFile(t, tests, `catalog: roles.yaml
cases:
  - name: no approver
    user: {id: U0BOB}
    request: {role: r}
    expect: {may_approve: true}
`)
	if _, err := rules.LoadTests(tests); err == nil || !strings.Contains(err.Error(), "may_approve needs an approver") {
		t.Errorf("may_approve without an approver: %v", err)
	}
}

func writeTestFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
