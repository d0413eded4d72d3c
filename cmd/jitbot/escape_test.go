package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// chainingRole is a role of the test catalog that opts in to role chaining.
const chainingRole = `  chaining:
    description: Operators who hop into other roles
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    allow_role_chaining: true
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
    auto_approve: 'true'
`

// TestSlackSTSSessionCannotOutliveGrant is the attack of a requester who
// stretches a grant past its end: from the issued session, assume another
// role that trusts this one, or create an access key or a password — none
// of which the expiry deny or the revoke deny reaches. The built binary's
// AssumeRole carries a session policy that denies both; a role with
// allow_role_chaining may chain, and then jit-request is a transitive tag
// so the revoke deny follows the chained sessions.
func TestSlackSTSSessionCannotOutliveGrant(t *testing.T) {
	catalog := filepath.Join(t.TempDir(), "roles.yaml")
	writeFile(t, catalog, slackCatalog+chainingRole)
	b := startBot(t, "JIT_RULES="+catalog)

	id := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "export AWS_ACCESS_KEY_ID=")
	chained := requestID(t, b.command(t, "UALICE", "request chaining 30m hopping into the backup account role"))
	b.dmWith(t, "UALICE", chained, "export AWS_ACCESS_KEY_ID=")

	calls := b.proxy.Calls("AssumeRole")
	if len(calls) != 2 {
		t.Fatalf("%d AssumeRole calls, want 2", len(calls))
	}
	for i, c := range calls {
		chaining := i == 1
		denied := deniedActions(t, c.Params.Get("Policy"))
		for _, a := range []string{"iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile", "sts:GetFederationToken"} {
			if !denied[a] {
				t.Errorf("request %d: session policy does not deny %s: %s", i+1, a, c.Params.Get("Policy"))
			}
		}
		if denied["sts:AssumeRole"] == chaining {
			t.Errorf("request %d (allow_role_chaining %v): session policy denies sts:AssumeRole: %v", i+1, chaining, denied["sts:AssumeRole"])
		}
		transitive := c.Params.Get("TransitiveTagKeys.member.1")
		if chaining && transitive != "jit-request" {
			t.Errorf("chaining role's AssumeRole sent TransitiveTagKeys %q, want jit-request", transitive)
		}
		if !chaining && transitive != "" {
			t.Errorf("readonly's AssumeRole sent TransitiveTagKeys %q, want none", transitive)
		}
	}
}

// deniedActions is every action that an unconditional Deny statement of
// policy names.
func deniedActions(t *testing.T, policy string) map[string]bool {
	t.Helper()
	var doc struct {
		Statement []struct {
			Effect    string
			Action    any
			Condition map[string]any
		}
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("session policy is not JSON: %v\n%s", err, policy)
	}
	denied := map[string]bool{}
	for _, s := range doc.Statement {
		if !strings.EqualFold(s.Effect, "Deny") || len(s.Condition) > 0 {
			continue
		}
		switch a := s.Action.(type) {
		case string:
			denied[a] = true
		case []any:
			for _, v := range a {
				if s, ok := v.(string); ok {
					denied[s] = true
				}
			}
		}
	}
	return denied
}
