package awsgrant_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
)

const maxSession = 12 * time.Hour

func TestSTSConformance(t *testing.T) {
	e := newEnv(t)
	grantstest.TestBackend(t, grantstest.BackendHarness{
		Backend: awsgrant.NewSTS(e.cfg, testLogger(t)),
		NewGrant: func(t *testing.T) grants.Grant {
			return stsGrant(e.createRole(t, uniqueName("role"), maxSession))
		},
		// Access is in force when the credentials work as the assumed role
		// and the role carries no deny for the request. moto evaluates no
		// policies, so the deny's presence stands for its effect; its
		// content is checked in TestSTSEarlyRevoke.
		HasAccess: func(t *testing.T, g grants.Grant, issued grants.Issued) bool {
			role := roleName(g.Target)
			want := "assumed-role/" + role + "/" + awsgrant.SessionName(g.RequesterEmail, g.RequestID)
			if got := e.callerARN(t, issued.Credentials); !strings.HasSuffix(got, want) {
				t.Fatalf("issued credentials are %s, want the session %s", got, want)
			}
			return !e.denied(t, role, g.RequestID)
		},
		MissingTarget: func(t *testing.T) grants.Grant {
			return stsGrant("arn:aws:iam::" + motoAccount + ":role/jit/" + uniqueName("no-such-role"))
		},
	})
}

// TestSTSAssumeRoleRequest checks what Grant sends, since moto ignores
// SourceIdentity, tags, DurationSeconds bounds and policy conditions.
func TestSTSAssumeRoleRequest(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	arn := e.createRole(t, "prod-admin", maxSession)
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	tests := []struct {
		name         string
		length       time.Duration
		approvers    []string
		wantSeconds  string
		wantApprover string
		wantExpiry   string
	}{
		{name: "2s grant gets the 900s minimum", length: 2 * time.Second, approvers: []string{"U0APPROVER1"},
			wantSeconds: "900", wantApprover: "U0APPROVER1", wantExpiry: "2030-01-02T03:04:07Z"},
		{name: "1h grant", length: time.Hour, approvers: []string{"U0A", "U0B"},
			wantSeconds: "3600", wantApprover: "U0A U0B", wantExpiry: "2030-01-02T04:04:05Z"},
		{name: "fraction of a second rounds down", length: 3601200 * time.Millisecond, approvers: []string{"auto"},
			wantSeconds: "3601", wantApprover: "auto", wantExpiry: "2030-01-02T04:04:06Z"},
		{name: "13h grant gets the 12h maximum", length: 13 * time.Hour, approvers: []string{"U0APPROVER1"},
			wantSeconds: "43200", wantApprover: "U0APPROVER1", wantExpiry: "2030-01-02T16:04:05Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.proxy.Reset()
			g := grants.Grant{
				RequestID:      "JIT-7K3QX2",
				Backend:        grants.BackendSTS,
				Target:         arn,
				RequesterEmail: "alice.o'neil+jit@example.com",
				Approvers:      tt.approvers,
				Start:          start,
				Expires:        start.Add(tt.length),
			}
			if _, err := b.Grant(t.Context(), g); err != nil {
				t.Fatalf("Grant: %v", err)
			}
			p := onlyCall(t, e.proxy, "AssumeRole").Params
			for key, want := range map[string]string{
				"RoleArn":         arn,
				"RoleSessionName": "jit-alice.o-neil+jit-JIT-7K3QX2",
				"SourceIdentity":  "alice.o-neil+jit@example.com",
				"DurationSeconds": tt.wantSeconds,
			} {
				if got := p.Get(key); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			wantTags := map[string]string{"jit-request": "JIT-7K3QX2", "jit-approver": tt.wantApprover}
			if got := tags(p); !reflect.DeepEqual(got, wantTags) {
				t.Errorf("Tags = %v, want %v", got, wantTags)
			}
			doc := parsePolicy(t, p.Get("Policy"))
			want := policyDoc{Version: "2012-10-17", Statement: []policyStatement{
				{Effect: "Allow", Action: "*", Resource: "*"},
				escapeDeny(false),
				{Effect: "Deny", Action: "*", Resource: "*", Condition: map[string]map[string]string{
					"DateGreaterThan": {"aws:CurrentTime": tt.wantExpiry},
				}},
			}}
			if !reflect.DeepEqual(doc, want) {
				t.Errorf("Policy = %+v\nwant %+v", doc, want)
			}
		})
	}

	t.Run("session name from the grant wins", func(t *testing.T) {
		e.proxy.Reset()
		g := stsGrant(arn)
		g.SessionName = "jit-alice-JIT-CHOSEN"
		if _, err := b.Grant(t.Context(), g); err != nil {
			t.Fatalf("Grant: %v", err)
		}
		if got := onlyCall(t, e.proxy, "AssumeRole").Params.Get("RoleSessionName"); got != g.SessionName {
			t.Errorf("RoleSessionName = %q, want %q", got, g.SessionName)
		}
	})
}

