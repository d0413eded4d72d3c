package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// workloadIssuers reads workload_issuers, a map of name to {issuer,
// audience}, into a list in name order. An entry with a problem is left
// out: the catalog does not load anyway.
func (l *loader) workloadIssuers(kv *ast.MappingValueNode) []WorkloadIssuer {
	m := l.mapping(kv.Value, "workload_issuers")
	if m == nil || len(m.Values) == 0 {
		if m != nil || isNull(kv.Value) {
			l.addf(kv.Key, "workload_issuers is empty: list the OIDC issuers whose tokens workloads may present, or leave the key out")
		}
		return nil
	}
	var out []WorkloadIssuer
	urls := map[string]string{} // sameIssuer(URL) → name
	for _, e := range m.Values {
		// A name given twice is a YAML syntax error already.
		name := keyOf(e)
		wi, ok := l.workloadIssuer(e)
		if !ok {
			continue
		}
		// Two names for one issuer would leave it to chance which of them,
		// and which audience, a token is checked against.
		if other, dup := urls[sameIssuer(wi.URL)]; dup {
			l.addf(e.Value, "workload issuer %s: issuer %s is already that of workload issuer %s: give each issuer one name", name, wi.URL, other)
			continue
		}
		urls[sameIssuer(wi.URL)] = name
		out = append(out, wi)
	}
	slices.SortFunc(out, func(a, b WorkloadIssuer) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// workloadIssuer reads and checks one entry of workload_issuers; ok is
// false when it has a problem.
func (l *loader) workloadIssuer(e *ast.MappingValueNode) (wi WorkloadIssuer, ok bool) {
	wi.Name = keyOf(e)
	what := "workload issuer " + wi.Name
	problems := len(l.problems)
	if !roleNameRE.MatchString(wi.Name) {
		l.addf(e.Key, "workload issuer name %q must be lowercase letters, digits and dashes (at most 63)", wi.Name)
	}
	m := l.mapping(e.Value, what)
	if m == nil {
		if isNull(e.Value) {
			l.addf(e.Key, "%s has no settings: it needs issuer and audience", what)
		}
		return wi, false
	}
	keys := map[string]*ast.MappingValueNode{}
	for _, kv := range m.Values {
		key := keyOf(kv)
		switch {
		case key != "issuer" && key != "audience":
			l.addf(kv.Key, "%s: unknown key %q (known: issuer, audience)", what, key)
			continue
		case keys[key] != nil:
			l.addf(kv.Key, "%s: %s is set twice", what, key)
		}
		keys[key] = kv
		s, isText := scalar(unwrap(kv.Value))
		if !isText {
			l.addf(kv.Value, "%s: %s must be a string", what, key)
		}
		if key == "issuer" {
			wi.URL = strings.TrimSpace(s)
		} else {
			wi.Audience = strings.TrimSpace(s)
		}
	}
	if keys["issuer"] == nil {
		l.addf(e.Key, "%s: missing issuer (the https URL its tokens name as iss, e.g. https://token.actions.githubusercontent.com)", what)
	} else if _, isText := scalar(unwrap(keys["issuer"].Value)); isText {
		if msg := issuerURLProblem(wi.URL); msg != "" {
			l.addf(keys["issuer"].Value, "%s: issuer %q %s", what, wi.URL, msg)
		}
	}
	switch {
	case keys["audience"] == nil:
		l.addf(e.Key, "%s: missing audience (the aud its tokens must carry, e.g. jitbot)", what)
	case wi.Audience == "":
		l.addf(keys["audience"].Value, "%s: audience is empty: give the aud its tokens must carry, e.g. jitbot", what)
	}
	return wi, len(l.problems) == problems
}

// issuerURLProblem says what is wrong with an issuer URL, "" when nothing
// is. OpenID Connect issuers are https URLs without query or fragment;
// plain http is let through for a loopback address only, so that tests
// can run an issuer of their own and nothing else can be spoofed on the
// way.
func issuerURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "is empty: give the https URL its tokens name as iss"
	case err != nil:
		return fmt.Sprintf("is not a URL: %v", errors.Unwrap(err)) // without the URL it repeats
	case u.Scheme == "" || u.Hostname() == "":
		return "is not an absolute URL with a host, e.g. https://token.actions.githubusercontent.com"
	case u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())):
		return "must be an https URL (http only for a loopback address such as http://127.0.0.1:8080, for tests)"
	case u.User != nil:
		return "must not hold a user name or password"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return "must have no query or fragment"
	}
	return ""
}

func isLoopback(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// sameIssuer is an issuer URL as far as telling two issuers apart goes:
// scheme and host in any case, with or without a trailing slash.
func sameIssuer(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Scheme+"://"+u.Host) + strings.TrimSuffix(u.EscapedPath(), "/")
}

// workloads reads a role's workloads rules and compiles them in the
// workload environment. Problems name them workloads.eligible and
// workloads.auto_approve, so that they are not taken for the person's.
func (l *loader) workloads(kv *ast.MappingValueNode, r *Role) *WorkloadRules {
	what := "role " + r.Name + ": workloads"
	l.workloadRoles = append(l.workloadRoles, workloadRole{r.Name, kv})
	m := l.mapping(kv.Value, what)
	if m == nil {
		if isNull(kv.Value) {
			l.addf(kv.Key, "%s is empty: it needs eligible (a CEL rule over workload and request)", what)
		}
		return nil
	}
	w := &WorkloadRules{}
	keys := map[string]*ast.MappingValueNode{}
	for _, e := range m.Values {
		key := keyOf(e)
		if key != "eligible" && key != "auto_approve" {
			l.addf(e.Key, "%s: unknown key %q (known: eligible, auto_approve)", what, key)
			continue
		}
		if keys["workloads."+key] != nil {
			l.addf(e.Key, "%s: %s is set twice", what, key)
		}
		keys["workloads."+key] = e
		src, ok := scalar(unwrap(e.Value))
		if !ok {
			l.addf(e.Value, "%s: %s must be a string (a CEL rule)", what, key)
		}
		if key == "eligible" {
			w.Eligible = src
		} else {
			w.AutoApprove = src
		}
	}
	if strings.TrimSpace(w.Eligible) == "" {
		l.addf(kv.Key, `%s: missing eligible (a CEL rule saying which workloads may request the role, e.g. 'workload.repository == "acme/infra"')`, what)
	}
	env, err := celWorkloadEnv()
	if err != nil {
		l.addf(kv.Key, "%s: cannot set up CEL: %v", what, err)
		return nil
	}
	w.eligible = l.compileIn(env, r, "workloads.eligible", w.Eligible, boolType, keys)
	w.autoApprove = l.compileIn(env, r, "workloads.auto_approve", w.AutoApprove, boolType, keys)
	return w
}

// workloadRole is a role's workloads key, for checkWorkloadRoles.
type workloadRole struct {
	role string
	at   *ast.MappingValueNode
}

// checkWorkloadRoles reports each role that takes workloads in a catalog
// without workload_issuers: no workload could prove who it is to reach its
// rules. An empty or broken workload_issuers is reported by itself.
func (l *loader) checkWorkloadRoles(issuers *ast.MappingValueNode) {
	if issuers != nil {
		return
	}
	for _, wr := range l.workloadRoles {
		l.addf(wr.at.Key, "role %s: workloads needs workload_issuers in the catalog (the OIDC issuers whose tokens workloads prove themselves with)", wr.role)
	}
}
