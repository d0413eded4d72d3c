package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

const jitbotARN = "arn:aws:iam::111111111111:role/jitbot"

// goodTrust is deploy/iam/trust-policy.json's shape, trusting jitbotARN.
const goodTrust = `{"Version":"2012-10-17","Statement":[{"Sid":"Jitbot","Effect":"Allow",
 "Principal":{"AWS":"` + jitbotARN + `"},
 "Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],
 "Condition":{"Null":{"sts:SourceIdentity":"false","aws:RequestTag/jit-request":"false"}}}]}`

// fakeAWS answers from maps; a name in fail is an error of the API.
type fakeAWS struct {
	caller   string
	roles    map[string]Role
	policies map[string][2][]string // group → attached, inline
	sets     map[string][]string    // permission set → its policies
	fail     error                  // every call fails with it
}

func (f *fakeAWS) PermissionSetPolicies(_ context.Context, ps string) ([]string, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	return f.sets[ps], nil
}

func (f *fakeAWS) CallerARN(context.Context) (string, error) {
	if f.fail != nil {
		return "", f.fail
	}
	return f.caller, nil
}

func (f *fakeAWS) Role(_ context.Context, arn string) (Role, error) {
	if f.fail != nil {
		return Role{}, f.fail
	}
	r, ok := f.roles[arn]
	if !ok {
		return Role{}, fmt.Errorf("IAM role %s: %w", arn, ErrNotFound)
	}
	return r, nil
}

func (f *fakeAWS) GroupPolicies(_ context.Context, group string) ([]string, []string, error) {
	if f.fail != nil {
		return nil, nil, f.fail
	}
	p := f.policies[group]
	return p[0], p[1], nil
}

// fakeMembers holds the members of each target; a missing target does
// not exist.
type fakeMembers map[string][]string

func (f fakeMembers) Members(_ context.Context, target string) ([]string, error) {
	m, ok := f[target]
	if !ok {
		return nil, fmt.Errorf("%w: %q does not exist", grants.ErrInvalidTarget, target)
	}
	return m, nil
}

type fakeRecords []*grants.Request

func (f fakeRecords) Open(context.Context) ([]*grants.Request, error) { return f, nil }

// grant is a live record of backend's target for principal.
func grant(backend, target, principal string) *grants.Request {
	return &grants.Request{ID: grants.RequestID("r-" + principal), State: grants.Active, Backend: backend, Target: target, Principal: principal}
}

type fakeRedis map[string]string

func (f fakeRedis) ConfigGet(_ context.Context, name string) (string, error) {
	v, ok := f[name]
	if !ok {
		return "", ErrNoConfig
	}
	return v, nil
}

type fakeSlack struct {
	scopes  []string
	members map[string]bool
	err     error
}

func (f *fakeSlack) Scopes(context.Context) ([]string, error) { return f.scopes, f.err }
func (f *fakeSlack) IsMember(_ context.Context, ch string) (bool, error) {
	return f.members[ch], f.err
}

func catalog(t *testing.T, yaml string) *rules.Catalog {
	t.Helper()
	c, err := rules.Parse("roles.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return c
}

// healthy is a Checker whose every part is as it should be, for tests to
// break one part of.
func healthy(t *testing.T) *Checker {
	t.Helper()
	return &Checker{
		Catalog: catalog(t, `
roles:
  ops:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/jit-ops
    max_duration: 4h
    approvers: [ULEAD1]
    eligible: 'true'
  admin:
    backend: aws_iam_group
    group: jit-admin
    iam_user: 'user.name'
    max_duration: 1h
    approvers: [ULEAD1]
    eligible: 'true'
`),
		AWS: &fakeAWS{
			caller:   jitbotARN,
			roles:    map[string]Role{"arn:aws:iam::111111111111:role/jit-ops": {TrustPolicy: goodTrust, MaxSession: 4 * time.Hour, Boundary: "arn:aws:iam::111111111111:policy/jit-boundary"}},
			policies: map[string][2][]string{"jit-admin": {{"arn:aws:iam::aws:policy/AdministratorAccess"}, nil}},
		},
		Members:       map[string]grants.Lister{grants.BackendGroup: fakeMembers{"jit-admin": {"alice"}}},
		Records:       fakeRecords{grant(grants.BackendGroup, "jit-admin", "alice")},
		Redis:         fakeRedis{"appendonly": "yes", "save": "", "maxmemory-policy": "noeviction"},
		Slack:         &fakeSlack{scopes: Scopes, members: map[string]bool{"CAUDIT": true}},
		AuditChannel:  "CAUDIT",
		SigningKeySet: true,
	}
}

// only returns the findings of status about subject.
func only(fs []Finding, status Status, subject string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Status == status && f.Subject == subject {
			out = append(out, f)
		}
	}
	return out
}

// wantOne fails unless exactly one finding of status about subject says
// every one of words.
func wantOne(t *testing.T, fs []Finding, status Status, subject string, words ...string) {
	t.Helper()
	got := only(fs, status, subject)
	if len(got) != 1 {
		t.Fatalf("%s findings about %s = %+v, want one\nall: %+v", status, subject, got, fs)
	}
	for _, w := range words {
		if !strings.Contains(got[0].Finding, w) {
			t.Errorf("finding %q does not say %q", got[0].Finding, w)
		}
	}
	if status == Wrong && got[0].Fix == "" {
		t.Errorf("finding %q has no fix", got[0].Finding)
	}
}

var errUnreachable = errors.New("dial tcp: connection refused")
