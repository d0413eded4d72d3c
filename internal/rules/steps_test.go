package rules_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/rules"
)

// stepped is a catalog whose prod-admin is approved by one owner, then by
// two people of @security.
const stepped = `roles:
  prod-admin:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email'
    eligible: '"sre" in user.groups'
    approval_steps:
      - approvers: [U0OWNER1, U0OWNER2]
      - approvers: ["@security"]
        approvals_required: 2
`

func TestApprovalSteps(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(stepped))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Role("prod-admin")
	if r.Steps() != 2 || r.ApprovalsRequired != 3 {
		t.Fatalf("steps %d, approvals_required %d; want 2 steps and 3 approvals in all", r.Steps(), r.ApprovalsRequired)
	}
	for step, want := range [][]string{{"U0OWNER1", "U0OWNER2"}, {"@security"}, nil} {
		if got := r.StepApprovers("", step); !slices.Equal(got, want) {
			t.Errorf("StepApprovers(step %d) = %v, want %v", step, got, want)
		}
	}
	if got := r.ApproverLists(); len(got) != 2 || !slices.Equal(got[1], []string{"@security"}) {
		t.Errorf("ApproverLists = %v, want both steps' lists", got)
	}
	if r.ApprovalSteps[0].ApprovalsRequired != 1 || r.ApprovalSteps[1].ApprovalsRequired != 2 {
		t.Errorf("steps = %+v, want 1 (the default) then 2", r.ApprovalSteps)
	}

	plain, err := rules.Parse("roles.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := plain.Role("prod-readonly")
	if ro.Steps() != 1 || !slices.Equal(ro.StepApprovers("", 0), ro.Approvers) || ro.StepApprovers("", 1) != nil {
		t.Errorf("a role without approval_steps: %d steps, step 0 %v, step 1 %v", ro.Steps(), ro.StepApprovers("", 0), ro.StepApprovers("", 1))
	}
}

func TestApprovalStepsProblems(t *testing.T) {
	const steps = "    approval_steps:\n      - approvers: [U0OWNER1, U0OWNER2]\n      - approvers: [\"@security\"]\n        approvals_required: 2\n"
	tests := []struct {
		name      string
		old, with string // replaced in stepped
		want      string
	}{
		{"beside approvers", steps, steps + "    approvers: [U0OWNER1]\n", `roles.yaml:11: role prod-admin: approvers cannot be set beside approval_steps, which names the approvers of each step`},
		{"beside approvals_required", steps, steps + "    approvals_required: 2\n", `roles.yaml:11: role prod-admin: approvals_required cannot be set beside approval_steps`},
		{"one step", steps, "    approval_steps:\n      - approvers: [U0OWNER1]\n", `roles.yaml:8: role prod-admin: approval_steps needs at least two steps; for one, use approvers and approvals_required`},
		{"not a list", steps, "    approval_steps: {approvers: [U0OWNER1]}\n", `roles.yaml:7: role prod-admin: approval_steps must be a list of steps`},
		{"step not a mapping", steps, "    approval_steps: [U0OWNER1, \"@security\"]\n", `roles.yaml:7: role prod-admin: step 1 of approval_steps must be a mapping with approvers and, optionally, approvals_required`},
		{"step without approvers", steps, "    approval_steps:\n      - approvals_required: 1\n      - approvers: [\"@security\"]\n", `roles.yaml:8: role prod-admin: step 1 of approval_steps is empty: list Slack user IDs (U…) or user groups (@handle)`},
		{"unknown key in a step", steps, steps + "        approvers_rule: 'true'\n", `roles.yaml:11: role prod-admin: unknown key "approvers_rule" in step 2 of approval_steps (known: approvers, approvals_required)`},
		{"count zero", steps, strings.Replace(steps, "approvals_required: 2", "approvals_required: 0", 1), `roles.yaml:8: role prod-admin: approvals_required of step 2 of approval_steps must be between 1 and 50, got 0`},
		{"count huge", steps, strings.Replace(steps, "approvals_required: 2", "approvals_required: 9223372036854775807", 1), `roles.yaml:8: role prod-admin: approvals_required of step 2 of approval_steps must be between 1 and 50, got 9223372036854775807`},
		{"count not a number", steps, strings.Replace(steps, "approvals_required: 2", "approvals_required: two", 1), `roles.yaml:10: role prod-admin: approvals_required must be a whole number, got "two"`},
		{"more than listed", steps, strings.Replace(steps, "[U0OWNER1, U0OWNER2]\n", "[U0OWNER1, U0OWNER2]\n        approvals_required: 3\n", 1), `roles.yaml:8: role prod-admin: approvals_required of step 1 of approval_steps is 3 but only 2 approver(s) are listed`},
		{"bad approver", steps, strings.Replace(steps, `"@security"`, `"security team"`, 1), `roles.yaml:8: role prod-admin: approver "security team" in step 2 of approval_steps is neither a Slack user ID (U…) nor a user group (@handle)`},
		{"approver twice in a step", steps, strings.Replace(steps, "U0OWNER2", "U0OWNER1", 1), `roles.yaml:8: role prod-admin: approver U0OWNER1 is listed twice in step 1 of approval_steps`},
		{"the same person in two steps", steps, strings.Replace(steps, `"@security"`, `U0OWNER1, "@security"`, 1), ""},
		{"three steps", steps, steps + "      - approvers: [U0CISO]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(stepped, tt.old, tt.with, 1)
			if src == stepped {
				t.Fatal("the test changed nothing")
			}
			wantProblem(t, src, tt.want)
		})
	}
}