func TestSTSSessionPolicyMerged(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	arn := e.createRole(t, "prod-readonly", maxSession)

	readS3 := policyStatement{Effect: "Allow", Action: []any{"s3:GetObject", "s3:ListBucket"}, Resource: "*"}
	noIAM := policyStatement{Effect: "Deny", Action: "iam:*", Resource: "*"}
	tests := []struct {
		name, policy string
		want         []policyStatement
	}{
		{
			name: "statement list",
			policy: `{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"},
				{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}`,
			want: []policyStatement{readS3, noIAM},
		},
		{
			name:   "single statement",
			policy: `{"Statement": {"Effect":"Deny","Action":"iam:*","Resource":"*"}}`,
			want:   []policyStatement{noIAM},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.proxy.Reset()
			g := stsGrant(arn)
			g.SessionPolicy = tt.policy
			if _, err := b.Grant(t.Context(), g); err != nil {
				t.Fatalf("Grant: %v", err)
			}
			doc := parsePolicy(t, onlyCall(t, e.proxy, "AssumeRole").Params.Get("Policy"))
			want := append(tt.want, escapeDeny(false), policyStatement{Effect: "Deny", Action: "*", Resource: "*", Condition: map[string]map[string]string{
				"DateGreaterThan": {"aws:CurrentTime": g.Expires.UTC().Format(time.RFC3339)},
			}})
			if !reflect.DeepEqual(doc.Statement, want) {
				t.Errorf("Statement = %+v\nwant %+v", doc.Statement, want)
			}
		})
	}
}

func TestSTSCredentials(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	arn := e.createRole(t, "prod-admin", maxSession)
	g := stsGrant(arn)

	before := time.Now()
	issued, err := b.Grant(t.Context(), g)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	c := issued.Credentials
	if c == nil || c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		t.Fatalf("Grant issued incomplete credentials")
	}
	if !issued.CredsExpire.Equal(c.Expiration) {
		t.Errorf("CredsExpire = %v, credentials expire %v", issued.CredsExpire, c.Expiration)
	}
	// 3600 s asked for: the hour, less the fraction of a second the expiry was rounded up by.
	if lo, hi := before.Add(time.Hour), time.Now().Add(time.Hour+2*time.Second); issued.CredsExpire.Before(lo.Truncate(time.Second)) || issued.CredsExpire.After(hi) {
		t.Errorf("CredsExpire = %v, want about an hour from now", issued.CredsExpire)
	}
	if issued.AWSRequestID == "" {
		t.Errorf("AWSRequestID is empty")
	}
	want := "arn:aws:sts::" + motoAccount + ":assumed-role/prod-admin/" + awsgrant.SessionName(g.RequesterEmail, g.RequestID)
	if got := e.callerARN(t, c); got != want {
		t.Errorf("credentials act as %s, want %s", got, want)
	}
	if s := (slogText(t, "creds", *c)); strings.Contains(s, c.SecretAccessKey) || strings.Contains(s, c.SessionToken) {
		t.Errorf("credentials leak into logs: %s", s)
	}
}

