package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/testenv"
)

// ouRoles are aws_sso roles granted in organizational units: ou-admin in
// the OU %s the test makes, and two in an OU that does not exist, one
// with an account of its own.
const ouRoles = `  ou-admin:
    backend: aws_sso
    permission_set: AdministratorAccess
    organizational_unit: %s
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
  lost-ou:
    backend: aws_sso
    permission_set: AdministratorAccess
    organizational_unit: ou-zzzz-zzzzzzzz
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
  lost-ou-legacy:
    backend: aws_sso
    permission_set: AdministratorAccess
    organizational_unit: ou-zzzz-zzzzzzzz
    accounts: {legacy: "111111111111"}
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
`

// TestSlackSSOOrganizationalUnit: a role with only an organizational unit
// is granted in the accounts under it, a child OU's included, named by
// the alias made from the account's name; an account outside is refused;
// an account moved into the OU is requestable after SIGHUP. An OU that
// cannot be read does not stop jitbot: it is announced, its roles keep
// their own accounts, and one with none says why it refuses.
func TestSlackSSOOrganizationalUnit(t *testing.T) {
	var org *testenv.Organization
	var ou, sandbox, outside string
	b := startSSOBotWith(t, func(b *ssoBot) string {
		org = testenv.CreateOrganization(t, testenv.AWSConfig(t, b.moto.URL()))
		ou = org.OU(t, org.Root, "workloads")
		org.Account(t, "Workload Prod", ou)
		sandbox = org.Account(t, "Sandbox One", org.OU(t, ou, "sandboxes"))
		outside = org.Account(t, "Outside", org.Root)
		return fmt.Sprintf(ouRoles, ou)
	}, "bob@example.com")

	b.slack.WaitFor(t, "the unreadable OU is announced", 15*time.Second, func() bool {
		return b.auditHas("could not be read from AWS Organizations") && b.auditHas("ou-zzzz-zzzzzzzz")
	})
	if got := b.command(t, "UBOB", "request lost-ou 1h checking the lost accounts"); !strings.Contains(got, "lost-ou has no accounts yet: its organizational unit ou-zzzz-zzzzzzzz could not be read from AWS Organizations") {
		t.Errorf("a role whose only OU could not be read: %s", got)
	}
	requestID(t, b.command(t, "UBOB", "request lost-ou-legacy 1h checking the legacy account")) // its own account is still there
	if got := b.command(t, "UBOB", "roles"); !strings.Contains(got, "workload-prod (") || !strings.Contains(got, "sandbox-one ("+sandbox+")") {
		t.Errorf("/jit roles does not list the OU's accounts: %s", got)
	}

	b.grantIn(t, "request ou-admin 1h --account sandbox-one checking the sandbox", sandbox)
	if got := b.command(t, "UBOB", "request ou-admin 1h --account "+outside+" checking outside"); !strings.Contains(got, `ou-admin is not granted in account "`+outside+`"`) || !strings.Contains(got, "organizational unit "+ou) {
		t.Errorf("an account outside the OU: %s", got)
	}

	staging := org.Account(t, "Workload Staging", ou)
	ask := "request ou-admin 1h --account workload-staging checking staging"
	if got := b.command(t, "UBOB", ask); !strings.Contains(got, "not granted in account") {
		t.Fatalf("an account moved into the OU after the last reading was granted before SIGHUP: %s", got)
	}
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	b.slack.WaitFor(t, "the moved account is listed after SIGHUP", 15*time.Second, func() bool {
		return strings.Contains(b.command(t, "UBOB", "roles"), "workload-staging ("+staging+")")
	})
	b.grantIn(t, ask, staging)
}

// grantIn files the request ask as bob, has it approved, and checks that
// bob is assigned AdministratorAccess in account.
func (b *ssoBot) grantIn(t *testing.T, ask, account string) {
	t.Helper()
	id := requestID(t, b.command(t, "UBOB", ask))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UBOB", id, "AdministratorAccess")
	if got := b.assigned(t, account); !slices.Equal(got, []string{b.users["bob@example.com"]}) {
		t.Fatalf("assigned in %s: %v, want bob", account, got)
	}
}
