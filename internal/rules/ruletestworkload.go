package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// A rule test case may give a workload instead of a user: a CI job or an
// agent, as its verified OIDC token describes it. Its expect: eligible and
// auto_approve are then those of the role's workloads rules:
//
//	- name: infra main deploys read-only at once
//	  workload: {issuer_name: github, repository: acme/infra, ref: refs/heads/main,
//	             claims: {job_workflow_ref: "acme/infra/.github/workflows/deploy.yml@refs/heads/main"}}
//	  request: {role: infra-readonly}
//	  expect: {eligible: true, auto_approve: true}
//
// issuer_name or issuer names one of the catalog's workload_issuers, and
// the other is filled in from it, as the verifier sets both: a workload
// from an issuer the catalog does not trust never reaches the rules, so
// such a case is a mistake in the file (Check). claims are the token's
// claims as JSON decodes them: numbers are doubles.

var testWorkloadKeys = []string{"issuer", "issuer_name", "subject", "repository", "ref", "environment", "workflow",
	"run_id", "actor", "namespace", "service_account", "claims"}

func (l *testLoader) workload(kv *ast.MappingValueNode, what string) Workload {
	var w Workload
	what += ": workload"
	fields := map[string]*string{"issuer": &w.Issuer, "issuer_name": &w.IssuerName, "subject": &w.Subject,
		"repository": &w.Repository, "ref": &w.Ref, "environment": &w.Environment, "workflow": &w.Workflow,
		"run_id": &w.RunID, "actor": &w.Actor, "namespace": &w.Namespace, "service_account": &w.ServiceAccount}
	entries := l.entries(kv.Value, what, 0)
	for _, kv := range entries {
		key := keyOf(kv)
		switch f, ok := fields[key]; {
		case ok:
			*f = l.str(kv, what+": "+key)
		case key == "claims":
			claims, _ := l.claim(kv.Value, what+": claims", 0).(map[string]any)
			w.Claims = claims
			if w.Claims == nil && !isNull(l.resolve(kv.Value)) {
				l.addf(kv.Value, "%s: claims must be a mapping of claim names to values", what)
			}
		default:
			l.addf(kv.Key, "%s: unknown key %q (known: %s)", what, key, strings.Join(testWorkloadKeys, ", "))
		}
	}
	if w.IssuerName == "" && w.Issuer == "" && (entries != nil || isNull(kv.Value)) {
		l.addf(kv.Value, "%s: missing issuer_name: name the workload issuer of the catalog that vouches for it, e.g. github", what)
	}
	return w
}

// claim converts a YAML value of claims to what encoding/json would give
// for it. Depth and the file's total are bounded, like merge keys, so that
// an alias of its own mapping is a problem, not a hang.
func (l *testLoader) claim(n ast.Node, what string, depth int) any {
	l.merged++
	if depth > maxMerge || l.merged > maxMerged {
		if !l.mergeFailed {
			l.addf(n, "%s: claims nest too deeply, refer to themselves or pull in too much", what)
		}
		l.mergeFailed = true
		return nil
	}
	switch v := l.resolve(n).(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		m := map[string]any{}
		for _, kv := range l.entries(n, what, 0) {
			m[keyOf(kv)] = l.claim(kv.Value, what, depth+1)
		}
		return m
	case *ast.SequenceNode:
		list := make([]any, 0, len(v.Values))
		for _, e := range v.Values {
			list = append(list, l.claim(e, what, depth+1))
		}
		return list
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return v.Value.Value
	case *ast.BoolNode:
		return v.Value
	case *ast.FloatNode:
		return v.Value
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			return float64(i)
		case uint64:
			return float64(i)
		}
		l.addf(n, "%s: %s is not a number JSON can hold", what, v.GetToken().Value)
		return nil
	case *ast.NullNode:
		return nil
	case nil:
		if alias, ok := unwrap(n).(*ast.AliasNode); ok {
			l.addf(n, "%s: alias %s names no anchor (&name) before it, or one that refers to itself", what, strings.TrimSpace(alias.String()))
		}
		return nil
	}
	l.addf(n, "%s: a claim must be a string, number, true, false, null, list or mapping", what)
	return nil
}

// withIssuer is w with the issuer or its name, whichever the case left
// out, filled in from the catalog's workload_issuers.
func withIssuer(w Workload, issuers []WorkloadIssuer) Workload {
	for _, wi := range issuers {
		switch {
		case w.Issuer == "" && w.IssuerName == wi.Name:
			w.Issuer = wi.URL
		case w.IssuerName == "" && w.Issuer == wi.URL:
			w.IssuerName = wi.Name
		}
	}
	return w
}

// issuerProblem says why w cannot come from any of c's workload issuers,
// "" when it can.
func issuerProblem(w Workload, c *Catalog) string {
	w = withIssuer(w, c.workloadIssuers)
	var names []string
	for _, wi := range c.workloadIssuers {
		if wi.Name == w.IssuerName && wi.URL == w.Issuer {
			return ""
		}
		names = append(names, wi.Name+" ("+wi.URL+")")
	}
	if len(names) == 0 {
		return fmt.Sprintf("%s has no workload_issuers, so no workload reaches its rules", c.Path)
	}
	return fmt.Sprintf("issuer_name %q and issuer %q are not a workload issuer of %s (it has %s)", w.IssuerName, w.Issuer, c.Path, strings.Join(names, ", "))
}

// workloadChecks are the expectations of a workload case: those of the
// role's workloads rules.
func (tc TestCase) workloadChecks(c *Catalog, role *Role, in Input) []ruleCheck {
	w := withIssuer(*tc.Workload, c.workloadIssuers)
	var src WorkloadRules
	if role.Workloads != nil {
		src = *role.Workloads
	}
	return []ruleCheck{
		{"workloads.eligible", src.Eligible, tc.Expect.Eligible, func() (bool, error) { return role.WorkloadEligible(w, in, tc.Now) }},
		{"workloads.auto_approve", src.AutoApprove, tc.Expect.AutoApprove, func() (bool, error) { return role.WorkloadAutoApproves(w, in, tc.Now) }},
	}
}

// workloadCaseProblems are the problems of the workload cases of f
// against c: an issuer c does not trust.
func (f *TestFile) workloadCaseProblems(c *Catalog) []Problem {
	var problems []Problem
	for _, tc := range f.Cases {
		if tc.Workload == nil {
			continue
		}
		if msg := issuerProblem(*tc.Workload, c); msg != "" {
			problems = append(problems, Problem{File: f.Path, Line: tc.workloadLine, Msg: fmt.Sprintf("case %q: workload: %s", tc.Name, msg)})
		}
	}
	return slices.Clip(problems)
}
