package deploy_test

import (
	"regexp"
	"strings"
	"testing"
)

const (
	boundaryPolicyFile = "iam/boundary-policy.json"
	// boundaryARN is the permissions boundary every jit-* role carries, as
	// iam-policy.json names it (Terraform puts the account in place of *).
	boundaryARN = "arn:aws:iam::*:policy/jit-boundary"
	testAccount = "123456789012"
)

func boundaryCondition(op string) map[string]map[string]any {
	return map[string]map[string]any{op: {"iam:PermissionsBoundary": boundaryARN}}
}

// request is one IAM request for the evaluator below: the action, the
// resource and the permissions boundary of the role it acts on ("" for
// none).
type request struct {
	action, resource, boundary string
}

// decide evaluates doc for r the way IAM does for one identity policy:
// an explicit Deny wins, else an Allow allows, else it is denied. It knows
// exactly the condition operators deploy/iam uses (ArnLike, ArnNotLike on
// iam:PermissionsBoundary; a negated operator matches when the key is
// absent) and fails the test on any other, so it never guesses.
func decide(t *testing.T, doc policyDoc, r request) (allowed bool) {
	t.Helper()
	for _, s := range doc.Statement {
		if !matchAny(s.Action, r.action) || !glob(s.Resource, r.resource) || !conditionHolds(t, s, r) {
			continue
		}
		if s.Effect == "Deny" {
			return false
		}
		allowed = true
	}
	return allowed
}

func conditionHolds(t *testing.T, s policyStatement, r request) bool {
	t.Helper()
	for op, kv := range s.Condition {
		for key, v := range kv {
			pattern, ok := v.(string)
			if key != "iam:PermissionsBoundary" || !ok {
				t.Fatalf("statement %s: condition %s %s=%v is unknown to this evaluator", s.Sid, op, key, v)
			}
			switch op {
			case "ArnLike":
				if r.boundary == "" || !glob(pattern, r.boundary) {
					return false
				}
			case "ArnNotLike":
				if r.boundary != "" && glob(pattern, r.boundary) {
					return false
				}
			default:
				t.Fatalf("statement %s: condition operator %s is unknown to this evaluator", s.Sid, op)
			}
		}
	}
	return true
}

func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if glob(p, s) {
			return true
		}
	}
	return false
}

