package rules_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/rules"
)

func TestAccountApprovers(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(`roles:
  admin-sso:
    backend: aws_sso
    permission_set: AdministratorAccess
    accounts: {dev: "111111111111", prod: "333333333333"}
    approvers: ["@platform-leads"]
    account_approvers:
      prod: [U0PRODOWNER, "@prod-owners"]
      "444444444444": [U0OTHER]
    eligible: 'true'
`))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Role("admin-sso")
	for account, want := range map[string][]string{
		"111111111111": {"@platform-leads"},
		"333333333333": {"U0PRODOWNER", "@prod-owners"},
		"444444444444": {"U0OTHER"}, // by ID: an account of an organizational unit
		"":             {"@platform-leads"},
	} {
		if got := r.ApproversIn(account); !slices.Equal(got, want) {
			t.Errorf("ApproversIn(%q) = %v, want %v", account, got, want)
		}
	}
	lists := r.ApproverLists()
	if len(lists) != 3 || !slices.Equal(lists[1], []string{"U0PRODOWNER", "@prod-owners"}) || !slices.Equal(lists[2], []string{"U0OTHER"}) {
		t.Errorf("ApproverLists = %v, want the role's, then prod's, then 444444444444's", lists)
	}
	if got := rules.UserIDs(r.ApproversIn("333333333333")); !slices.Equal(got, []string{"U0PRODOWNER"}) {
		t.Errorf("UserIDs = %v", got)
	}
	if got := rules.GroupHandles(r.ApproversIn("333333333333")); !slices.Equal(got, []string{"prod-owners"}) {
		t.Errorf("GroupHandles = %v", got)
	}
}

func TestAccountApproversProblems(t *testing.T) {
	base := `roles:
  admin-sso:
    backend: aws_sso
    permission_set: AdministratorAccess
    accounts: {dev: "111111111111", prod: "333333333333"}
    approvers: ["@platform-leads"]
    eligible: 'true'
`
	for name, tc := range map[string]struct{ extra, want string }{
		"unknown alias":     {"    account_approvers: {staging: [U0A]}\n", `account_approvers names "staging", which is neither an account ID nor the alias of one of its accounts`},
		"not a map":         {"    account_approvers: [U0A]\n", "account_approvers must map an account (ID or alias) to its approvers"},
		"bad approver":      {"    account_approvers: {prod: [alice]}\n", `approver "alice" in account_approvers of prod is neither a Slack user ID`},
		"empty list":        {"    account_approvers: {prod: []}\n", "account_approvers of prod is empty"},
		"alias and ID":      {"    account_approvers: {prod: [U0A], \"333333333333\": [U0B]}\n", "account_approvers names account 333333333333 twice"},
		"too few approvers": {"    approvals_required: 2\n    account_approvers: {prod: [U0A]}\n", "approvals_required is 2 but only 1 approver(s) are listed in account_approvers of prod"},
		"listed twice":      {"    account_approvers: {prod: [U0A, U0A]}\n", "approver U0A is listed twice in account_approvers of prod"},
	} {
		t.Run(name, func(t *testing.T) {
			src := base + tc.extra
			_, err := rules.Parse("roles.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want a problem saying %q", err, tc.want)
			}
		})
	}
}

func TestAccountApproversOnlyForAWSSSO(t *testing.T) {
	_, err := rules.Parse("roles.yaml", []byte(`roles:
  admins:
    backend: aws_iam_group
    group: jit-admins
    approvers: ["@platform-leads"]
    account_approvers: {prod: [U0A]}
    eligible: 'true'
`))
	if want := "account_approvers applies only to backend aws_sso"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse = %v, want a problem saying %q", err, want)
	}
}
