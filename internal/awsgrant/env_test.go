package awsgrant_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/testenv"
)

// motoAccount is the account moto_server puts everything in.
const motoAccount = "123456789012"

// env is one moto_server with a recording proxy in front of it. Backends
// under test talk through the proxy, so tests see exactly what they sent;
// fixtures and observations go to moto directly and are not recorded.
type env struct {
	moto   *testenv.Moto
	proxy  *testenv.Proxy
	cfg    aws.Config // through the proxy
	direct aws.Config // straight to moto
	admin  *iam.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	m := testenv.StartMoto(t)
	p := testenv.StartProxy(t, m.URL())
	direct := testenv.AWSConfig(t, m.URL())
	return &env{moto: m, proxy: p, cfg: testenv.AWSConfig(t, p.URL()), direct: direct, admin: iam.NewFromConfig(direct)}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// trustPolicy lets the account assume the role with session tags and a
// source identity, as a real target role's trust policy must.
const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
	`"Principal":{"AWS":"arn:aws:iam::` + motoAccount + `:root"},` +
	`"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`

// createRole creates a role under path /jit/ that allows 12 h sessions and
// returns its ARN.
func (e *env) createRole(t *testing.T, name string, maxSession time.Duration) string {
	t.Helper()
	out, err := e.admin.CreateRole(t.Context(), &iam.CreateRoleInput{
		RoleName:                 aws.String(name),
		Path:                     aws.String("/jit/"),
		AssumeRolePolicyDocument: aws.String(trustPolicy),
		MaxSessionDuration:       aws.Int32(int32(maxSession / time.Second)),
	})
	if err != nil {
		t.Fatalf("create role %s: %v", name, err)
	}
	return aws.ToString(out.Role.Arn)
}

func (e *env) createUser(t *testing.T, name string) {
	t.Helper()
	if _, err := e.admin.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
}

func (e *env) createGroup(t *testing.T, name string) {
	t.Helper()
	if _, err := e.admin.CreateGroup(t.Context(), &iam.CreateGroupInput{GroupName: aws.String(name)}); err != nil {
		t.Fatalf("create group %s: %v", name, err)
	}
}

// members lists a group's users as moto has them.
func (e *env) members(t *testing.T, group string) []string {
	t.Helper()
	out, err := e.admin.GetGroup(t.Context(), &iam.GetGroupInput{GroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("get group %s: %v", group, err)
	}
	var users []string
	for _, u := range out.Users {
		users = append(users, aws.ToString(u.UserName))
	}
	return users
}

// rolePolicy returns a role's inline policy, decoded, and whether it exists.
// IAM (and moto) return the document URL-encoded.
func (e *env) rolePolicy(t *testing.T, role, name string) (policyDoc, bool) {
	t.Helper()
	text, ok := e.rolePolicyText(t, role, name)
	if !ok {
		return policyDoc{}, false
	}
	return parsePolicy(t, text), true
}

// rolePolicyText returns a role's inline policy as IAM has it, decoded,
// and whether it exists.
func (e *env) rolePolicyText(t *testing.T, role, name string) (string, bool) {
	t.Helper()
	out, err := e.admin.GetRolePolicy(t.Context(), &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return "", false
	}
	if err != nil {
		t.Fatalf("get policy %s of role %s: %v", name, role, err)
	}
	text, err := url.PathUnescape(aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatalf("policy %s of role %s is not URL-encoded: %v", name, role, err)
	}
	return text, true
}

// callerARN is the identity that creds have, per sts:GetCallerIdentity.
func (e *env) callerARN(t *testing.T, creds *grants.Credentials) string {
	t.Helper()
	cfg := e.direct.Copy()
	cfg.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with issued credentials: %v", err)
	}
	return aws.ToString(out.Arn)
}

type policyDoc struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Effect    string
	Action    any
	Resource  any
	Condition map[string]map[string]string
}

