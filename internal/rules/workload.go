package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// Workload is the CEL variable `workload`: a CI job or an agent that
// proved who it is with an OIDC ID token from one of the catalog's
// workload_issuers. Only the rules under a role's workloads see it.
type Workload struct {
	Issuer     string // the token's iss, an issuer URL of the catalog
	IssuerName string // that issuer's name in workload_issuers
	Subject    string // sub
	// Repository, Ref, Environment, Workflow, RunID and Actor are the
	// claims a CI system (GitHub Actions, GitLab CI) puts in its tokens;
	// Namespace and ServiceAccount those of a Kubernetes service account
	// token. A claim the token lacks is "".
	Repository, Ref, Environment, Workflow, RunID, Actor string
	Namespace, ServiceAccount                            string
	// Claims are all the token's claims, as encoding/json decodes them
	// (string, float64, bool, nil, []any, map[string]any), for what the
	// fields above leave out.
	Claims map[string]any
}

// WorkloadRules are a role's rules for workload requesters, apart from
// those for people so that neither can be used for the other: they see
// workload and request, never user.
type WorkloadRules struct {
	Eligible, AutoApprove string // CEL source; AutoApprove "" when absent

	eligible, autoApprove *program
}

// WorkloadIssuer is an OIDC issuer the catalog trusts to vouch for
// workloads, and the audience its tokens must carry.
type WorkloadIssuer struct {
	Name, URL, Audience string
}

// WorkloadIssuers returns the catalog's workload_issuers in name order;
// none when it trusts no issuer.
func (c *Catalog) WorkloadIssuers() []WorkloadIssuer {
	return slices.Clone(c.workloadIssuers)
}

// WorkloadEligible evaluates the role's workloads eligible rule; false for
// a role without workloads, which refuses every workload.
func (r *Role) WorkloadEligible(w Workload, in Input, now time.Time) (bool, error) {
	if r.Workloads == nil || r.Workloads.eligible == nil {
		return false, nil
	}
	return r.Workloads.eligible.evalWorkloadBool(w, in, now)
}

// WorkloadAutoApproves evaluates the role's workloads auto_approve rule;
// false when the role has none.
func (r *Role) WorkloadAutoApproves(w Workload, in Input, now time.Time) (bool, error) {
	if r.Workloads == nil || r.Workloads.autoApprove == nil {
		return false, nil
	}
	return r.Workloads.autoApprove.evalWorkloadBool(w, in, now)
}

// celWorkload is what CEL sees of Workload. Declared as a native type, like
// celUser, so that `workload.repo` is an error at load time.
type celWorkload struct {
	Issuer         string         `cel:"issuer"`
	IssuerName     string         `cel:"issuer_name"`
	Subject        string         `cel:"subject"`
	Repository     string         `cel:"repository"`
	Ref            string         `cel:"ref"`
	Environment    string         `cel:"environment"`
	Workflow       string         `cel:"workflow"`
	RunID          string         `cel:"run_id"`
	Actor          string         `cel:"actor"`
	Namespace      string         `cel:"namespace"`
	ServiceAccount string         `cel:"service_account"`
	Claims         map[string]any `cel:"-"` // declared by claimsField
}

// celWorkloadEnv is the environment of the rules under workloads: workload,
// request and now, and no user, so that a workload rule cannot be written
// about a person nor a person's rule about a workload.
var celWorkloadEnv = sync.OnceValues(func() (*cel.Env, error) {
	return newEnv("workload", reflect.TypeFor[celWorkload](), func(p types.Provider) types.Provider { return claimsField{p} })
})

// claimsField declares workload.claims, a map(string, dyn): the native
// types cannot declare a field of Go type any, and without it a claim not
// promoted to a field of its own could not be read at all.
type claimsField struct{ types.Provider }

func (p claimsField) FindStructFieldType(structType, fieldName string) (*types.FieldType, bool) {
	if structType != "rules.celWorkload" || fieldName != "claims" {
		return p.Provider.FindStructFieldType(structType, fieldName)
	}
	return &types.FieldType{
		Type:  types.NewMapType(types.StringType, types.DynType),
		IsSet: func(any) bool { return true },
		GetFrom: func(obj any) (any, error) {
			w, ok := obj.(*celWorkload)
			if !ok {
				return nil, fmt.Errorf("workload.claims of a %T", obj)
			}
			return w.Claims, nil
		},
	}, true
}

func toCELWorkload(w Workload) *celWorkload {
	claims := w.Claims
	if claims == nil {
		claims = map[string]any{} // `"x" in workload.claims` is false, not an error
	}
	return &celWorkload{Issuer: w.Issuer, IssuerName: w.IssuerName, Subject: w.Subject, Repository: w.Repository,
		Ref: w.Ref, Environment: w.Environment, Workflow: w.Workflow, RunID: w.RunID, Actor: w.Actor,
		Namespace: w.Namespace, ServiceAccount: w.ServiceAccount, Claims: claims}
}

// evalWorkloadBool evaluates a workload rule under the same cost limit and
// timer as a person's rule that is not Prepared.
func (p *program) evalWorkloadBool(w Workload, in Input, now time.Time) (bool, error) {
	return p.boolOf(p.timedEval(&vars{workload: toCELWorkload(w), request: toCELRequest(in, now), now: now}))
}

// undeclaredHint adds to a compile error about a variable the rule's
// environment lacks which rules do see it: `workload` in a person's rule
// and `user` in a workload's is a rule in the wrong place, not a typo.
func undeclaredHint(msg string, workloadRule bool) string {
	switch {
	case workloadRule && strings.Contains(msg, "undeclared reference to 'user'"):
		return msg + "; the rules under workloads see workload, request and now, not user"
	case !workloadRule && strings.Contains(msg, "undeclared reference to 'workload'"):
		return msg + "; only the rules under workloads see workload"
	case strings.Contains(msg, "undeclared reference to 'grantee'"):
		return msg + "; only request_for_others sees grantee"
	}
	return msg
}
