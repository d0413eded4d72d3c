package grants_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

const ssoRoles = `
  sso-admin:
    backend: aws_sso
    permission_set: AdministratorAccess
    accounts: {main: "111111111111", prod: "222222222222"}
    reconcile: enforce
    approvers: ["@platform-leads"]
    eligible: 'request.account != "222222222222" || "oncall" in user.groups'
  sso-one:
    backend: aws_sso
    permission_set: ReadOnlyAccess
    accounts: ["333333333333"]
    approvers: ["@platform-leads"]
    eligible: 'true'
  sso-owned:
    backend: aws_sso
    permission_set: PowerUserAccess
    accounts: {dev: "111111111111", prod: "222222222222"}
    approvers: ["@platform-leads"]
    account_approvers: {prod: [UAPPROVER1]}
    eligible: 'true'
  sso-all-owned:
    backend: aws_sso
    permission_set: ViewOnlyAccess
    accounts: {dev: "111111111111", prod: "222222222222"}
    approvers: ["@platform-leads"]
    account_approvers: {dev: [UAPPROVER1], prod: [UAPPROVER1]}
    eligible: 'true'
  sso-billing:
    backend: aws_sso_group
    sso_group: Billing Admins
    sso_user: 'user.name'
    approvers: ["@platform-leads"]
    eligible: 'true'
`

func ssoEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	cat, err := rules.Parse("roles.yaml", []byte(testCatalog+ssoRoles))
	if err != nil {
		t.Fatal(err)
	}
	e.catalog = cat
	e.svc.SetCatalog(cat)
	return e
}

func (e *env) requestIn(t *testing.T, user, role, account string) (*grants.Request, error) {
	t.Helper()
	return e.svc.Request(t.Context(), grants.RequestInput{UserID: user, Role: role, Account: account, Duration: time.Hour, Reason: "fixing INC-42 replica lag"})
}

// TestSSOAccountIsChosen: a role with several accounts needs one named by
// ID or alias, one it lists; a role with one account needs none; a role
// not granted per account refuses one. request.account reaches the rules.
func TestSSOAccountIsChosen(t *testing.T) {
	e := ssoEnv(t)
	refusals := []struct{ user, role, account, want string }{
		{"UBOB", "sso-admin", "", "name one with --account: main (111111111111), prod (222222222222)"},
		{"UBOB", "sso-admin", "444444444444", `not granted in account "444444444444"`},
		{"UBOB", "prod-readonly", "prod", "not granted per account"},
		{"UALICE", "sso-admin", "prod", "not eligible"},
	}
	for _, tt := range refusals {
		_, err := e.requestIn(t, tt.user, tt.role, tt.account)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s asks %s in %q: %v, want %q", tt.user, tt.role, tt.account, err, tt.want)
		}
	}
	if open, _ := e.store.open(t.Context()); len(open) != 0 {
		t.Errorf("%d records after refusals, want none", len(open))
	}
	r, err := e.requestIn(t, "UBOB", "sso-admin", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if r.Account != "222222222222" || r.Target != "222222222222/AdministratorAccess" || r.Principal != "bob@example.com" {
		t.Errorf("record account %q target %q principal %q", r.Account, r.Target, r.Principal)
	}
	one, err := e.requestIn(t, "UALICE", "sso-one", "")
	if err != nil || one.Account != "333333333333" {
		t.Fatalf("the only account: %v, %v", one, err)
	}
	g, err := e.requestIn(t, "UALICE", "sso-billing", "")
	if err != nil || g.Target != "Billing Admins" || g.Principal != "alice" || g.Account != "" {
		t.Fatalf("group role: %+v, %v", g, err)
	}
}