func parsePolicy(t *testing.T, text string) policyDoc {
	t.Helper()
	var doc policyDoc
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("policy is not JSON: %v\n%s", err, text)
	}
	return doc
}

var nameSeq atomic.Int64

// uniqueName returns a name no other test in this process has used, so
// subtests can share one moto_server without resetting it.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nameSeq.Add(1))
}

// stsGrant is an hour-long grant of role arn approved by one approver,
// starting now.
func stsGrant(arn string) grants.Grant {
	start := time.Now()
	return grants.Grant{
		RequestID:      grants.NewRequestID(),
		Backend:        grants.BackendSTS,
		Target:         arn,
		RequesterEmail: "alice@example.com",
		Approvers:      []string{"U0APPROVER1"},
		Start:          start,
		Expires:        start.Add(time.Hour).Truncate(time.Second).Add(time.Second),
	}
}

func groupGrant(user, group string) grants.Grant {
	start := time.Now()
	return grants.Grant{
		RequestID:      grants.NewRequestID(),
		Backend:        grants.BackendGroup,
		Target:         group,
		Principal:      user,
		RequesterEmail: user + "@example.com",
		Approvers:      []string{"U0APPROVER1"},
		Start:          start,
		Expires:        start.Add(time.Hour),
	}
}

// roleName is the last part of a role ARN.
func roleName(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// onlyCall returns the single recorded call of action, failing otherwise.
func onlyCall(t *testing.T, p *testenv.Proxy, action string) testenv.Call {
	t.Helper()
	calls := p.Calls(action)
	if len(calls) != 1 {
		t.Fatalf("%d %s calls sent, want 1 (all calls: %v)", len(calls), action, actions(p))
	}
	return calls[0]
}

func actions(p *testenv.Proxy) []string {
	var out []string
	for _, c := range p.Calls("") {
		out = append(out, c.Action)
	}
	return out
}

// tags turns Tags.member.N.Key/Value params into a map.
func tags(params url.Values) map[string]string {
	out := map[string]string{}
	for i := 1; ; i++ {
		k := params.Get(fmt.Sprintf("Tags.member.%d.Key", i))
		if k == "" {
			return out
		}
		out[k] = params.Get(fmt.Sprintf("Tags.member.%d.Value", i))
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// slogText is what a text logger writes for one attribute.
func slogText(t *testing.T, key string, value any) string {
	t.Helper()
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("test", key, value)
	return b.String()
}

// revokeDeny reads a role's jit-revoked policy: for each request ID it
// denies, the Sid of its statement, and the policy's size in characters.
// ok is false when the role has no such policy. Every statement must be a
// deny of everything keyed on the jit-request tag.
func (e *env) revokeDeny(t *testing.T, role string) (ids map[string]string, size int, ok bool) {
	t.Helper()
	text, ok := e.rolePolicyText(t, role, "jit-revoked")
	if !ok {
		return nil, 0, false
	}
	var doc struct {
		Version   string
		Statement []struct {
			Sid, Effect, Action, Resource string
			Condition                     map[string]map[string][]string
		}
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("policy jit-revoked of role %s: %v\n%s", role, err, text)
	}
	ids = map[string]string{}
	for _, st := range doc.Statement {
		if st.Effect != "Deny" || st.Action != "*" || st.Resource != "*" || len(st.Condition) != 1 || len(st.Condition["StringEquals"]) != 1 {
			t.Fatalf("policy jit-revoked of role %s has a statement that is not a deny of everything by jit-request: %s", role, text)
		}
		for _, id := range st.Condition["StringEquals"]["aws:PrincipalTag/jit-request"] {
			ids[id] = st.Sid
		}
	}
	return ids, len(text), true
}

// denied reports whether role's revoke deny names the request.
func (e *env) denied(t *testing.T, role string, id grants.RequestID) bool {
	t.Helper()
	ids, _, _ := e.revokeDeny(t, role)
	_, ok := ids[string(id)]
	return ok
}
