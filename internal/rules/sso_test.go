package rules_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

const ssoCatalog = `roles:
  prod-admin-sso:
    backend: aws_sso
    permission_set: AdministratorAccess
    accounts: {dev: "111111111111", staging: 222222222222, prod: "333333333333"}
    approvers: [U0APPROVER1]
    eligible: 'request.account != "333333333333" || "sre" in user.groups'
  readonly-sso:
    backend: aws_sso
    permission_set: ReadOnlyAccess
    accounts: ["111111111111", 222222222222]
    approvers: [U0APPROVER1]
    eligible: 'true'
  billing-sso:
    backend: aws_sso_group
    sso_group: Billing Admins
    sso_user: 'user.name'
    approvers: [U0APPROVER1]
    eligible: 'true'
`

func TestParseSSORoles(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(ssoCatalog))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Role("prod-admin-sso")
	want := []rules.Account{{ID: "111111111111", Alias: "dev"}, {ID: "222222222222", Alias: "staging"}, {ID: "333333333333", Alias: "prod"}}
	if r.Backend != "aws_sso" || r.PermissionSet != "AdministratorAccess" || !slices.Equal(r.Accounts, want) {
		t.Fatalf("aws_sso role = %s %q %v", r.Backend, r.PermissionSet, r.Accounts)
	}
	if a, ok := r.FindAccount("prod"); !ok || a.ID != "333333333333" || a.String() != "prod (333333333333)" {
		t.Errorf("FindAccount(prod) = %v, %v", a, ok)
	}
	if _, ok := r.FindAccount("444444444444"); ok {
		t.Errorf("FindAccount found an account the role does not list")
	}
	ro, _ := c.Role("readonly-sso")
	if want := []rules.Account{{ID: "111111111111"}, {ID: "222222222222"}}; !slices.Equal(ro.Accounts, want) {
		t.Errorf("a list of IDs = %v, want %v", ro.Accounts, want)
	}
	alice := rules.User{ID: "UALICE", Name: "alice", Email: "alice@example.com"}
	now := time.Now()
	if name, err := r.SSOUserName(alice, rules.Input{}, now); err != nil || name != "alice@example.com" {
		t.Errorf("default sso_user = %q, %v; want the email", name, err)
	}
	for account, want := range map[string]bool{"111111111111": true, "333333333333": false} {
		ok, err := r.IsEligible(alice, rules.Input{Role: r.Name, Account: account}, now)
		if err != nil || ok != want {
			t.Errorf("eligible for %s = %v, %v; want %v (request.account)", account, ok, err, want)
		}
	}
	g, _ := c.Role("billing-sso")
	if name, _ := g.SSOUserName(alice, rules.Input{}, now); g.SSOGroup != "Billing Admins" || name != "alice" {
		t.Errorf("aws_sso_group role: group %q user %q", g.SSOGroup, name)
	}
}

func TestParseSSOProblems(t *testing.T) {
	checkEdits(t, ssoCatalog, []catalogEdit{
		{"no accounts", `    accounts: {dev: "111111111111", staging: 222222222222, prod: "333333333333"}
`, "", "backend aws_sso needs accounts"},
		{"bad account", `dev: "111111111111"`, `dev: "11111"`, `account "11111" is not a 12-digit AWS account ID`},
		{"twice", `staging: 222222222222`, `staging: "111111111111"`, "account staging (111111111111) is listed twice"},
		{"bad alias", `dev: "111111111111"`, `Dev_1: "111111111111"`, `account alias "Dev_1" must be lower-case`},
		{"not a list", `accounts: ["111111111111", 222222222222]`, `accounts: "111111111111"`, "accounts must be a list of account IDs, or a map"},
		{"no permission set", "    permission_set: AdministratorAccess\n", "", "backend aws_sso needs permission_set"},
		{"no group", "    sso_group: Billing Admins\n", "", "backend aws_sso_group needs sso_group"},
		{"iam key on sso", "    permission_set: AdministratorAccess\n", "    permission_set: AdministratorAccess\n    group: jit-x\n", "group does not apply to backend aws_sso"},
		{"sso key on group", "    sso_group: Billing Admins\n", "    sso_group: Billing Admins\n    accounts: [\"111111111111\"]\n", "accounts does not apply to backend aws_sso_group"},
		{"bad sso_user", "sso_user: 'user.name'", "sso_user: 'user.nmae'", "sso_user"},
	})
	iam := strings.Replace(good, "    iam_user: 'user.email'\n", "    iam_user: 'user.email'\n    accounts: [\"111111111111\"]\n", 1)
	if _, err := rules.Parse("roles.yaml", []byte(iam)); err == nil || !strings.Contains(err.Error(), "accounts applies only to the Identity Center backends") {
		t.Errorf("accounts on an IAM group role: %v", err)
	}
}

// catalogEdit is a change to a catalog that must make it fail to load
// with a problem containing want.
type catalogEdit struct{ name, old, new, want string }

// checkEdits applies each edit to base alone and checks the problem.
func checkEdits(t *testing.T, base string, edits []catalogEdit) {
	t.Helper()
	for _, tt := range edits {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(base, tt.old, tt.new, 1)
			if src == base {
				t.Fatalf("the edit %q changed nothing", tt.old)
			}
			_, err := rules.Parse("roles.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
