package rules_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

const ouCatalog = `roles:
  ou-admin:
    backend: aws_sso
    permission_set: AdministratorAccess
    organizational_unit: ou-ab12-12345678
    approvers: [U0APPROVER1]
    eligible: 'true'
  ou-and-static:
    backend: aws_sso
    permission_set: ReadOnlyAccess
    organizational_unit: r-ab12
    accounts: {prod: "111111111111", legacy: "999999999999"}
    approvers: [U0APPROVER1]
    eligible: 'true'
  static-only:
    backend: aws_sso
    permission_set: ReadOnlyAccess
    accounts: ["111111111111"]
    approvers: [U0APPROVER1]
    eligible: 'true'
`

func TestParseOrganizationalUnit(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(ouCatalog))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.Role("ou-admin")
	if r.OrganizationalUnit != "ou-ab12-12345678" || len(r.Accounts) != 0 {
		t.Errorf("OU only: unit %q, accounts %v", r.OrganizationalUnit, r.Accounts)
	}
	if got := c.OrganizationalUnits(); !slices.Equal(got, []string{"ou-ab12-12345678", "r-ab12"}) {
		t.Errorf("OrganizationalUnits() = %v", got)
	}
}

func TestParseOrganizationalUnitProblems(t *testing.T) {
	checkEdits(t, ouCatalog, []catalogEdit{
		{"neither", "    organizational_unit: ou-ab12-12345678\n", "",
			"role ou-admin: backend aws_sso needs accounts (the account IDs it may be granted in) or organizational_unit"},
		{"not an OU", "ou-ab12-12345678", "ou-AB12-1234", `organizational_unit "ou-AB12-1234" is not an AWS Organizations OU ID`},
		{"empty", "organizational_unit: ou-ab12-12345678", `organizational_unit: ""`, `organizational_unit "" is not`},
		{"an account ID", "organizational_unit: r-ab12", `organizational_unit: "111111111111"`, `organizational_unit "111111111111" is not`},
		{"on aws_sts", "  static-only:\n", "  sts:\n    backend: aws_sts\n    role_arn: arn:aws:iam::123456789012:role/x\n    organizational_unit: r-ab12\n    approvers: [U0APPROVER1]\n    eligible: 'true'\n  static-only:\n",
			"role sts: organizational_unit applies only to the Identity Center backends"},
		{"on aws_sso_group", "  static-only:\n", "  group:\n    backend: aws_sso_group\n    sso_group: Billing\n    organizational_unit: r-ab12\n    approvers: [U0APPROVER1]\n    eligible: 'true'\n  static-only:\n",
			"role group: organizational_unit does not apply to backend aws_sso_group"},
	})
}

func TestWithOrganizationalUnits(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(ouCatalog))
	if err != nil {
		t.Fatal(err)
	}
	resolved := map[string][]rules.Account{
		"ou-ab12-12345678": {{ID: "222222222222", Alias: "sandbox"}, {ID: "333333333333"}},
		"r-ab12": {
			{ID: "111111111111", Alias: "production"}, // listed in the file: its entry wins
			{ID: "222222222222", Alias: "prod"},       // alias taken by 111111111111
			{ID: "444444444444", Alias: "999999999999"},
			{ID: "555555555555", Alias: "data"},
			{ID: "666666666666", Alias: "data"}, // alias taken by 555555555555
		},
	}
	got := c.WithOrganizationalUnits(resolved)
	if got.SHA256 != c.SHA256 || got.Path != c.Path || !slices.Equal(got.Names(), c.Names()) {
		t.Errorf("the copy is not the same catalog: %s %s %v", got.SHA256, got.Path, got.Names())
	}
	admin, _ := got.Role("ou-admin")
	if want := resolved["ou-ab12-12345678"]; !slices.Equal(admin.Accounts, want) {
		t.Errorf("OU only: %v, want %v", admin.Accounts, want)
	}
	if a, ok := admin.FindAccount("sandbox"); !ok || a.ID != "222222222222" {
		t.Errorf("FindAccount(sandbox) = %v, %v", a, ok)
	}
	both, _ := got.Role("ou-and-static")
	want := []rules.Account{{ID: "111111111111", Alias: "prod"}, {ID: "999999999999", Alias: "legacy"},
		{ID: "222222222222"}, {ID: "444444444444"}, {ID: "555555555555", Alias: "data"}, {ID: "666666666666"}}
	if !slices.Equal(both.Accounts, want) {
		t.Errorf("static and OU:\n got %v\nwant %v", both.Accounts, want)
	}
	if admin.PermissionSet != "AdministratorAccess" || admin.Approvers[0] != "U0APPROVER1" {
		t.Errorf("the copy lost the role's settings: %+v", admin)
	}
	if ok, err := admin.IsEligible(rules.User{ID: "U1"}, rules.Input{Role: "ou-admin", Account: "222222222222"}, time.Now()); err != nil || !ok {
		t.Errorf("the copy's rules do not evaluate: %v, %v", ok, err)
	}
	static, _ := got.Role("static-only")
	if static != c.Roles["static-only"] {
		t.Errorf("a role without an OU was copied")
	}
	orig, _ := c.Role("ou-and-static")
	if len(orig.Accounts) != 2 || len(c.Roles["ou-admin"].Accounts) != 0 {
		t.Errorf("the parsed catalog changed: %v", orig.Accounts)
	}
	none := c.WithOrganizationalUnits(nil)
	if r, _ := none.Role("ou-and-static"); !slices.Equal(r.Accounts, orig.Accounts) {
		t.Errorf("nothing resolved: %v, want the static accounts", r.Accounts)
	}
	if r, _ := none.Role("ou-admin"); len(r.Accounts) != 0 {
		t.Errorf("nothing resolved: %v, want none", r.Accounts)
	}
}

// TestOrganizationalUnitAliasNeverNamesTheFilesOtherAccount: whoever names
// an account of the organisation "prod" must not make --account prod of a
// role with that OU reach it, when the catalog calls another account prod
// (here in another role): the alias is dropped, and the account the file
// calls prod keeps it where the OU holds that one too.
func TestOrganizationalUnitAliasNeverNamesTheFilesOtherAccount(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(ouCatalog))
	if err != nil {
		t.Fatal(err)
	}
	got := c.WithOrganizationalUnits(map[string][]rules.Account{
		"ou-ab12-12345678": {{ID: "777777777777", Alias: "prod"}, {ID: "888888888888", Alias: "legacy"}, {ID: "111111111111", Alias: "prod"}},
	})
	admin, _ := got.Role("ou-admin")
	want := []rules.Account{{ID: "777777777777"}, {ID: "888888888888"}, {ID: "111111111111", Alias: "prod"}}
	if !slices.Equal(admin.Accounts, want) {
		t.Errorf("accounts:\n got %v\nwant %v", admin.Accounts, want)
	}
	if a, ok := admin.FindAccount("prod"); !ok || a.ID != "111111111111" {
		t.Errorf("FindAccount(prod) = %v, %v; want 111111111111, the file's prod", a, ok)
	}
}

func TestValidAlias(t *testing.T) {
	for s, want := range map[string]bool{"prod": true, "prod-eu-1": true, "": false, "-prod": false, "Prod": false, strings.Repeat("a", 64): false} {
		if got := rules.ValidAlias(s); got != want {
			t.Errorf("ValidAlias(%q) = %v, want %v", s, got, want)
		}
	}
}
