package rules_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// TestRequestStart: every rule of a person reads request.start, when the
// access is to begin; a request without one starts now.
func TestRequestStart(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(`roles:
  r:
    backend: aws_iam_group
    group: g
    iam_user: 'user.id + "-" + string(request.start.getHours("UTC"))'
    approvers: ['@leads']
    eligible: 'request.start - now < duration("72h")'
    auto_approve: 'request.start.getHours("Europe/Berlin") >= 22'
    approver_rule: 'request.start > now || "sre" in approver.groups'
`))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Roles["r"]
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC) // 10:00 in Berlin
	u := rules.User{ID: "U0ALICE"}
	for _, tt := range []struct {
		name                      string
		start                     time.Time
		eligible, auto, mayDecide bool
		iamUser                   string
	}{
		{"immediate", time.Time{}, true, false, false, "U0ALICE-9"},
		{"tonight in Berlin", time.Date(2026, 3, 10, 21, 30, 0, 0, time.UTC), true, true, true, "U0ALICE-21"},
		{"in four days", time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC), false, false, true, "U0ALICE-9"},
	} {
		in := rules.Input{Role: "r", Duration: time.Hour, Start: tt.start}
		eligible, err1 := r.IsEligible(u, in, now)
		auto, err2 := r.IsAutoApproved(u, in, now)
		mayDecide, err3 := r.ApproverAllowed(rules.User{ID: "U0LEAD"}, in, now)
		iamUser, err4 := r.IAMUserName(u, in, now)
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
		}
		if eligible != tt.eligible || auto != tt.auto || mayDecide != tt.mayDecide || iamUser != tt.iamUser {
			t.Errorf("%s: eligible %v, auto_approve %v, approver_rule %v, iam_user %q; want %v, %v, %v, %q",
				tt.name, eligible, auto, mayDecide, iamUser, tt.eligible, tt.auto, tt.mayDecide, tt.iamUser)
		}
	}
}

// TestWorkloadRequestStart: the rules under workloads read request.start
// too.
func TestWorkloadRequestStart(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(`workload_issuers:
  github: {issuer: https://token.actions.githubusercontent.com, audience: jitbot}
roles:
  r:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/r
    approvers: ['@leads']
    eligible: 'false'
    workloads:
      eligible: 'request.start.getDayOfWeek("UTC") != 0'
`))
	if err != nil {
		t.Fatal(err)
	}
	w := rules.Workload{IssuerName: "github", Repository: "acme/infra"}
	now := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC) // a Tuesday
	for _, tt := range []struct {
		start time.Time
		want  bool
	}{
		{time.Time{}, true},
		{time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC), false}, // a Sunday
	} {
		got, err := c.Roles["r"].WorkloadEligible(w, rules.Input{Role: "r", Start: tt.start}, now)
		if err != nil || got != tt.want {
			t.Errorf("start %v: %v, %v; want %v", tt.start, got, err, tt.want)
		}
	}
}