// grantedSTS issues an hour-long session of a fresh role "prod-admin" and
// returns the backend and the grant as the service records it.
func grantedSTS(t *testing.T) (*env, *awsgrant.STS, grants.Grant) {
	t.Helper()
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	g := stsGrant(e.createRole(t, "prod-admin", maxSession))
	issued, err := b.Grant(t.Context(), g)
	if err != nil {
		t.Fatalf("Grant: %v", err)
	}
	g.CredsExpire = issued.CredsExpire
	return e, b, g
}

func TestSTSEarlyRevoke(t *testing.T) {
	e, b, g := grantedSTS(t)
	const policyName = "jit-revoked"

	e.proxy.Reset()
	rev, err := b.Revoke(t.Context(), g)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got := e.proxy.Calls("GetRolePolicy")[0].Params; got.Get("RoleName") != "prod-admin" || got.Get("PolicyName") != policyName {
		t.Errorf("GetRolePolicy on role %q, policy %q; want prod-admin, %s", got.Get("RoleName"), got.Get("PolicyName"), policyName)
	}
	put := onlyCall(t, e.proxy, "PutRolePolicy").Params
	if put.Get("RoleName") != "prod-admin" || put.Get("PolicyName") != policyName {
		t.Errorf("PutRolePolicy on role %q, policy %q; want prod-admin, %s", put.Get("RoleName"), put.Get("PolicyName"), policyName)
	}
	if want := g.CredsExpire.Add(time.Minute); !rev.CleanupAt.Equal(want) {
		t.Errorf("CleanupAt = %v, want CredsExpire + 1m = %v", rev.CleanupAt, want)
	}
	// The statement is named for the hour after which it may go, the
	// first whole hour at or after CleanupAt.
	until := rev.CleanupAt.UTC().Truncate(time.Hour)
	if until.Before(rev.CleanupAt) {
		until = until.Add(time.Hour)
	}
	doc, ok := e.rolePolicyText(t, "prod-admin", policyName)
	if !ok {
		t.Fatalf("role has no policy %s after Revoke", policyName)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"Until` + until.Format("2006010215") +
		`","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/jit-request":["` + string(g.RequestID) + `"]}}}]}`
	if doc != want {
		t.Errorf("deny policy = %s\nwant %s", doc, want)
	}

	e.proxy.Reset()
	if err := b.Cleanup(t.Context(), g); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	// The last request out deletes the policy; the policy of the old,
	// one-per-revocation form is deleted too, in case it is there.
	var deleted []string
	for _, c := range e.proxy.Calls("DeleteRolePolicy") {
		deleted = append(deleted, c.Params.Get("PolicyName"))
	}
	if want := []string{policyName, "jit-revoke-" + string(g.RequestID)}; !slices.Equal(deleted, want) {
		t.Errorf("DeleteRolePolicy of %q, want %q", deleted, want)
	}
	if n := e.proxy.Count("PutRolePolicy"); n != 0 {
		t.Errorf("Cleanup of the only revocation sent %d PutRolePolicy, want it to delete the policy", n)
	}
	if _, ok := e.rolePolicy(t, "prod-admin", policyName); ok {
		t.Errorf("policy %s still on the role after Cleanup", policyName)
	}

	t.Run("cleanup time without recorded credentials", func(t *testing.T) {
		g := g
		g.CredsExpire = time.Time{}
		g.Start = time.Now()
		g.Expires = g.Start.Add(10 * time.Minute) // a 900 s session
		rev, err := b.Revoke(t.Context(), g)
		if err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if want := g.Start.Add(15*time.Minute + time.Minute); !rev.CleanupAt.Equal(want) {
			t.Errorf("CleanupAt = %v, want start + 900 s + 1m = %v", rev.CleanupAt, want)
		}
	})

	t.Run("role deleted counts as revoked", func(t *testing.T) {
		gone := stsGrant(e.createRole(t, "short-lived", maxSession))
		if _, err := b.Grant(t.Context(), gone); err != nil {
			t.Fatalf("Grant: %v", err)
		}
		if _, err := e.admin.DeleteRole(t.Context(), &iam.DeleteRoleInput{RoleName: aws.String("short-lived")}); err != nil {
			t.Fatalf("delete role: %v", err)
		}
		if _, err := b.Revoke(t.Context(), gone); err != nil {
			t.Fatalf("Revoke with the role deleted: %v", err)
		}
		if err := b.Cleanup(t.Context(), gone); err != nil {
			t.Fatalf("Cleanup with the role deleted: %v", err)
		}
	})
}

func TestSTSRevokeAfterExpiry(t *testing.T) {
	e, b, g := grantedSTS(t)
	// The session ends at whichever comes first: the policy's expiry or the
	// credentials' own, which may be up to a second earlier.
	end := g.Expires
	if g.CredsExpire.Before(end) {
		end = g.CredsExpire
	}

	tests := []struct {
		name     string
		now      time.Time
		wantCall bool
	}{
		{name: "at expiry", now: g.Expires},
		{name: "after expiry", now: g.Expires.Add(time.Hour)},
		{name: "when the credentials expire", now: g.CredsExpire},
		{name: "a nanosecond before the session ends", now: end.Add(-time.Nanosecond), wantCall: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.proxy.Reset()
			awsgrant.SetClock(b, func() time.Time { return tt.now })
			rev, err := b.Revoke(t.Context(), g)
			if err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			calls := len(e.proxy.Calls(""))
			if tt.wantCall && e.proxy.Count("PutRolePolicy") != 1 {
				t.Errorf("Revoke before expiry sent %v, want one PutRolePolicy", actions(e.proxy))
			}
			if !tt.wantCall && (calls != 0 || !reflect.DeepEqual(rev, grants.Revocation{})) {
				t.Errorf("Revoke at/after expiry sent %v and returned %+v, want no call and a zero Revocation", actions(e.proxy), rev)
			}
		})
	}
}

