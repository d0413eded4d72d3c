package main

import (
	"strings"
	"testing"
	"time"
)

// TestSlackSSOApproversPerAccount: a role's account_approvers, put in
// force by a catalog reload, decide the requests in that account: only
// they are asked, a click of the role's other approvers is refused and
// audited, and their approval assigns the permission set there. /jit
// report then counts the grant under its account.
func TestSlackSSOApproversPerAccount(t *testing.T) {
	b := startSSOBot(t, "bob@example.com")
	var catalog string
	for _, kv := range b.env {
		if v, ok := strings.CutPrefix(kv, "JIT_RULES="); ok {
			catalog = v
		}
	}
	owned := strings.Replace(ssoRoles, `    reconcile: enforce
    approvers: ["@platform-leads"]
`, `    reconcile: enforce
    approvers: ["@platform-leads"]
    account_approvers: {prod: [ULEAD2]}
`, 1)
	if owned == ssoRoles {
		t.Fatal("the test's catalog edit did not apply")
	}
	writeFile(t, catalog, slackCatalog+owned)
	b.slack.WaitFor(t, "the reload is announced", 15*time.Second, func() bool { return b.auditHas("Role catalog reloaded") })

	id := requestID(t, b.command(t, "UBOB", "request admin-sso 1h --account prod checking the prod replica"))
	dm := b.approvalDM(t, "ULEAD2", id)
	if c := b.approvalCopy("ULEAD1", id); c.TS != "" {
		t.Errorf("lead1, not an approver of prod, was asked to approve")
	}
	b.refusedClick(t, "ULEAD1", dm, "jit_approve", id, "you are not an approver of admin-sso")
	if got := b.assigned(t, "222222222222"); len(got) != 0 {
		t.Fatalf("a refused click assigned the permission set: %v", got)
	}
	b.click(t, "ULEAD2", dm, "jit_approve", id)
	b.dmWith(t, "UBOB", id, "AdministratorAccess")
	b.waitAssigned(t, "bob assigned in prod on prod's approver's word", "222222222222", b.users["bob@example.com"])
	// The report of an approver breaks the role down by account.
	if got := b.command(t, "ULEAD2", "report 1h"); !strings.Contains(got, "in 222222222222   requests 1, granted 1") {
		t.Errorf("/jit report does not name the account:\n%s", got)
	}

	staging := requestID(t, b.command(t, "UBOB", "request admin-sso 1h --account staging checking the staging replica"))
	b.approvalDM(t, "ULEAD1", staging) // the role's approvers decide the other accounts
}
