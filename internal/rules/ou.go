package rules

import (
	"maps"
	"slices"
)

// OrganizationalUnits returns the organizational units the catalog's
// aws_sso roles name, each once, sorted: what the app reads from AWS
// Organizations.
func (c *Catalog) OrganizationalUnits() []string {
	var ous []string
	for _, r := range c.Roles {
		if r.OrganizationalUnit != "" && !slices.Contains(ous, r.OrganizationalUnit) {
			ous = append(ous, r.OrganizationalUnit)
		}
	}
	slices.Sort(ous)
	return ous
}

// WithOrganizationalUnits returns a copy of the catalog in which each role
// with an organizational unit may be granted in the accounts it lists plus
// those resolved[its OU] holds. The file stays the evidence of the rules,
// so everything else, SHA256 included, is the catalog's own. An account
// the role lists itself keeps its entry and alias; a resolved alias that
// is already another account's alias or ID is dropped (the account stays,
// by ID), so --account names one account only. So is one the catalog
// gives another account in any role: an account named "prod" in the OU
// must not pass for the account the file calls prod. An OU missing from
// resolved adds nothing: its roles keep their static accounts. c is not
// changed.
func (c *Catalog) WithOrganizationalUnits(resolved map[string][]Account) *Catalog {
	out := *c
	out.Roles = maps.Clone(c.Roles)
	aliases := map[string]string{} // the file's aliases, to their account
	for _, r := range c.Roles {
		for _, a := range r.Accounts {
			if a.Alias != "" {
				aliases[a.Alias] = a.ID
			}
		}
	}
	for name, r := range c.Roles {
		if r.OrganizationalUnit == "" {
			continue
		}
		role := *r
		role.Accounts = mergeAccounts(r.Accounts, resolved[r.OrganizationalUnit], aliases)
		out.Roles[name] = &role
	}
	return &out
}

// mergeAccounts is static followed by the accounts of extra it does not
// already hold, in extra's order, without aliases that would name two
// accounts, nor aliases the file gives another account (fileAliases).
func mergeAccounts(static, extra []Account, fileAliases map[string]string) []Account {
	out := slices.Clone(static)
	ids, names := map[string]bool{}, map[string]bool{}
	for _, a := range slices.Concat(static, extra) {
		names[a.ID] = true // an alias that is some account's ID would name two
	}
	for _, a := range static {
		ids[a.ID] = true
		if a.Alias != "" {
			names[a.Alias] = true
		}
	}
	for _, a := range extra {
		if ids[a.ID] {
			continue
		}
		ids[a.ID] = true
		if id, ok := fileAliases[a.Alias]; a.Alias != "" && (names[a.Alias] || ok && id != a.ID) {
			a.Alias = ""
		}
		if a.Alias != "" {
			names[a.Alias] = true
		}
		out = append(out, a)
	}
	return out
}