// TestSSOOrganizationalUnitAccounts: a role whose organizational unit has
// not been read has no account yet and says why; once read, its accounts
// are granted like listed ones, and another account is refused with the
// OU named.
func TestSSOOrganizationalUnitAccounts(t *testing.T) {
	e := newEnv(t)
	cat, err := rules.Parse("roles.yaml", []byte(testCatalog+`
  sso-ou:
    backend: aws_sso
    permission_set: AdministratorAccess
    organizational_unit: ou-ab12-12345678
    approvers: ["@platform-leads"]
    eligible: 'true'
`))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetCatalog(cat)
	_, err = e.requestIn(t, "UBOB", "sso-ou", "")
	if want := "sso-ou has no accounts yet: its organizational unit ou-ab12-12345678 could not be read from AWS Organizations"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("before the OU is read: %v, want %q", err, want)
	}
	e.svc.SetCatalog(cat.WithOrganizationalUnits(map[string][]rules.Account{"ou-ab12-12345678": {{ID: "444444444444", Alias: "sandbox"}}}))
	r, err := e.requestIn(t, "UBOB", "sso-ou", "sandbox")
	if err != nil || r.Account != "444444444444" || r.Target != "444444444444/AdministratorAccess" {
		t.Fatalf("an account of the OU: %+v, %v", r, err)
	}
	_, err = e.requestIn(t, "UBOB", "sso-ou", "555555555555")
	if want := `sso-ou is not granted in account "555555555555"; its accounts (with those of organizational unit ou-ab12-12345678 as last read): sandbox (444444444444)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("an account outside the OU: %v, want %q", err, want)
	}
}

// TestSSOAssignmentSharedUntilTheLastGrantEnds: two grants of the same
// permission set in the same account to the same person are one
// assignment, removed only when the second ends.
func TestSSOAssignmentSharedUntilTheLastGrantEnds(t *testing.T) {
	e := ssoEnv(t)
	const target = "111111111111/AdministratorAccess"
	first, _ := e.requestIn(t, "UALICE", "sso-admin", "111111111111")
	e.approveOne(t, first)
	e.runDue(t, 30*time.Minute)
	second, _ := e.requestIn(t, "UALICE", "sso-admin", "111111111111")
	e.approveOne(t, second)
	e.runDue(t, 31*time.Minute) // the first has ended
	if got := e.get(t, first.ID); got.State != grants.Revoked {
		t.Fatalf("first grant %s, want revoked", got.State)
	}
	if !slices.Contains(e.backend.groups[target], "alice@example.com") {
		t.Fatalf("assignment %v removed while the second grant is active", e.backend.groups[target])
	}
	e.runDue(t, time.Hour)
	if slices.Contains(e.backend.groups[target], "alice@example.com") {
		t.Errorf("assignment %v left after both grants ended", e.backend.groups[target])
	}
}

// TestSSORecordMustNameTheRolesAccount: a signed record whose account is
// not one of its role's, or whose target does not match its account, is
// not issued.
func TestSSORecordMustNameTheRolesAccount(t *testing.T) {
	edits := map[string]func(*grants.Request){
		"account not the role's": func(r *grants.Request) {
			r.Account, r.Target = "999999999999", "999999999999/AdministratorAccess"
		},
		"target in another account": func(r *grants.Request) { r.Target = "222222222222/AdministratorAccess" },
		"another user":              func(r *grants.Request) { r.Principal = "mallory@example.com" },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			e := ssoEnv(t)
			r, _ := e.requestIn(t, "UALICE", "sso-admin", "111111111111")
			if _, err := e.store.Update(t.Context(), r.ID, func(r *grants.Request) error { edit(r); return nil }); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1")
			if err == nil || !strings.Contains(err.Error(), "jitbot refused to issue it") {
				t.Errorf("approve: %v, want a refusal to issue", err)
			}
			if got := e.get(t, r.ID); got.State == grants.Active || got.Failure == "" {
				t.Errorf("record %s failure %q, want refused before the AWS call", got.State, got.Failure)
			}
			for target, members := range e.backend.groups {
				if len(members) != 0 {
					t.Errorf("%s has %v: an edited record was issued", target, members)
				}
			}
		})
	}
}

// TestSSOReconcileRemovesAStrayAssignment: an assignment of a reconciled
// aws_sso role without a grant is removed, and the audit says what it was.
func TestSSOReconcileRemovesAStrayAssignment(t *testing.T) {
	e := ssoEnv(t)
	r, _ := e.requestIn(t, "UBOB", "sso-admin", "prod")
	e.approveOne(t, r)
	e.backend.groups["222222222222/AdministratorAccess"] = append(e.backend.groups["222222222222/AdministratorAccess"], "mallory@example.com")
	if err := e.svc.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.backend.groups["222222222222/AdministratorAccess"]; !slices.Equal(got, []string{"bob@example.com"}) {
		t.Errorf("assigned after enforce: %v, want bob alone", got)
	}
	want := "Identity Center user mallory@example.com was assigned AdministratorAccess in account 222222222222 without a grant from jitbot and has been removed (reconcile: enforce)"
	if got := reconciled(e); !slices.Equal(got, []string{want}) {
		t.Errorf("reconciled = %q, want %q", got, want)
	}
}

func (e *env) approveOne(t *testing.T, r *grants.Request) {
	t.Helper()
	got, err := e.svc.Approve(t.Context(), r.ID, "ULEAD1")
	if err != nil || got.State != grants.Active {
		t.Fatalf("approve %s: %v (%v)", r.ID, err, got)
	}
}

// TestSSOApproversPerAccount: account_approvers replace the role's
// approvers for requests in that account, for who is asked, who may click
// and whose list shows the request; elsewhere the role's approvers decide.
func TestSSOApproversPerAccount(t *testing.T) {
	e := ssoEnv(t)
	prod, err := e.requestIn(t, "UBOB", "sso-owned", "prod")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := e.requestIn(t, "UBOB", "sso-owned", "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		r    *grants.Request
		want []string
	}{{prod, []string{"UAPPROVER1"}}, {dev, []string{"ULEAD1", "ULEAD2", "UALICE"}}} {
		if got, err := e.svc.Approvers(t.Context(), tt.r); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("approvers in %s = %v, %v; want %v", tt.r.Account, got, err, tt.want)
		}
	}
	if _, err := e.svc.Approve(t.Context(), prod.ID, "ULEAD1"); err == nil || !strings.Contains(err.Error(), "not an approver of sso-owned") {
		t.Errorf("a role approver approved in an account with its own approvers: %v", err)
	}
	if _, err := e.svc.Approve(t.Context(), dev.ID, "UAPPROVER1"); err == nil || !strings.Contains(err.Error(), "not an approver of sso-owned") {
		t.Errorf("prod's approver approved in dev: %v", err)
	}
	l, err := e.svc.List(t.Context(), "UAPPROVER1")
	if err != nil || len(l.Awaiting) != 1 || l.Awaiting[0].ID != prod.ID {
		t.Errorf("prod approver's list awaits %v, %v; want only %s", l.Awaiting, err, prod.ID)
	}
	if roles, err := e.svc.ApproverOf(t.Context(), "UAPPROVER1"); err != nil || !slices.Contains(roles, "sso-owned") {
		t.Errorf("ApproverOf(UAPPROVER1) = %v, %v; want sso-owned among them", roles, err)
	}
	if r, err := e.svc.Approve(t.Context(), prod.ID, "UAPPROVER1"); err != nil || r.State != grants.Active {
		t.Fatalf("prod's approver: %v, %v", r, err)
	}
	if r, err := e.svc.Approve(t.Context(), dev.ID, "ULEAD1"); err != nil || r.State != grants.Active {
		t.Fatalf("a role approver in dev: %v, %v", r, err)
	}
}

// TestApproverOfLeavesOutRoleApproversLeftNoAccount: where
// account_approvers names every account of a role, the role's own
// approvers approve none of its requests, so it is not among the roles
// they approve (which opens /jit report to them); the accounts' approvers
// have it.
func TestApproverOfLeavesOutRoleApproversLeftNoAccount(t *testing.T) {
	e := ssoEnv(t)
	lead, err := e.svc.ApproverOf(t.Context(), "ULEAD1")
	if err != nil || slices.Contains(lead, "sso-all-owned") || !slices.Contains(lead, "sso-owned") {
		t.Errorf("ApproverOf(ULEAD1) = %v, %v; want sso-owned (its dev account) and not sso-all-owned", lead, err)
	}
	if owner, err := e.svc.ApproverOf(t.Context(), "UAPPROVER1"); err != nil || !slices.Contains(owner, "sso-all-owned") {
		t.Errorf("ApproverOf(UAPPROVER1) = %v, %v; want sso-all-owned among them", owner, err)
	}
}

// TestSSOExtensionFollowsTheAccountsApproversInForce: a prod grant's
// extension goes to prod's approvers as the catalog now lists them, not to
// whoever approved the grant before account_approvers changed.
func TestSSOExtensionFollowsTheAccountsApproversInForce(t *testing.T) {
	e := ssoEnv(t)
	r, err := e.requestIn(t, "UBOB", "sso-owned", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.Approve(t.Context(), r.ID, "UAPPROVER1"); err != nil || got.State != grants.Active {
		t.Fatalf("approve: %v, %v", got, err)
	}
	changed := strings.Replace(ssoRoles, "account_approvers: {prod: [UAPPROVER1]}", "account_approvers: {prod: [ULEAD2]}", 1)
	if changed == ssoRoles {
		t.Fatal("the catalog edit did not apply")
	}
	cat, err := rules.Parse("roles.yaml", []byte(testCatalog+changed))
	if err != nil {
		t.Fatal(err)
	}
	e.svc.SetCatalog(cat)
	ext, err := e.svc.Extend(t.Context(), r.ID, "UBOB", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.Approvers(t.Context(), ext); err != nil || !slices.Equal(got, []string{"ULEAD2"}) {
		t.Errorf("extension's approvers = %v, %v; want [ULEAD2]", got, err)
	}
	if _, err := e.svc.Approve(t.Context(), ext.ID, "UAPPROVER1"); err == nil || !strings.Contains(err.Error(), "not an approver of sso-owned") {
		t.Errorf("prod's former approver approved the extension: %v", err)
	}
	if got, err := e.svc.Approve(t.Context(), ext.ID, "ULEAD2"); err != nil || got.State != grants.Active {
		t.Errorf("prod's approver now: %v, %v", got, err)
	}
}
