package rules

import (
	"maps"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// ApproversIn returns who approves a request of the role in account (an
// account ID): the account's own approvers when account_approvers names
// it, else the role's approvers. Production accounts usually have other
// owners than the sandbox the same permission set is granted in.
func (r *Role) ApproversIn(account string) []string {
	if list, ok := r.AccountApprovers[account]; ok {
		return list
	}
	return r.Approvers
}

// ApproverLists returns every approver list of the role: its approvers,
// then those of each account in account_approvers, in account ID order,
// or those of each of its approval_steps.
func (r *Role) ApproverLists() [][]string {
	if len(r.ApprovalSteps) > 0 {
		out := make([][]string, 0, len(r.ApprovalSteps))
		for _, s := range r.ApprovalSteps {
			out = append(out, s.Approvers)
		}
		return out
	}
	out := [][]string{r.Approvers}
	for _, id := range slices.Sorted(maps.Keys(r.AccountApprovers)) {
		out = append(out, r.AccountApprovers[id])
	}
	return out
}

// UserIDs returns the approvers that are Slack user IDs.
func UserIDs(approvers []string) []string {
	var out []string
	for _, a := range approvers {
		if !strings.HasPrefix(a, "@") {
			out = append(out, a)
		}
	}
	return out
}

// GroupHandles returns the approving user-group handles, without the @.
func GroupHandles(approvers []string) []string {
	var out []string
	for _, a := range approvers {
		if h, ok := strings.CutPrefix(a, "@"); ok {
			out = append(out, h)
		}
	}
	return out
}

// accountApprovers reads account_approvers: a map of account (ID or
// alias) to a list of approvers. Aliases are turned into IDs by
// checkAccountApprovers, once the role's accounts are known.
func (l *loader) accountApprovers(kv *ast.MappingValueNode, role string) map[string][]string {
	m, ok := unwrap(kv.Value).(*ast.MappingNode)
	if !ok {
		l.addf(kv.Value, `role %s: account_approvers must map an account (ID or alias) to its approvers, e.g. {prod: ["@prod-owners"]}`, role)
		return nil
	}
	out := map[string][]string{}
	for _, v := range m.Values {
		out[keyOf(v)] = l.strList(v, role)
	}
	return out
}

// checkAccountApprovers checks account_approvers of an aws_sso role and
// keys it by account ID: each key is an account ID, or the alias of one of
// the role's listed accounts (an account of the organizational unit is
// named by ID, since the unit is read only when jitbot runs), and each
// list is checked as approvers is.
func (l *loader) checkAccountApprovers(r *Role, keys map[string]*ast.MappingValueNode, node func(string) ast.Node) {
	kv := keys["account_approvers"]
	if kv == nil {
		return
	}
	if r.Backend != "aws_sso" {
		l.addf(kv.Key, "role %s: account_approvers applies only to backend aws_sso", r.Name)
		return
	}
	byID := make(map[string][]string, len(r.AccountApprovers))
	for key, list := range r.AccountApprovers {
		id := key
		if a, ok := r.FindAccount(key); ok {
			id = a.ID
		} else if !accountIDRE.MatchString(key) {
			l.addf(kv.Value, "role %s: account_approvers names %q, which is neither an account ID nor the alias of one of its accounts", r.Name, key)
			continue
		}
		if _, dup := byID[id]; dup {
			l.addf(kv.Value, "role %s: account_approvers names account %s twice", r.Name, id)
			continue
		}
		byID[id] = list
		l.checkApproverList(r, "account_approvers of "+key, list, kv.Value, kv.Value)
	}
	r.AccountApprovers = byID
}
