package blockkit

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// TestGrantedSSOSaysWhereToSignIn: an Identity Center grant's DM names the
// permission set, the account and the user, the portal, and a profile for
// aws sso login; it carries no credentials.
func TestGrantedSSOSaysWhereToSignIn(t *testing.T) {
	r := &grants.Request{
		ID: "JIT-SSO001", State: grants.Active, Role: "admin-sso", Backend: grants.BackendSSO,
		Account: "222222222222", Target: grants.SSOTarget("222222222222", "AdministratorAccess"),
		Principal: "alice@example.com", ExpiresAt: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC),
	}
	got := allText(t, GrantedSSO(r, Portal{StartURL: "https://acme.awsapps.com/start", Region: "eu-west-1"}))
	for _, want := range []string{
		"permission set `AdministratorAccess` in account `222222222222` for `alice@example.com`",
		"https://acme.awsapps.com/start", "aws sso login",
		"[profile jit-admin-sso-222222222222]", "sso_account_id = 222222222222", "sso_role_name = AdministratorAccess",
		"sso_start_url = https://acme.awsapps.com/start", "sso_region = eu-west-1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("DM lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("an Identity Center DM shows credentials:\n%s", got)
	}
	r.Backend, r.Account, r.Target = grants.BackendSSOGroup, "", "Billing Admins"
	got = allText(t, GrantedSSO(r, Portal{StartURL: "https://acme.awsapps.com/start"}))
	if !strings.Contains(got, "Identity Center group `Billing Admins`") || strings.Contains(got, "[profile") {
		t.Errorf("group DM:\n%s", got)
	}
}

// TestRequestModalOffersAccounts: the request form offers the accounts of
// the Identity Center roles granted in several, each once; without such a
// role there is no account field.
func TestRequestModalOffersAccounts(t *testing.T) {
	sts := &rules.Role{Name: "readonly", Backend: grants.BackendSTS}
	one := &rules.Role{Name: "sso-one", Backend: grants.BackendSSO, Accounts: []rules.Account{{ID: "111111111111"}}}
	two := &rules.Role{Name: "sso-two", Backend: grants.BackendSSO, Accounts: []rules.Account{{ID: "111111111111"}, {ID: "222222222222", Alias: "prod"}}}
	accountsOf := func(roles ...*rules.Role) []string {
		var out []string
		for _, b := range RequestModal(roles).Blocks.BlockSet {
			if in, ok := b.(*slack.InputBlock); ok && in.BlockID == InputAccount {
				for _, o := range in.Element.(*slack.SelectBlockElement).Options {
					out = append(out, o.Value+"="+o.Text.Text)
				}
				if !in.Optional {
					t.Errorf("the account field is required; a role with one account needs none")
				}
			}
		}
		return out
	}
	if got := accountsOf(sts, one); got != nil {
		t.Errorf("accounts offered without a role of several: %v", got)
	}
	want := []string{"111111111111=111111111111", "222222222222=prod (222222222222)"}
	if got := accountsOf(sts, one, two); !slices.Equal(got, want) {
		t.Errorf("accounts offered = %v, want %v", got, want)
	}
}

// TestRolesNameTheAccounts: /jit roles says where an Identity Center role
// is granted, so people know what --account takes.
func TestRolesNameTheAccounts(t *testing.T) {
	r := &rules.Role{Name: "sso-two", Backend: grants.BackendSSO, MaxDuration: time.Hour, DefaultDuration: time.Hour,
		Accounts: []rules.Account{{ID: "111111111111"}, {ID: "222222222222", Alias: "prod"}}}
	if got := allText(t, Roles([]*rules.Role{r}, "")); !strings.Contains(got, "accounts 111111111111, prod (222222222222)") {
		t.Errorf("/jit roles:\n%s", got)
	}
}

// TestRolesSayAnUnreadOrganizationalUnit: a role whose organizational unit
// has given no account yet says so, rather than listing nothing.
func TestRolesSayAnUnreadOrganizationalUnit(t *testing.T) {
	r := &rules.Role{Name: "sso-ou", Backend: grants.BackendSSO, MaxDuration: time.Hour, DefaultDuration: time.Hour,
		OrganizationalUnit: "ou-ab12-12345678"}
	if got := allText(t, Roles([]*rules.Role{r}, "")); !strings.Contains(got, "no accounts yet (organizational unit ou-ab12-12345678 not read)") {
		t.Errorf("/jit roles:\n%s", got)
	}
	r.Accounts = []rules.Account{{ID: "111111111111", Alias: "sandbox"}}
	if got := allText(t, Roles([]*rules.Role{r}, "")); !strings.Contains(got, "accounts sandbox (111111111111)") || strings.Contains(got, "not read") {
		t.Errorf("/jit roles with the OU read:\n%s", got)
	}
}
