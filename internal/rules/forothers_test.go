package rules_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// forOthersRole is a role whose request_for_others is appended.
const forOthersRole = `roles:
  r:
    backend: aws_iam_group
    group: g
    iam_user: 'user.id'
    approvers: ['@leads']
    eligible: 'true'
`

// TestRequestForOthers: request_for_others is CEL over user (who files),
// grantee (who the request is for) and request; a role without it lets
// nobody ask for someone else.
func TestRequestForOthers(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(forOthersRole+
		`    request_for_others: 'grantee.oncall && "sre" in user.groups && grantee.id != user.id && request.start - now < duration("24h")'
`))
	if err != nil {
		t.Fatal(err)
	}
	role := c.Roles["r"]
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	lead := rules.User{ID: "U0LEAD", Groups: []string{"sre"}}
	oncall := rules.User{ID: "U0BOB", OnCall: true}
	for _, tt := range []struct {
		name           string
		filer, grantee rules.User
		start          time.Time
		want           bool
	}{
		{"an sre for the on-call engineer", lead, oncall, time.Time{}, true},
		{"an sre for the on-call engineer tomorrow night", lead, oncall, now.Add(20 * time.Hour), true},
		{"an sre for the on-call engineer next week", lead, oncall, now.Add(7 * 24 * time.Hour), false},
		{"an sre for someone off call", lead, rules.User{ID: "U0CAROL"}, time.Time{}, false},
		{"someone else for the on-call engineer", rules.User{ID: "U0DAN", Groups: []string{"dba"}}, oncall, time.Time{}, false},
		{"an on-call sre for themselves", rules.User{ID: "U0LEAD", Groups: []string{"sre"}, OnCall: true}, rules.User{ID: "U0LEAD", OnCall: true}, time.Time{}, false},
	} {
		for _, prepared := range []bool{false, true} {
			filer, grantee := tt.filer, tt.grantee
			if prepared {
				filer, grantee = rules.Prepare(filer), rules.Prepare(grantee)
			}
			got, err := role.MayRequestFor(filer, grantee, rules.Input{Role: "r", Duration: time.Hour, Start: tt.start}, now)
			if err != nil || got != tt.want {
				t.Errorf("%s (prepared %v): %v, %v; want %v", tt.name, prepared, got, err, tt.want)
			}
		}
	}

	plain, err := rules.Parse("roles.yaml", []byte(forOthersRole))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := plain.Roles["r"].MayRequestFor(lead, oncall, rules.Input{Role: "r"}, now); ok || err != nil {
		t.Errorf("a role without request_for_others: %v, %v; want false, nil", ok, err)
	}
}

// TestRequestForOthersProblems: request_for_others is type-checked at
// load like the other rules, and only it sees grantee.
func TestRequestForOthersProblems(t *testing.T) {
	for _, tt := range []struct{ add, want string }{
		{`    request_for_others: 'grantee.email'`, `roles.yaml:8: role r: request_for_others: must give a bool, but gives a string`},
		{`    request_for_others: 'grantee.emial != ""'`, `roles.yaml:8: role r: request_for_others: undefined field 'emial'`},
		{`    request_for_others: '"sre" in approver.groups'`, `roles.yaml:8: role r: request_for_others: undeclared reference to 'approver'`},
		{`    request_for_others: 'workload.repository != ""'`, `roles.yaml:8: role r: request_for_others: undeclared reference to 'workload'`},
		{`    request_for_others: '"sre" in user.groups &&'`, `roles.yaml:8: role r: request_for_others: Syntax error`},
		{`    request_for_others: [true]`, `roles.yaml:8: role r: request_for_others must be a string`},
		{`    auto_approve: 'grantee.oncall'`, `roles.yaml:8: role r: auto_approve: undeclared reference to 'grantee' (in container ''); only request_for_others sees grantee`},
		{`    approver_rule: 'grantee.oncall'`, `roles.yaml:8: role r: approver_rule: undeclared reference to 'grantee'`},
	} {
		t.Run(tt.add, func(t *testing.T) { wantProblem(t, forOthersRole+tt.add+"\n", tt.want) })
	}
}
