package awsgrant_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/awsgrant"
)

// escapeDeny is the statement every aws_sts session policy must carry so
// that a session cannot outlive its grant: no role chaining (unless the
// role allows it) and no credentials that last longer than the session.
func escapeDeny(chaining bool) policyStatement {
	var actions []any
	if !chaining {
		actions = []any{"sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"}
	}
	actions = append(actions, "sts:GetFederationToken", "sts:GetSessionToken",
		"iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
		"iam:CreateServiceSpecificCredential", "iam:UploadSSHPublicKey", "iam:UploadSigningCertificate")
	return policyStatement{Effect: "Deny", Action: actions, Resource: "*"}
}

// TestSTSSessionCannotEscapeGrant is the attack of a requester who turns
// a short grant into lasting access: chain into another role that trusts
// this one (a session the grant's expiry and revoke deny never reach), or
// mint an access key, a console password or an SSH key. Every session
// policy denies those after the role's own statements, so a catalog
// session_policy that allows sts:* and iam:* cannot re-allow them
// (explicit deny wins in IAM). A role with allow_role_chaining may chain,
// and then its sessions pass jit-request on as a transitive tag.
func TestSTSSessionCannotEscapeGrant(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	arn := e.createRole(t, "jit-escape", maxSession)
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:*","iam:*"],"Resource":"*"}]}`

	for _, chaining := range []bool{false, true} {
		for _, policy := range []string{"", allowAll} {
			e.proxy.Reset()
			g := stsGrant(arn)
			g.SessionPolicy, g.AllowRoleChaining = policy, chaining
			if _, err := b.Grant(t.Context(), g); err != nil {
				t.Fatalf("Grant (chaining %v, session_policy %q): %v", chaining, policy, err)
			}
			p := onlyCall(t, e.proxy, "AssumeRole").Params
			doc := parsePolicy(t, p.Get("Policy"))
			n := len(doc.Statement)
			if n < 3 {
				t.Fatalf("session policy has %d statements: %+v", n, doc.Statement)
			}
			if got, want := doc.Statement[n-2], escapeDeny(chaining); !reflect.DeepEqual(got, want) {
				t.Errorf("chaining %v, session_policy %q: next-to-last statement %+v\nwant %+v", chaining, policy, got, want)
			}
			if end := doc.Statement[n-1].Condition["DateGreaterThan"]["aws:CurrentTime"]; end != g.Expires.UTC().Format(time.RFC3339) {
				t.Errorf("last statement ends access at %q, want %s", end, g.Expires.UTC().Format(time.RFC3339))
			}
			transitive := p.Get("TransitiveTagKeys.member.1")
			if chaining && (transitive != "jit-request" || p.Has("TransitiveTagKeys.member.2")) {
				t.Errorf("a chaining role's AssumeRole sends TransitiveTagKeys %q, want exactly jit-request", transitive)
			}
			if !chaining && transitive != "" {
				t.Errorf("a role that may not chain sends TransitiveTagKeys %q, want none", transitive)
			}
		}
	}
}
