package awsgrant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

const policyVersion = "2012-10-17"

type policyDoc struct {
	Version   string
	Statement []any // statement values and the role's own json.RawMessage statements
}

type statement struct {
	Effect    string
	Action    any // a string or a []string
	Resource  string
	Condition map[string]map[string]string `json:",omitempty"`
}

// chainingActions let a session become another principal whose
// credentials the grant's expiry and revoke deny do not reach.
var chainingActions = []string{"sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"}

// persistenceActions create credentials that outlive the session: a
// federation token, access keys, console passwords and the like.
var persistenceActions = []string{"sts:GetFederationToken", "sts:GetSessionToken",
	"iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
	"iam:CreateServiceSpecificCredential", "iam:UploadSSHPublicKey", "iam:UploadSigningCertificate"}

// escapeDeny is the statement that keeps a session from outliving its
// grant. It comes after the role's own session_policy statements, and an
// explicit deny wins over any allow in IAM, so no session_policy can
// re-allow what it takes.
func escapeDeny(g grants.Grant) statement {
	actions := persistenceActions
	if !g.AllowRoleChaining {
		actions = append(append([]string(nil), chainingActions...), persistenceActions...)
	}
	return statement{Effect: "Deny", Action: actions, Resource: "*"}
}

// sessionPolicy is the AssumeRole session policy: the role's session_policy
// statements (or allow-all, since session policies only narrow the role's
// own), plus a deny of role chaining and long-lived credentials (see
// escapeDeny) and a deny of everything after g.Expires. The policy states the
// time to the second; the scheduler rounds Expires up to a whole second, so
// it is exact, and any fraction left is cut, which ends access sooner, never
// later.
func sessionPolicy(g grants.Grant) (string, error) {
	stmts := []any{statement{Effect: "Allow", Action: "*", Resource: "*"}}
	if g.SessionPolicy != "" {
		var doc struct{ Statement json.RawMessage }
		err := json.Unmarshal([]byte(g.SessionPolicy), &doc)
		raw := bytes.TrimSpace(doc.Statement)
		if err != nil || len(raw) == 0 || string(raw) == "null" {
			return "", fmt.Errorf("%w: the session_policy for %q is not a JSON policy document with a Statement", grants.ErrInvalidTarget, g.Target)
		}
		var list []json.RawMessage
		if raw[0] != '[' {
			list = []json.RawMessage{raw}
		} else if err := json.Unmarshal(raw, &list); err != nil {
			return "", fmt.Errorf("%w: the session_policy for %q has a malformed Statement", grants.ErrInvalidTarget, g.Target)
		}
		stmts = stmts[:0]
		for _, st := range list {
			stmts = append(stmts, st)
		}
	}
	stmts = append(stmts, escapeDeny(g), statement{
		Effect:   "Deny",
		Action:   "*",
		Resource: "*",
		Condition: map[string]map[string]string{
			"DateGreaterThan": {"aws:CurrentTime": g.Expires.UTC().Format(time.RFC3339)},
		},
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keeps '<', '>' and '&' one character each against the size limit
	if err := enc.Encode(policyDoc{Version: policyVersion, Statement: stmts}); err != nil {
		return "", fmt.Errorf("encode session policy for %s: %w", g.RequestID, err)
	}
	policy := strings.TrimSuffix(buf.String(), "\n")
	if len(policy) > maxSessionPolicy {
		return "", fmt.Errorf("%w: the session policy for %q is %d characters and STS accepts at most %d; shorten the role's session_policy",
			grants.ErrInvalidTarget, g.Target, len(policy), maxSessionPolicy)
	}
	return policy, nil
}
