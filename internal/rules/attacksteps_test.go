package rules_test

import (
	"strings"
	"testing"
)

// TestApprovalStepsThatCannotBeCompleted: nobody approves two steps of
// one request, so steps that list only users, and share them, may need
// more different people than they list between them. Such a catalog is
// refused at load, with the reason, rather than leaving every request of
// the role waiting until it times out.
func TestApprovalStepsThatCannotBeCompleted(t *testing.T) {
	const steps = "    approval_steps:\n      - approvers: [U0OWNER1, U0OWNER2]\n      - approvers: [\"@security\"]\n        approvals_required: 2\n"
	const problem = `roles.yaml:8: role prod-admin: approval_steps cannot be completed: nobody approves two steps of one request`
	tests := []struct {
		name, with string // replaces steps in stepped
		want       string
	}{
		{"one person at both steps", "    approval_steps:\n      - approvers: [U0OWNER1]\n      - approvers: [U0OWNER1]\n", problem + `, and the steps that list no user group need 2 different people where at most 1 can approve`},
		{"two of two, then one of them", "    approval_steps:\n      - approvers: [U0OWNER1, U0OWNER2]\n        approvals_required: 2\n      - approvers: [U0OWNER2, U0OWNER1]\n", problem + `, and the steps that list no user group need 3 different people where at most 2 can approve`},
		{"three steps over two people", "    approval_steps:\n      - approvers: [U0OWNER1, U0OWNER2]\n      - approvers: [U0OWNER1, U0OWNER2]\n      - approvers: [U0OWNER2, U0OWNER1]\n", problem},
		{"enough people if each takes the right step", "    approval_steps:\n      - approvers: [U0OWNER1, U0OWNER2]\n      - approvers: [U0OWNER1]\n", ""},
		{"a group fills its step", "    approval_steps:\n      - approvers: [U0OWNER1]\n      - approvers: [U0OWNER1, \"@security\"]\n", ""},
		{"a step's own problem is reported once", "    approval_steps:\n      - approvers: [U0OWNER1]\n        approvals_required: 2\n      - approvers: [U0OWNER1]\n", `roles.yaml:8: role prod-admin: approvals_required of step 1 of approval_steps is 2 but only 1 approver(s) are listed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(stepped, steps, tt.with, 1)
			if src == stepped {
				t.Fatal("the test changed nothing")
			}
			wantProblem(t, src, tt.want)
		})
	}
}

// TestApprovalStepsOtherProblems: the mistakes a catalog author makes
// with approval_steps are each told, and none loads.
func TestApprovalStepsOtherProblems(t *testing.T) {
	const steps = "    approval_steps:\n      - approvers: [U0OWNER1, U0OWNER2]\n      - approvers: [\"@security\"]\n        approvals_required: 2\n"
	tests := []struct {
		name, with string
		want       string
	}{
		{"beside account_approvers", steps + "    account_approvers: {\"111111111111\": [U0OWNER3]}\n", `roles.yaml:11: role prod-admin: account_approvers cannot be set beside approval_steps`},
		{"beside an empty approvers", "    approvers: []\n" + steps, `roles.yaml:7: role prod-admin: approvers cannot be set beside approval_steps`},
		{"empty", "    approval_steps: []\n", `roles.yaml:7: role prod-admin: approval_steps needs at least two steps`},
		{"null", "    approval_steps:\n", `roles.yaml:7: role prod-admin: approval_steps must be a list of steps`},
		{"a null step", "    approval_steps:\n      - approvers: [U0OWNER1]\n      - ~\n", `roles.yaml:9: role prod-admin: step 2 of approval_steps must be a mapping`},
		{"approvers not a list", "    approval_steps:\n      - approvers: U0OWNER1\n      - approvers: [\"@security\"]\n", `roles.yaml:8: role prod-admin: approvers must be a list`},
		{"approvers twice in a step", "    approval_steps:\n      - approvers: [U0OWNER1]\n        approvers: [U0OWNER2]\n      - approvers: [\"@security\"]\n", `roles.yaml:9: YAML syntax: mapping key "approvers" already defined`},
		{"negative count", strings.Replace(steps, "approvals_required: 2", "approvals_required: -3", 1), `roles.yaml:8: role prod-admin: approvals_required of step 2 of approval_steps must be between 1 and 50, got -3`},
		{"count too large for an int", strings.Replace(steps, "approvals_required: 2", "approvals_required: 99999999999999999999", 1), `roles.yaml:10: role prod-admin: approvals_required must be a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(stepped, steps, tt.with, 1)
			if src == stepped {
				t.Fatal("the test changed nothing")
			}
			wantProblem(t, src, tt.want)
		})
	}
}