func TestSTSInvalidTarget(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	arn := e.createRole(t, "prod-admin", maxSession)
	hourRole := e.createRole(t, "hour-role", time.Hour)

	tests := []struct {
		name    string
		edit    func(*grants.Grant)
		wantMsg string
	}{
		{name: "not a role ARN", edit: func(g *grants.Grant) { g.Target = "arn:aws:iam::123456789012:user/alice" },
			wantMsg: `invalid target: "arn:aws:iam::123456789012:user/alice" is not an IAM role ARN`},
		{name: "role does not exist", edit: func(g *grants.Grant) { g.Target = "arn:aws:iam::123456789012:role/ghost" },
			wantMsg: `invalid target: IAM role "arn:aws:iam::123456789012:role/ghost" does not exist`},
		{name: "role missing in another account", edit: func(g *grants.Grant) { g.Target = "arn:aws:iam::111111111111:role/jit/prod-admin" },
			wantMsg: `invalid target: IAM role "arn:aws:iam::111111111111:role/jit/prod-admin" does not exist`},
		{name: "grant longer than the role's MaxSessionDuration", edit: func(g *grants.Grant) { g.Target = hourRole; g.Expires = g.Start.Add(2 * time.Hour) },
			wantMsg: `invalid target: IAM role "` + hourRole + `" allows sessions of at most 1h0m0s (its MaxSessionDuration) but this grant needs 2h0m0s`},
		{name: "session policy not JSON", edit: func(g *grants.Grant) { g.SessionPolicy = "allow all" },
			wantMsg: `invalid target: the session_policy for "` + arn + `" is not a JSON policy document with a Statement`},
		{name: "session policy too long", edit: func(g *grants.Grant) {
			g.SessionPolicy = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("b", 2000) + `"}}`
		}, wantMsg: `STS accepts at most 2048`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.proxy.Reset()
			g := stsGrant(arn)
			tt.edit(&g)
			_, err := b.Grant(t.Context(), g)
			if !errors.Is(err, grants.ErrInvalidTarget) {
				t.Fatalf("Grant = %v, want ErrInvalidTarget", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Grant error = %q, want it to contain %q", err, tt.wantMsg)
			}
			for _, c := range e.proxy.Calls("AssumeRole") {
				if c.Params.Get("RoleArn") == g.Target {
					t.Errorf("AssumeRole of the invalid target %s sent", g.Target)
				}
			}
		})
	}
}
