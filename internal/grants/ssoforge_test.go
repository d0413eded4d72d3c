package grants_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// TestForgedSSOAccountStillRevokesTheRealAssignment: the attacker edits a
// live aws_sso grant in prod to name the role's other account (and its
// target there). The account is the one field of a tampered record the
// catalog cannot check, so a quarantine that revoked "what the catalog
// grants in the record's account" removed an assignment alice never had
// in dev, or, as here, kept the dev one for her valid dev grant, and left
// her the prod one either way. The dev assignment stays for that grant.
func TestForgedSSOAccountStillRevokesTheRealAssignment(t *testing.T) {
	e, f := ssoForgingEnv(t)
	const prod, dev = "222222222222/PowerUserAccess", "111111111111/PowerUserAccess"
	r, err := e.requestIn(t, "UALICE", "sso-owned", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil || got.State != grants.Active {
		t.Fatalf("approve: %v, %v", got, err)
	}
	if !slices.Contains(e.backend.groups[prod], "alice@example.com") {
		t.Fatalf("%s = %v, want alice assigned", prod, e.backend.groups[prod])
	}
	kept, err := e.requestIn(t, "UALICE", "sso-owned", "dev")
	if err != nil {
		t.Fatal(err)
	}
	e.approveOne(t, kept)
	f.forge(t, r.ID, func(r *grants.Request) {
		r.Account, r.Target = "111111111111", "111111111111/PowerUserAccess"
	})
	e.svc.Get(t.Context(), r.ID)
	for range 4 {
		e.runDue(t, time.Minute)
	}
	if !e.alerted(r.ID) {
		t.Fatalf("no tampered alert")
	}
	if slices.Contains(e.backend.groups[prod], "alice@example.com") {
		t.Errorf("alice still assigned %s: the forged account steered the quarantine's revocation (record %s)", prod, stateOf(t, e, r.ID))
	}
	if !slices.Contains(e.backend.groups[dev], "alice@example.com") {
		t.Errorf("%s = %v: the quarantine took the assignment of alice's valid grant %s", dev, e.backend.groups[dev], kept.ID)
	}
}

func ssoForgingEnv(t *testing.T) (*env, *forgingStore) {
	t.Helper()
	e, f, _ := newForgingEnv(t)
	cat, err := rules.Parse("roles.yaml", []byte(testCatalog+ssoRoles))
	if err != nil {
		t.Fatal(err)
	}
	e.catalog = cat
	e.svc.SetCatalog(cat)
	return e, f
}

// TestForgedSSOAccountIsNotApprovedByTheLaxerAccountsApprovers: a pending
// prod request (account_approvers: UAPPROVER1 alone) edited in the store
// to name dev, whose approvers are the role's, is not decided by a dev
// approver's click: the record fails its integrity check, nothing is
// assigned in either account, and the security team is alerted.
func TestForgedSSOAccountIsNotApprovedByTheLaxerAccountsApprovers(t *testing.T) {
	e, f := ssoForgingEnv(t)
	r, err := e.requestIn(t, "UALICE", "sso-owned", "prod")
	if err != nil {
		t.Fatal(err)
	}
	f.forge(t, r.ID, func(r *grants.Request) {
		r.Account, r.Target = "111111111111", "111111111111/PowerUserAccess"
	})
	if got, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1"); err == nil {
		t.Fatalf("dev's approver decided the forged record: %s", got.State)
	}
	e.runDue(t, time.Minute)
	if !e.alerted(r.ID) || stateOf(t, e, r.ID) != grants.Failed {
		t.Errorf("record %s, alerted %v; want it failed with an alert", stateOf(t, e, r.ID), e.alerted(r.ID))
	}
	for target, members := range e.backend.groups {
		if len(members) != 0 {
			t.Errorf("%s has %v: a forged record was issued", target, members)
		}
	}
}
