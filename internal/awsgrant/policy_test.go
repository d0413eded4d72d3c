package awsgrant_test

import (
	"encoding/json"
	"os"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"

	"github.com/jitbot/jitbot/internal/awsgrant"
)

// TestDeployPolicyAllowsEveryCall drives both backends through every path
// that calls AWS — grant, early revoke, clean-up, and a grant whose target
// is missing — and checks that deploy/iam/iam-policy.json, the policy the
// README tells operators to attach to jitbot, allows each action seen on the
// wire, and no IAM or STS action that was not seen. A backend that starts
// calling something new fails here, not in production with AccessDenied;
// one that stops calling something leaves a permission to take away.
// (deploy's TestBotPolicyAllowsExactlyWhatTheCodeCalls checks the other
// services' actions, CloudTrail and S3, against the code.)
func TestDeployPolicyAllowsEveryCall(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	sts := awsgrant.NewSTS(e.cfg, testLogger(t))
	arn := e.createRole(t, "jit-policy-check", 12*time.Hour)
	g := stsGrant(arn)
	if _, err := sts.Grant(ctx, g); err != nil {
		t.Fatalf("sts Grant: %v", err)
	}
	if _, err := sts.Revoke(ctx, g); err != nil {
		t.Fatalf("sts Revoke: %v", err)
	}
	if err := sts.Cleanup(ctx, g); err != nil {
		t.Fatalf("sts Cleanup: %v", err)
	}
	if _, err := sts.Grant(ctx, stsGrant("arn:aws:iam::"+motoAccount+":role/jit-ghost")); err == nil {
		t.Fatalf("sts Grant of a missing role succeeded")
	}

	group := awsgrant.NewGroup(e.cfg, testLogger(t))
	e.createUser(t, "policy-alice")
	e.createGroup(t, "jit-policy-check")
	gg := groupGrant("policy-alice", "jit-policy-check")
	if _, err := group.Grant(ctx, gg); err != nil {
		t.Fatalf("group Grant: %v", err)
	}
	if _, err := group.Revoke(ctx, gg); err != nil {
		t.Fatalf("group Revoke: %v", err)
	}
	if _, err := group.Grant(ctx, groupGrant("policy-ghost", "jit-policy-check")); err == nil {
		t.Fatalf("group Grant for a missing user succeeded")
	}

	driveIdentityCenter(t, e)

	allowed := deployPolicyActions(t)
	seen := map[string]bool{}
	for _, c := range e.proxy.Calls("") {
		seen[c.Action] = true
	}
	if len(seen) < 6 {
		t.Fatalf("only %d distinct actions recorded (%v); the proxy is not seeing the backends", len(seen), actions(e.proxy))
	}
	for action := range seen {
		if !allowed[iamAction(action)] && !needsNoPermission[iamAction(action)] {
			t.Errorf("backends call %s but deploy/iam/iam-policy.json does not allow it", iamAction(action))
		}
	}
	// AssumeRole with tags and a source identity needs two more permissions
	// that never show up as actions of their own.
	implied := map[string]bool{}
	for _, a := range []string{"sts:TagSession", "sts:SetSourceIdentity"} {
		implied[a] = seen["AssumeRole"]
		if seen["AssumeRole"] && !allowed[a] {
			t.Errorf("AssumeRole sends session tags and a source identity, but deploy/iam/iam-policy.json does not allow %s", a)
		}
	}
	for a := range allowed {
		service, action, _ := strings.Cut(a, ":")
		if (service == "iam" || service == "sts" || service == "sso" || service == "identitystore") && !seen[action] && !implied[a] && !postureCheckOnly[a] {
			t.Errorf("deploy/iam/iam-policy.json allows %s, which the backends never called; least privilege: remove it", a)
		}
	}
}

// postureCheckOnly are read-only actions that jitbot doctor
// (internal/doctor) calls and the backends do not: what a role's IAM group
// or permission set gives. deploy's TestBotPolicyAllowsExactlyWhatTheCodeCalls
// checks them against the code.
var postureCheckOnly = map[string]bool{
	"iam:ListAttachedGroupPolicies":                          true,
	"iam:ListGroupPolicies":                                  true,
	"sso:ListManagedPoliciesInPermissionSet":                 true,
	"sso:ListCustomerManagedPolicyReferencesInPermissionSet": true,
	"sso:GetInlinePolicyForPermissionSet":                    true,
}

