package awsgrant_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/jitbot/jitbot/internal/awsgrant"
)

// putDeny writes a role's jit-revoked as another writer (an operator, an
// older revocation) left it.
func (e *env) putDeny(t *testing.T, role, name, doc string) {
	t.Helper()
	if _, err := e.admin.PutRolePolicy(t.Context(), &iam.PutRolePolicyInput{
		RoleName: aws.String(role), PolicyName: aws.String(name), PolicyDocument: aws.String(doc)}); err != nil {
		t.Fatalf("put policy %s on role %s: %v", name, role, err)
	}
}

// denyStatementOf is a statement of jit-revoked as jitbot writes it.
func denyStatementOf(hour time.Time, ids ...string) string {
	return `{"Sid":"Until` + hour.UTC().Format("2006010215") + `","Effect":"Deny","Action":"*","Resource":"*",` +
		`"Condition":{"StringEquals":{"aws:PrincipalTag/jit-request":["` + strings.Join(ids, `","`) + `"]}}}`
}

func TestSTSRevokeDenyShared(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))

	t.Run("clean-up lifts only its own request", func(t *testing.T) {
		role := uniqueName("jit-shared")
		arn := e.createRole(t, role, maxSession)
		g1, g2 := stsGrant(arn), stsGrant(arn)
		if _, err := b.Revoke(t.Context(), g1); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if _, err := b.Revoke(t.Context(), g2); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if !e.denied(t, role, g1.RequestID) || !e.denied(t, role, g2.RequestID) {
			t.Fatalf("after two revocations the deny names %s: %v, %s: %v", g1.RequestID, e.denied(t, role, g1.RequestID), g2.RequestID, e.denied(t, role, g2.RequestID))
		}
		if err := b.Cleanup(t.Context(), g1); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		if e.denied(t, role, g1.RequestID) || !e.denied(t, role, g2.RequestID) {
			t.Errorf("after the clean-up of %s the deny names it: %v, and %s: %v; want only the second",
				g1.RequestID, e.denied(t, role, g1.RequestID), g2.RequestID, e.denied(t, role, g2.RequestID))
		}
	})

	t.Run("passed hours go, other statements stay", func(t *testing.T) {
		role := uniqueName("jit-prune")
		g := stsGrant(e.createRole(t, role, maxSession))
		past := time.Now().Add(-time.Hour).Truncate(time.Hour)
		operator := `{"Sid":"Operator","Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*"}`
		e.putDeny(t, role, "jit-revoked", `{"Version":"2012-10-17","Statement":[`+denyStatementOf(past, "JIT-OLD001")+`,`+operator+`]}`)
		if _, err := b.Revoke(t.Context(), g); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		doc, _ := e.rolePolicyText(t, role, "jit-revoked")
		if strings.Contains(doc, "JIT-OLD001") || !strings.Contains(doc, string(g.RequestID)) || !strings.Contains(doc, operator) {
			t.Errorf("deny = %s\nwant %s denied, JIT-OLD001 (its hour has passed) gone and the operator's statement kept", doc, g.RequestID)
		}
	})

	t.Run("clean-up deletes the policy of the old form", func(t *testing.T) {
		role := uniqueName("jit-legacy")
		g := stsGrant(e.createRole(t, role, maxSession))
		legacy := "jit-revoke-" + string(g.RequestID)
		e.putDeny(t, role, legacy, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*",`+
			`"Condition":{"StringEquals":{"aws:PrincipalTag/jit-request":"`+string(g.RequestID)+`"}}}]}`)
		if err := b.Cleanup(t.Context(), g); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		if _, ok := e.rolePolicyText(t, role, legacy); ok {
			t.Errorf("policy %s still on the role after Cleanup", legacy)
		}
	})

	t.Run("a full policy refuses the revocation and names the quota", func(t *testing.T) {
		role := uniqueName("jit-full")
		g := stsGrant(e.createRole(t, role, maxSession))
		hour := time.Now().Add(2 * time.Hour).Truncate(time.Hour)
		var ids []string
		for len(`{"Version":"2012-10-17","Statement":[`+denyStatementOf(hour, ids...)+`]}`) < 10240-len(`"JIT-000000",`) {
			ids = append(ids, fmt.Sprintf("JIT-%06d", len(ids)))
		}
		e.putDeny(t, role, "jit-revoked", `{"Version":"2012-10-17","Statement":[`+denyStatementOf(hour, ids...)+`]}`)
		_, err := b.Revoke(t.Context(), g)
		if err == nil || !strings.Contains(err.Error(), "over IAM's quota of 10240 characters for a role's inline policies") {
			t.Fatalf("Revoke into a full policy = %v, want the quota named", err)
		}
		t.Logf("%d requests fill the policy; the next one: %v", len(ids), err)
		// A clean-up still goes through, and makes room.
		full := g
		full.RequestID = "JIT-000000"
		if err := b.Cleanup(t.Context(), full); err != nil {
			t.Fatalf("Cleanup in a full policy: %v", err)
		}
		if _, err := b.Revoke(t.Context(), g); err != nil {
			t.Errorf("Revoke after a clean-up made room: %v", err)
		}
	})
}