// glob matches IAM's wildcards: * any run of characters, ? one; actions
// case-insensitively, which does no harm to the ARNs compared here.
func glob(pattern, s string) bool {
	re := "(?i)^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// TestBotPolicyKeepsJitRolesBounded is the attack of whoever holds
// jitbot's AWS credentials: jitbot must write inline policies on jit-*
// roles (its revoke deny), so they could write {"Action":"*"} on one and
// hand it out. IAM cannot limit PutRolePolicy by policy name or content;
// what caps the role is its permissions boundary, so jitbot may write only
// on roles that carry jit-boundary, may never remove or replace a
// boundary, and may never change the boundary policy itself. moto does not
// evaluate IAM policies, so this evaluates deploy/iam's documents offline
// with the few IAM rules they use.
func TestBotPolicyKeepsJitRolesBounded(t *testing.T) { keepsJitRolesBounded(t, botPolicyFile) }

// keepsJitRolesBounded attacks the policy in file with what its holder
// could do to a jit-* role, and fails the test where the policy lets them.
func keepsJitRolesBounded(t *testing.T, file string) {
	t.Helper()
	bot := readPolicy(t, file)
	role := "arn:aws:iam::" + testAccount + ":role/jit-prod-admin"
	bounded := "arn:aws:iam::" + testAccount + ":policy/jit-boundary"
	other := "arn:aws:iam::" + testAccount + ":policy/jit-anything-goes"
	tests := []struct {
		r    request
		want bool
	}{
		{request{"iam:PutRolePolicy", role, bounded}, true}, // the revoke deny
		{request{"iam:DeleteRolePolicy", role, bounded}, true},
		{request{"iam:GetRolePolicy", role, bounded}, true}, // read before the write
		{request{"iam:GetRolePolicy", "arn:aws:iam::" + testAccount + ":role/admin", bounded}, false},
		{request{"iam:PutRolePolicy", role, ""}, false},
		{request{"iam:PutRolePolicy", role, other}, false},
		{request{"iam:PutRolePolicy", "arn:aws:iam::" + testAccount + ":role/admin", bounded}, false},
		{request{"iam:AttachRolePolicy", role, bounded}, false},
		{request{"iam:DeleteRolePermissionsBoundary", role, bounded}, false},
		{request{"iam:PutRolePermissionsBoundary", role, bounded}, false},
		{request{"iam:PutRolePermissionsBoundary", role, ""}, false},
		{request{"iam:CreatePolicyVersion", bounded, ""}, false},
		{request{"iam:SetDefaultPolicyVersion", bounded, ""}, false},
		{request{"iam:DeletePolicy", bounded, ""}, false},
		{request{"iam:UpdateAssumeRolePolicy", role, bounded}, false},
		{request{"iam:CreateRole", "arn:aws:iam::" + testAccount + ":role/jit-new", ""}, false},
	}
	for _, tt := range tests {
		if got := decide(t, bot, tt.r); got != tt.want {
			t.Errorf("%s: %s on %s (boundary %q) allowed=%v, want %v", file, tt.r.action, tt.r.resource, tt.r.boundary, got, tt.want)
		}
	}

	// The guards must be explicit denies, so that a policy attached to
	// jitbot's role later (AdministratorAccess by mistake) cannot lift them.
	admin := bot
	admin.Statement = append([]policyStatement{{Sid: "Mistake", Effect: "Allow", Action: []string{"*"}, Resource: "*"}}, bot.Statement...)
	for _, tt := range tests {
		writes := tt.r.action == "iam:PutRolePolicy" || tt.r.action == "iam:AttachRolePolicy"
		if tt.want || tt.r.action == "iam:GetRolePolicy" || tt.r.action == "iam:UpdateAssumeRolePolicy" || tt.r.action == "iam:CreateRole" || writes && tt.r.boundary == bounded {
			continue // only the boundary guards are explicit denies; a bounded role stays capped, and reading changes nothing
		}
		if decide(t, admin, tt.r) {
			t.Errorf("%s plus AdministratorAccess allows %s on %s (boundary %q); it must be an explicit deny", file, tt.r.action, tt.r.resource, tt.r.boundary)
		}
	}
}

// TestBoundaryCapsEveryJitRole: a role's permissions are what both its
// own policies and its boundary allow. Even with an inline policy that
// allows "*" — what a thief of jitbot's credentials would write — a role
// bounded by boundary-policy.json cannot escalate (write IAM, pass a role,
// leave the organisation) or mint credentials that outlive its session,
// while it can still read.
func TestBoundaryCapsEveryJitRole(t *testing.T) {
	boundary := readPolicy(t, boundaryPolicyFile)
	inline := policyDoc{Statement: []policyStatement{{Effect: "Allow", Action: []string{"*"}, Resource: "*"}}}
	effective := func(action string) bool {
		r := request{action: action, resource: "arn:aws:iam::" + testAccount + ":role/jit-prod-admin"}
		return decide(t, inline, r) && decide(t, boundary, r)
	}
	for _, a := range []string{"iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRolePermissionsBoundary",
		"iam:PutRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy",
		"iam:UpdateAssumeRolePolicy", "iam:CreateRole", "iam:CreateUser", "iam:PassRole", "iam:AddUserToGroup",
		"iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
		"iam:CreateServiceSpecificCredential", "iam:UploadSSHPublicKey", "iam:UploadSigningCertificate",
		"sts:GetFederationToken", "sts:GetSessionToken", "organizations:LeaveOrganization", "account:CloseAccount"} {
		if effective(a) {
			t.Errorf("a jit role with boundary-policy.json and an inline \"*\" may %s", a)
		}
	}
	for _, a := range []string{"s3:GetObject", "ec2:DescribeInstances", "iam:GetRole", "iam:ListRoles", "rds:DescribeDBInstances"} {
		if !effective(a) {
			t.Errorf("boundary-policy.json denies %s; the ceiling should only take escalation and lasting credentials", a)
		}
	}
}
