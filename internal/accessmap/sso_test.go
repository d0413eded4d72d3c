package accessmap_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/accessmap"
	"github.com/jitbot/jitbot/internal/rules"
)

// TestIdentityCenterRolesPerAccount: an aws_sso role has one entry per
// account, each with the requesters its rules admit there
// (request.account) and the approvers of that account.
func TestIdentityCenterRolesPerAccount(t *testing.T) {
	cat, err := rules.Parse("roles.yaml", []byte(`roles:
  admin-sso:
    backend: aws_sso
    permission_set: AdministratorAccess
    accounts: {staging: "111111111111", prod: "222222222222"}
    approvers: ["@platform-leads"]
    account_approvers: {prod: [U0DAN]}
    eligible: '"sre" in user.groups && (request.account != "222222222222" || "oncall" in user.groups)'
  billing-sso:
    backend: aws_sso_group
    sso_group: Billing Admins
    approvers: [U0DAN]
    eligible: '"dba" in user.groups'
`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := accessmap.Build(t.Context(), cat, workspace(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ps []accessmap.Person) string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return strings.Join(out, ",")
	}
	var got []string
	for _, r := range m.Roles {
		got = append(got, r.Role+"/"+r.Account+"/"+r.AccountAlias+" "+r.Target+" approve="+ids(r.Approvers)+" request="+ids(r.Requesters))
	}
	want := []string{
		"admin-sso/111111111111/staging AdministratorAccess approve=U0ALICE,U0GONE request=U0ALICE,U0BOB",
		"admin-sso/222222222222/prod AdministratorAccess approve=U0DAN request=U0BOB",
		"billing-sso// Billing Admins approve=U0DAN request=U0CAROL",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("map:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var text bytes.Buffer
	if err := m.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"role admin-sso in prod (222222222222): aws_sso AdministratorAccess, approvals_required 1\n  approve: dan <dan@example.com> (U0DAN)\n",
		"role billing-sso: aws_sso_group Billing Admins, approvals_required 1\n",
	} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("text map lacks %q:\n%s", line, text.String())
		}
	}
}
