package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// checkGroup checks an aws_iam_group role: the group exists, every member
// holds a live grant, and which policies the group carries.
func (st *roleState) checkGroup(ctx context.Context, role *rules.Role) []Finding {
	subject := roleSubject(role.Name)
	fs, ok := st.standing(ctx, subject, role.Backend, role.Group, "IAM group "+role.Group)
	if !ok {
		return fs
	}
	return append(fs, st.groupPolicies(ctx, subject, role.Group))
}

// groupPolicies reports the policies of the group as Info: the catalog
// does not say which policies a role's group should carry, so doctor
// cannot call any of them wrong. It lists them for the reader, and warns
// of a group with none, whose grants give nothing.
func (st *roleState) groupPolicies(ctx context.Context, subject, group string) Finding {
	if st.c.AWS == nil {
		return errorFinding(subject, "policies of IAM group "+group, errors.New("no AWS configuration"), "")
	}
	attached, inline, err := st.c.AWS.GroupPolicies(ctx, group)
	if err != nil {
		return errorFinding(subject, "policies of IAM group "+group, err,
			"give the credentials doctor runs with iam:ListAttachedGroupPolicies and iam:ListGroupPolicies (README, Posture check)")
	}
	if len(attached)+len(inline) == 0 {
		return Finding{Status: Warn, Subject: subject, Finding: "IAM group " + group + " has no policies: a grant gives nothing",
			Fix: "attach the policies the role is meant to give"}
	}
	var parts []string
	if len(attached) > 0 {
		parts = append(parts, "attached "+strings.Join(attached, ", "))
	}
	if len(inline) > 0 {
		parts = append(parts, "inline "+strings.Join(inline, ", "))
	}
	return Finding{Status: Info, Subject: subject, Finding: "IAM group " + group + " gives: " + strings.Join(parts, "; ")}
}

// checkIdentityCenter checks an aws_sso role (the permission set in each
// account it lists) or an aws_sso_group role (the Identity Center group):
// the target exists and nobody holds it without a live grant.
func (st *roleState) checkIdentityCenter(ctx context.Context, role *rules.Role) []Finding {
	subject := roleSubject(role.Name)
	if role.Backend == grants.BackendSSOGroup {
		fs, _ := st.standing(ctx, subject, role.Backend, role.SSOGroup, "Identity Center group "+role.SSOGroup)
		return fs
	}
	var fs []Finding
	if role.OrganizationalUnit != "" {
		fs = append(fs, Finding{Status: Info, Subject: subject,
			Finding: "accounts under " + role.OrganizationalUnit + " are not checked: doctor checks the accounts the catalog lists"})
	}
	for _, a := range role.Accounts {
		target := grants.SSOTarget(a.ID, role.PermissionSet)
		more, ok := st.standing(ctx, subject, role.Backend, target, fmt.Sprintf("permission set %s in account %s", role.PermissionSet, a))
		fs = append(fs, more...)
		if !ok {
			return fs // the permission set is missing or AWS out of reach: once is enough
		}
	}
	return append(fs, st.permissionSetPolicies(ctx, subject, role.PermissionSet))
}

// permissionSetPolicies reports what the permission set gives as Info,
// for the reason groupPolicies gives.
func (st *roleState) permissionSetPolicies(ctx context.Context, subject, ps string) Finding {
	what := "policies of permission set " + ps
	if st.c.AWS == nil {
		return errorFinding(subject, what, errors.New("no AWS configuration"), "")
	}
	policies, err := st.c.AWS.PermissionSetPolicies(ctx, ps)
	if err != nil {
		return errorFinding(subject, what, err,
			"give the credentials doctor runs with sso:ListManagedPoliciesInPermissionSet, sso:ListCustomerManagedPolicyReferencesInPermissionSet and sso:GetInlinePolicyForPermissionSet (README, Posture check)")
	}
	if len(policies) == 0 {
		return Finding{Status: Warn, Subject: subject, Finding: "permission set " + ps + " has no policies: a grant gives nothing",
			Fix: "attach the policies the role is meant to give"}
	}
	return Finding{Status: Info, Subject: subject, Finding: "permission set " + ps + " gives: " + strings.Join(policies, ", ")}
}

// standing compares who holds target (backend's Members) with the live
// grants: each holder without one is a standing path, named. ok is false
// when target could not be read at all.
func (st *roleState) standing(ctx context.Context, subject, backend, target, what string) (fs []Finding, ok bool) {
	lister := st.c.Members[backend]
	if lister == nil {
		return []Finding{errorFinding(subject, what, fmt.Errorf("no %s client (for aws_sso, set JIT_SSO_INSTANCE_ARN or let jitbot find the instance)", backend), "")}, false
	}
	members, err := lister.Members(ctx, target)
	if errors.Is(err, grants.ErrInvalidTarget) {
		return []Finding{{Status: Wrong, Subject: subject, Finding: what + " does not exist: every grant fails (" + err.Error() + ")",
			Fix: "create it or correct the role in the catalog"}}, false
	}
	if err != nil {
		return []Finding{errorFinding(subject, what, err, "check the AWS credentials and permissions doctor runs with (README, Posture check)")}, false
	}
	live, err := st.live(ctx)
	if err != nil {
		return []Finding{errorFinding(subject, "who holds "+what+" without a grant", err, "run doctor with the REDIS_URL and JIT_SIGNING_KEY of jitbot serve")}, true
	}
	slices.Sort(members)
	for _, m := range slices.Compact(members) {
		if live[grants.Hold{Backend: backend, Target: target, Principal: m}] {
			continue
		}
		fs = append(fs, Finding{Status: Wrong, Subject: subject, Finding: fmt.Sprintf("standing access: %s holds %s with no live grant", m, what),
			Fix: fmt.Sprintf("remove %s from %s, or set reconcile: enforce on the role so jitbot removes such members", m, what)})
	}
	if len(fs) == 0 {
		fs = append(fs, Finding{Status: OK, Subject: subject, Finding: holders(what, len(members))})
	}
	return fs, true
}

func holders(what string, n int) string {
	switch n {
	case 0:
		return what + ": nobody holds it"
	case 1:
		return what + ": 1 holder, with a live grant"
	}
	return fmt.Sprintf("%s: %d holders, each with a live grant", what, n)
}
