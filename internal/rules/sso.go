package rules

import (
	"fmt"
	"regexp"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Account is one AWS account an aws_sso role may be granted in.
type Account struct {
	ID    string // 12 digits
	Alias string // optional, what people type and read
}

// String is the account as people read it: "prod (111111111111)".
func (a Account) String() string {
	if a.Alias == "" {
		return a.ID
	}
	return a.Alias + " (" + a.ID + ")"
}

// DefaultSSOUser is the sso_user rule of a role that sets none: the
// Identity Center user name is the Slack email.
const DefaultSSOUser = "user.email"

var (
	accountIDRE     = regexp.MustCompile(`^[0-9]{12}$`)
	accountAliasRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	permissionSetRE = regexp.MustCompile(`^(arn:aws[a-z-]*:sso:::permissionSet/ssoins-[0-9a-f]{16}/ps-[0-9a-f]{16}|[\w+=,.@-]{1,32})$`)
	ssoGroupRE      = regexp.MustCompile(`^[\p{L}\p{M}\p{S}\p{N}\p{P} ]+$`)
	// An OU ID or a root ID, as AWS Organizations writes them.
	organizationalUnitRE = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`)
)

// ValidAlias reports whether s may be an account alias: what the catalog
// accepts, so that an alias made from elsewhere (an account's name in AWS
// Organizations) is one people can type as --account.
func ValidAlias(s string) bool { return accountAliasRE.MatchString(s) }

// FindAccount returns the role's account with this ID or alias.
func (r *Role) FindAccount(idOrAlias string) (Account, bool) {
	for _, a := range r.Accounts {
		if a.ID == idOrAlias || (a.Alias != "" && a.Alias == idOrAlias) {
			return a, true
		}
	}
	return Account{}, false
}

// SSOUserName evaluates the role's sso_user rule: the Identity Center
// user name of the requester.
func (r *Role) SSOUserName(u User, in Input, now time.Time) (string, error) {
	if r.ssoUser == nil {
		return "", fmt.Errorf("role %s has no sso_user rule", r.Name)
	}
	return r.ssoUser.evalString(u, in, now)
}

// accounts reads the accounts of an aws_sso role: a list of account IDs,
// or a map of alias to account ID.
func (l *loader) accounts(kv *ast.MappingValueNode, role string) []Account {
	var out []Account
	switch n := unwrap(kv.Value).(type) {
	case *ast.SequenceNode:
		for _, v := range n.Values {
			id, ok := scalar(unwrap(v))
			if !ok {
				l.addf(v, "role %s: every entry of accounts must be an account ID", role)
				continue
			}
			out = append(out, Account{ID: id})
		}
	case *ast.MappingNode:
		for _, v := range n.Values {
			id, ok := scalar(unwrap(v.Value))
			if !ok {
				l.addf(v.Value, "role %s: account alias %s must map to an account ID", role, keyOf(v))
				continue
			}
			out = append(out, Account{ID: id, Alias: keyOf(v)})
		}
	default:
		l.addf(kv.Value, `role %s: accounts must be a list of account IDs, or a map of alias to account ID, e.g. {prod: "111111111111"}`, role)
	}
	return out
}

// checkSSO checks the keys of the aws_sso and aws_sso_group backends.
func (l *loader) checkSSO(r *Role, keys map[string]*ast.MappingValueNode, node func(string) ast.Node) {
	name := r.Name
	if r.SSOUser == "" {
		r.SSOUser = DefaultSSOUser
	}
	r.ssoUser = l.compile(r, "sso_user", r.SSOUser, stringType, keys)
	for _, k := range []string{"role_arn", "session_policy", "allow_role_chaining", "group", "iam_user"} {
		if keys[k] != nil {
			l.addf(keys[k].Key, "role %s: %s does not apply to backend %s", name, k, r.Backend)
		}
	}
	ssoKeys := map[string][]string{
		"aws_sso":       {"sso_group"},
		"aws_sso_group": {"permission_set", "accounts", "organizational_unit"},
	}
	for _, k := range ssoKeys[r.Backend] {
		if keys[k] != nil {
			l.addf(keys[k].Key, "role %s: %s does not apply to backend %s", name, k, r.Backend)
		}
	}
	if r.Backend == "aws_sso_group" {
		if r.SSOGroup == "" || !ssoGroupRE.MatchString(r.SSOGroup) {
			l.addf(node("backend"), "role %s: backend aws_sso_group needs sso_group (the Identity Center group's display name)", name)
		}
		return
	}
	if !permissionSetRE.MatchString(r.PermissionSet) {
		l.addf(node("permission_set"), "role %s: backend aws_sso needs permission_set, a permission set name or ARN (arn:aws:sso:::permissionSet/ssoins-…/ps-…), got %q", name, r.PermissionSet)
	}
	if len(r.Accounts) == 0 && keys["organizational_unit"] == nil {
		l.addf(node("backend"), "role %s: backend aws_sso needs accounts (the account IDs it may be granted in) or organizational_unit (an OU whose active accounts it may be granted in), or both", name)
	}
	if keys["organizational_unit"] != nil && !organizationalUnitRE.MatchString(r.OrganizationalUnit) {
		l.addf(node("organizational_unit"), "role %s: organizational_unit %q is not an AWS Organizations OU ID (ou-xxxx-xxxxxxxx) or root ID (r-xxxx)", name, r.OrganizationalUnit)
	}
	seen := map[string]bool{}
	for _, a := range r.Accounts {
		switch {
		case !accountIDRE.MatchString(a.ID):
			l.addf(node("accounts"), "role %s: account %q is not a 12-digit AWS account ID (quote it in YAML)", name, a.ID)
		case a.Alias != "" && !accountAliasRE.MatchString(a.Alias):
			l.addf(node("accounts"), "role %s: account alias %q must be lower-case letters, digits and dashes", name, a.Alias)
		case seen[a.ID] || (a.Alias != "" && seen[a.Alias]):
			l.addf(node("accounts"), "role %s: account %s is listed twice", name, a)
		}
		seen[a.ID] = true
		if a.Alias != "" {
			seen[a.Alias] = true
		}
	}
}