// needsNoPermission are the actions AWS allows every principal, whatever
// its policies say; a policy that names them would mislead.
var needsNoPermission = map[string]bool{
	"sts:GetCallerIdentity": true, // how jitbot learns its own account
}

// iamAction is the IAM policy name of an API action seen on the wire.
func iamAction(action string) string {
	switch {
	case action == "AssumeRole", action == "GetCallerIdentity":
		return "sts:" + action
	case hasOperation[*ssoadmin.Client](action):
		return "sso:" + action
	case hasOperation[*identitystore.Client](action):
		return "identitystore:" + action
	}
	return "iam:" + action
}

// hasOperation reports whether the SDK client C has an API operation op.
func hasOperation[C any](op string) bool {
	m, ok := reflect.TypeFor[C]().MethodByName(op)
	return ok && m.Type.NumIn() >= 3 && m.Type.In(2).Kind() == reflect.Pointer && m.Type.In(2).Elem().Name() == op+"Input"
}

// driveIdentityCenter runs both Identity Center backends through grant,
// revoke, members and a missing user. Assignments are rewritten to
// IN_PROGRESS so the status calls, which moto never needs, are made too.
func driveIdentityCenter(t *testing.T, base *env) {
	t.Helper()
	e := ssoEnvOn(t, base)
	ctx := t.Context()
	e.createPermissionSet(t, "JitPolicyCheck")
	e.createSSOUser(t, "policy-sso@example.com")
	e.createSSOGroup(t, "jit-policy-check")
	rw, cfg := e.rewritten(t)
	rw.Rewrite("CreateAccountAssignment", setStatus("AccountAssignmentCreationStatus", "IN_PROGRESS", ""))
	rw.Rewrite("DeleteAccountAssignment", setStatus("AccountAssignmentDeletionStatus", "IN_PROGRESS", ""))

	sso := awsgrant.NewSSO(cfg, "", testLogger(t))
	awsgrant.SetSSOPolling(sso, 5*time.Second, time.Millisecond, time.Millisecond)
	g := ssoGrant("policy-sso@example.com", motoAccount, "JitPolicyCheck")
	if _, err := sso.Grant(ctx, g); err != nil {
		t.Fatalf("sso Grant: %v", err)
	}
	if _, err := sso.Members(ctx, g.Target); err != nil {
		t.Fatalf("sso Members: %v", err)
	}
	if _, err := sso.Revoke(ctx, g); err != nil {
		t.Fatalf("sso Revoke: %v", err)
	}
	if _, err := sso.Grant(ctx, ssoGrant("policy-ghost@example.com", motoAccount, "JitPolicyCheck")); err == nil {
		t.Fatalf("sso Grant for a missing user succeeded")
	}

	group := awsgrant.NewSSOGroup(cfg, "", testLogger(t))
	gg := ssoGroupGrant("policy-sso@example.com", "jit-policy-check")
	if _, err := group.Grant(ctx, gg); err != nil {
		t.Fatalf("sso group Grant: %v", err)
	}
	if _, err := group.Members(ctx, gg.Target); err != nil {
		t.Fatalf("sso group Members: %v", err)
	}
	if _, err := group.Revoke(ctx, gg); err != nil {
		t.Fatalf("sso group Revoke: %v", err)
	}
}

// deployPolicyActions is every action the Allow statements of
// deploy/iam/iam-policy.json name.
func deployPolicyActions(t *testing.T) map[string]bool {
	t.Helper()
	text, err := os.ReadFile(path.Join("..", "..", "deploy", "iam", "iam-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Effect string
			Action []string
		}
	}
	if err := json.Unmarshal(text, &doc); err != nil {
		t.Fatalf("deploy/iam/iam-policy.json: %v", err)
	}
	allowed := map[string]bool{}
	for _, s := range doc.Statement {
		if !strings.EqualFold(s.Effect, "Allow") {
			continue
		}
		for _, a := range s.Action {
			allowed[a] = true
		}
	}
	return allowed
}
