package main

// Service-level tests: the domain wired as serve wires it, against a real
// redis-server and the moto AWS emulator behind the recording fault proxy.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jitbot/jitbot/internal/app"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/testenv"
)

const (
	account     = "123456789012" // moto's default account
	readonlyARN = "arn:aws:iam::" + account + ":role/jit-readonly"
)

var coreCatalog = `
defaults:
  request_ttl: 30m
roles:
  readonly:
    backend: aws_sts
    role_arn: ` + readonlyARN + `
    approvers: ["@leads"]
    eligible: 'user.email.endsWith("@example.com")'
  admin:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    approvers: ["@leads"]
    eligible: '"sre" in user.groups'
  admin-two:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    approvers: [ULEAD1, ULEAD2, ULEAD3]
    approvals_required: 2
    eligible: '"sre" in user.groups'
  quick:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    request_ttl: 2s
    approvers: ["@leads"]
    eligible: 'true'
`

// stack is one jitbot core on real Redis and moto.
type stack struct {
	redis  *testenv.Redis
	moto   *testenv.Moto
	proxy  *testenv.Proxy
	iam    *iam.Client // straight to moto, to observe AWS state
	store  *redisstore.Store
	svc    *grants.Service
	events *grantstest.Recorder
	stop   func()
	opts   grants.Options
}

func startStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{redis: testenv.StartRedis(t), moto: testenv.StartMoto(t), events: &grantstest.Recorder{}}
	s.proxy = testenv.StartProxy(t, s.moto.URL())
	s.iam = iam.NewFromConfig(testenv.AWSConfig(t, s.moto.URL()))
	s.fixtures(t)
	path := filepath.Join(t.TempDir(), "roles.yaml")
	writeFile(t, path, coreCatalog)
	catalog, err := rules.Load(path)
	if err != nil {
		t.Fatalf("load catalog: %v", err)
	}
	s.opts = grants.Options{
		Directory:   testDirectory(),
		Notifier:    s.events,
		Catalog:     catalog,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MinDuration: time.Second,
		Lease:       4 * time.Second,
		RetryBase:   100 * time.Millisecond,
		RetryMax:    400 * time.Millisecond,
		AlertAfter:  3,
		MaxIdle:     time.Second,
	}
	s.start(t)
	return s
}

// start connects a fresh jitbot core (store client, backends, scheduler)
// to the stack's Redis and AWS, as a newly started process would.
func (s *stack) start(t *testing.T) {
	t.Helper()
	store, err := redisstore.Open(t.Context(), s.redis.URL(), redisstore.Options{Prefix: "jitbot", SigningKeys: [][]byte{[]byte(testSigningKey)}})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	opts := s.opts
	opts.Store = store
	svc, err := app.NewService(testenv.AWSConfig(t, s.proxy.URL()), opts, "")
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	s.store, s.svc = store, svc
	s.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
		store.Close()
	}
	t.Cleanup(func() {
		if s.svc == svc {
			s.stop()
		}
	})
}

func (s *stack) fixtures(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}]}`
	if _, err := s.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("jit-readonly"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.iam.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String("jit-admins")}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := s.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *stack) members(t *testing.T) []string {
	t.Helper()
	out, err := s.iam.GetGroup(t.Context(), &iam.GetGroupInput{GroupName: aws.String("jit-admins")})
	if err != nil {
		t.Fatalf("GetGroup: %v", err)
	}
	var names []string
	for _, u := range out.Users {
		names = append(names, aws.ToString(u.UserName))
	}
	return names
}

func (s *stack) request(t *testing.T, user, role string, d time.Duration) *grants.Request {
	t.Helper()
	r, err := s.svc.Request(t.Context(), grants.RequestInput{UserID: user, Role: role, Duration: d, Reason: "fixing INC-42 replica lag"})
	if err != nil {
		t.Fatalf("request %s: %v", role, err)
	}
	return r
}

// waitState polls the store until the request reaches state.
func (s *stack) waitState(t *testing.T, id grants.RequestID, state grants.State, within time.Duration) *grants.Request {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := s.svc.Get(t.Context(), id)
		if err == nil && r.State == state {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %v (err %v), want %s within %v", id, r.State, err, state, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGroupGrantAppearsAndEndsAtExpiry(t *testing.T) {
	s := startStack(t)
	r := s.request(t, "UALICE", "admin", 2*time.Second)
	if s.proxy.Count("AddUserToGroup") != 0 {
		t.Fatal("access granted before approval")
	}
	r, err := s.svc.Approve(t.Context(), r.ID, "ULEAD1")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != grants.Active || !slices.Contains(s.members(t), "alice") {
		t.Fatalf("after approval: state %s, members %v", r.State, s.members(t))
	}
	// Watch AWS itself until alice is gone.
	for slices.Contains(s.members(t), "alice") {
		if time.Since(r.ExpiresAt) > time.Second {
			t.Fatalf("alice still in jit-admins %v after expiry", time.Since(r.ExpiresAt))
		}
		time.Sleep(25 * time.Millisecond)
	}
	if early := r.ExpiresAt.Sub(time.Now()); early > 0 {
		t.Fatalf("removed %v before expiry", early)
	}
	done := s.waitState(t, r.ID, grants.Revoked, 2*time.Second)
	if done.RevokeReason != grants.ReasonExpired {
		t.Errorf("revoke reason %q", done.RevokeReason)
	}
	if n := s.proxy.Count("RemoveUserFromGroup"); n != 1 {
		t.Errorf("RemoveUserFromGroup called %d times, want 1", n)
	}
	s.events.Wait(t, r.ID, grants.EventRevoked, 2*time.Second) // handed over after the record is stored
	s.events.Want(t, r.ID, grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventRevoked)
}

func TestSTSGrantCredentialsAndWhatWasSent(t *testing.T) {
	s := startStack(t)
	r := s.request(t, "UALICE", "readonly", time.Hour)
	r, err := s.svc.Approve(t.Context(), r.ID, "ULEAD2")
	if err != nil {
		t.Fatal(err)
	}
	creds := issuedCredentials(s.events, r.ID)
	if creds == nil || creds.SecretAccessKey == "" {
		t.Fatal("no credentials in the granted event")
	}
	// The credentials work, as the assumed role.
	cfg := testenv.AWSConfig(t, s.moto.URL())
	cfg.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with granted credentials: %v", err)
	}
	if arn := aws.ToString(who.Arn); !strings.Contains(arn, ":assumed-role/jit-readonly/jit-alice-"+string(r.ID)) {
		t.Errorf("caller = %s, want the assumed jit-readonly role", arn)
	}
	// What jitbot asked of STS.
	calls := s.proxy.Calls("AssumeRole")
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls, want 1", len(calls))
	}
	p := calls[0].Params
	tags := map[string]string{}
	for i := 1; p.Get(fmt.Sprintf("Tags.member.%d.Key", i)) != ""; i++ {
		tags[p.Get(fmt.Sprintf("Tags.member.%d.Key", i))] = p.Get(fmt.Sprintf("Tags.member.%d.Value", i))
	}
	switch {
	case p.Get("RoleArn") != readonlyARN:
		t.Errorf("RoleArn = %q", p.Get("RoleArn"))
	case p.Get("SourceIdentity") != "alice@example.com":
		t.Errorf("SourceIdentity = %q", p.Get("SourceIdentity"))
	case p.Get("RoleSessionName") != "jit-alice-"+string(r.ID):
		t.Errorf("RoleSessionName = %q", p.Get("RoleSessionName"))
	case p.Get("DurationSeconds") != "3600":
		t.Errorf("DurationSeconds = %q", p.Get("DurationSeconds"))
	case tags["jit-request"] != string(r.ID) || tags["jit-approver"] != "ULEAD2":
		t.Errorf("session tags = %v", tags)
	}
	if got := policyExpiry(t, p.Get("Policy")); got != r.ExpiresAt.UTC().Format(time.RFC3339) {
		t.Errorf("session policy ends access at %q, want the grant's expiry %s", got, r.ExpiresAt.UTC().Format(time.RFC3339))
	}
	// The store never saw the secret.
	raw, err := s.store.Client().HGetAll(t.Context(), "{jitbot}:req:"+string(r.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if dump := fmt.Sprint(raw); strings.Contains(dump, creds.SecretAccessKey) || strings.Contains(dump, creds.SessionToken) {
		t.Error("the store holds the credentials")
	}
	if !strings.Contains(fmt.Sprint(raw), creds.AccessKeyID) {
		t.Error("the store lacks the access key ID that matches CloudTrail")
	}
}

// policyExpiry returns the aws:CurrentTime of the policy's deny statement.
func policyExpiry(t *testing.T, policy string) string {
	t.Helper()
	var doc struct {
		Statement []struct {
			Effect    string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("session policy %q: %v", policy, err)
	}
	for _, st := range doc.Statement {
		if at := st.Condition["DateGreaterThan"]["aws:CurrentTime"]; st.Effect == "Deny" && at != "" {
			return at
		}
	}
	t.Fatalf("session policy has no deny statement that ends it: %s", policy)
	return ""
}

func TestApprovalIntegrityOnRealStore(t *testing.T) {
	s := startStack(t)
	t.Run("deny", func(t *testing.T) {
		r := s.request(t, "UALICE", "admin", time.Hour)
		r, err := s.svc.Deny(t.Context(), r.ID, "ULEAD1", "not during the freeze")
		if err != nil || r.State != grants.Denied || r.DenyReason != "not during the freeze" {
			t.Fatalf("deny: %+v %v", r, err)
		}
		s.events.Want(t, r.ID, grants.EventRequested, grants.EventDenied)
	})
	t.Run("self-approval", func(t *testing.T) {
		r := s.request(t, "ULEAD1", "admin", time.Hour) // lead1 is an approver and sre
		_, err := s.svc.Approve(t.Context(), r.ID, "ULEAD1")
		if !errors.Is(err, grants.ErrSelfApproval) {
			t.Fatalf("err = %v", err)
		}
		s.events.Want(t, r.ID, grants.EventRequested, grants.EventRefused)
	})
	t.Run("non-approver", func(t *testing.T) {
		r := s.request(t, "UALICE", "admin", time.Hour)
		_, err := s.svc.Approve(t.Context(), r.ID, "UBOB")
		if !errors.Is(err, grants.ErrNotApprover) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("two approvers", func(t *testing.T) {
		r := s.request(t, "UALICE", "admin-two", time.Hour)
		if r, err := s.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil || r.State != grants.Pending {
			t.Fatalf("first approval: %v %v", r.State, err)
		}
		if _, err := s.svc.Approve(t.Context(), r.ID, "ULEAD1"); !errors.Is(err, grants.ErrAlreadyApproved) {
			t.Fatalf("same approver twice: %v", err)
		}
		r, err := s.svc.Approve(t.Context(), r.ID, "ULEAD3")
		if err != nil || r.State != grants.Active || len(r.Approvals) != 2 {
			t.Fatalf("second approval: %+v %v", r, err)
		}
		if _, err := s.svc.Revoke(t.Context(), r.ID, "UALICE", ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ineligible", func(t *testing.T) {
		_, err := s.svc.Request(t.Context(), grants.RequestInput{UserID: "UBOB", Role: "admin", Reason: "fixing INC-42 replica lag"})
		if !errors.Is(err, grants.ErrIneligible) {
			t.Fatalf("err = %v", err)
		}
	})
	if n := s.proxy.Count("AddUserToGroup"); n != 1 {
		t.Errorf("AddUserToGroup called %d times, want 1 (only the two-approver grant)", n)
	}
}

func TestConcurrentApprovalsAddOnce(t *testing.T) {
	s := startStack(t)
	r := s.request(t, "UALICE", "admin", time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		approver := []string{"ULEAD1", "ULEAD2"}[i%2]
		wg.Go(func() {
			_, err := s.svc.Approve(context.Background(), r.ID, approver)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, grants.ErrDecided):
			t.Errorf("approve: %v", err)
		}
	}
	if n := s.proxy.Count("AddUserToGroup"); n != 1 || ok != 1 {
		t.Errorf("AddUserToGroup %d times, %d successful approvals; want 1 and 1", n, ok)
	}
}

func TestRestartedServiceRevokesOnTime(t *testing.T) {
	s := startStack(t)
	r := s.request(t, "UALICE", "admin", 3*time.Second)
	r, err := s.svc.Approve(t.Context(), r.ID, "ULEAD1")
	if err != nil {
		t.Fatal(err)
	}
	s.stop() // jitbot goes away with a grant outstanding...
	s.redis.Stop()
	s.redis.Start(t) // ...and so does Redis, restarted from its append-only file
	s.start(t)       // a new jitbot process
	for slices.Contains(s.members(t), "alice") {
		if time.Since(r.ExpiresAt) > time.Second {
			t.Fatalf("alice still in jit-admins %v after expiry", time.Since(r.ExpiresAt))
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.waitState(t, r.ID, grants.Revoked, 2*time.Second)
}

func TestUnansweredRequestTimesOut(t *testing.T) {
	s := startStack(t)
	r := s.request(t, "UALICE", "quick", time.Hour)
	r = s.waitState(t, r.ID, grants.TimedOut, 4*time.Second)
	// The record is stored before its event is handed over: wait for it.
	s.events.Wait(t, r.ID, grants.EventTimedOut, 4*time.Second)
	s.events.Want(t, r.ID, grants.EventRequested, grants.EventTimedOut)
	if _, err := s.svc.Approve(t.Context(), r.ID, "ULEAD1"); !errors.Is(err, grants.ErrDecided) {
		t.Errorf("approving a timed-out request: %v", err)
	}
}

func TestRevocationRetriedThroughAWSOutage(t *testing.T) {
	s := startStack(t)
	r := s.request(t, "UALICE", "admin", 2*time.Second)
	if _, err := s.svc.Approve(t.Context(), r.ID, "ULEAD1"); err != nil {
		t.Fatal(err)
	}
	s.proxy.Fail(true)
	s.events.Wait(t, r.ID, grants.EventRevokeFailed, 10*time.Second)
	if !slices.Contains(s.members(t), "alice") {
		t.Fatal("removed while AWS was down?")
	}
	failed := s.proxy.Count("RemoveUserFromGroup")
	s.proxy.Fail(false)
	done := s.waitState(t, r.ID, grants.Revoked, 5*time.Second)
	if slices.Contains(s.members(t), "alice") {
		t.Error("alice still a member after revocation")
	}
	if failed < 3 {
		t.Errorf("%d failed RemoveUserFromGroup calls before the alert, want at least 3", failed)
	}
	if done.Attempts != 0 || done.LastError != "" {
		t.Errorf("failure left on the revoked record: %d %q", done.Attempts, done.LastError)
	}
}

func TestMissingIAMUserIsAClearError(t *testing.T) {
	s := startStack(t)
	r := s.request(t, "UCAROL", "admin", time.Hour) // carol has no IAM user
	r, err := s.svc.Approve(t.Context(), r.ID, "ULEAD1")
	var ue *grants.UserError
	if !errors.As(err, &ue) || !errors.Is(err, grants.ErrGrantFailed) || !strings.Contains(ue.Msg, `IAM user "carol" does not exist`) {
		t.Fatalf("err = %v", err)
	}
	if r.State != grants.Failed || r.Failure != `IAM user "carol" does not exist` {
		t.Errorf("state %s failure %q, want failed with the reason alone", r.State, r.Failure)
	}
	if m := s.members(t); len(m) != 0 {
		t.Errorf("group members %v, want none", m)
	}
	s.events.Want(t, r.ID, grants.EventRequested, grants.EventApproved, grants.EventGrantFailed)
	if open, _ := s.store.Open(t.Context()); slices.ContainsFunc(open, func(o *grants.Request) bool { return o.ID == r.ID }) {
		t.Error("failed request still open")
	}
}

// testDirectory is the workspace these tests run in.
func testDirectory() *staticDirectory {
	return &staticDirectory{
		users: map[string]rules.User{
			"UALICE": {ID: "UALICE", Name: "alice", Email: "alice@example.com", Groups: []string{"sre"}},
			"UBOB":   {ID: "UBOB", Name: "bob", Email: "bob@example.com"},
			"UCAROL": {ID: "UCAROL", Name: "carol", Email: "carol@example.com", Groups: []string{"sre"}},
			"ULEAD1": {ID: "ULEAD1", Name: "dan", Email: "dan@example.com", Groups: []string{"leads", "sre"}},
			"ULEAD2": {ID: "ULEAD2", Name: "erin", Email: "erin@example.com", Groups: []string{"leads"}},
			"ULEAD3": {ID: "ULEAD3", Name: "frank", Email: "frank@example.com"},
		},
		groups: map[string][]string{"leads": {"ULEAD1", "ULEAD2"}},
	}
}

type staticDirectory struct {
	users  map[string]rules.User
	groups map[string][]string
}

func (d *staticDirectory) User(_ context.Context, id string) (rules.User, error) {
	u, ok := d.users[id]
	if !ok {
		return rules.User{}, fmt.Errorf("users.info %s: user_not_found", id)
	}
	return u, nil
}

func (d *staticDirectory) GroupMembers(_ context.Context, handle string) ([]string, error) {
	return d.groups[handle], nil
}

// issuedCredentials returns the credentials issued for request id, if any.
func issuedCredentials(r *grantstest.Recorder, id grants.RequestID) *grants.Credentials {
	for _, ev := range r.All() {
		if ev.Request.ID == id && ev.Credentials != nil {
			return ev.Credentials
		}
	}
	return nil
}
