package workloadapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/oidcfake"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/workload"
)

// audience is the aud the test catalog expects of both issuers.
const audience = "https://jitbot.example.com"

// fixture is the API with the real verifier trusting two fake issuers,
// served over loopback, in front of a fake service.
type fixture struct {
	t        *testing.T
	ci, k8s  *oidcfake.Issuer
	svc      *fakeService
	creds    *fakeCredentials
	tokens   *fakeLedger
	verifies atomic.Int64 // tokens handed to the verifier
	logs     *syncBuffer
	url      string
}

func newFixture(t *testing.T, change ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, ci: oidcfake.Start(t), k8s: oidcfake.Start(t),
		svc: newFakeService(), creds: &fakeCredentials{byID: map[grants.RequestID]grants.Credentials{}},
		tokens: &fakeLedger{made: map[string]grants.RequestID{}}, logs: &syncBuffer{}}
	v, err := workload.NewVerifier(context.Background(), []workload.Issuer{
		{Name: "ci", URL: f.ci.URL, Audience: audience},
		{Name: "k8s", URL: f.k8s.URL, Audience: audience},
	})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	o := Options{
		Verifier:    countingVerifier{v, &f.verifies},
		Service:     f.svc,
		Credentials: f.creds,
		Tokens:      f.tokens,
		Logger:      slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, c := range change {
		c(&o)
	}
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// token is a good GitHub Actions token of the ci issuer for sub.
func (f *fixture) token(sub string) string {
	claims := f.ci.GitHubActionsClaims(audience)
	claims["sub"] = sub
	return f.ci.Token(claims)
}

const jobSub = "repo:acme/infra:ref:refs/heads/main"

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) do(method, path, token, body string) response {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// create makes a request as token's workload and returns its id.
func (f *fixture) create(token string) grants.RequestID {
	f.t.Helper()
	r := f.do("POST", "/v1/requests", token, `{"role":"deploy","reason":"release 1.2"}`)
	if r.status != http.StatusAccepted {
		f.t.Fatalf("POST: %d %s", r.status, r.body)
	}
	return f.svc.last()
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
	}
}

type countingVerifier struct {
	v *workload.Verifier
	n *atomic.Int64
}

func (c countingVerifier) Verify(ctx context.Context, raw string) (workload.Identity, error) {
	c.n.Add(1)
	return c.v.Verify(ctx, raw)
}

// fakeService keeps requests in memory with the workload that made each,
// and finds a request only for a caller of the same issuer and subject,
// as the Service contract says.
type fakeService struct {
	mu        sync.Mutex
	seq       int
	reqs      map[grants.RequestID]*fakeEntry
	lastID    grants.RequestID
	inputs    []grants.RequestInput
	callers   []rules.Workload
	err       error // what Request answers, when set
	approvers []string
}

type fakeEntry struct {
	req   grants.Request
	owner rules.Workload
}

func newFakeService() *fakeService {
	return &fakeService{reqs: map[grants.RequestID]*fakeEntry{}, approvers: []string{"U0APPROVER"}}
}

func (s *fakeService) Request(_ context.Context, in grants.RequestInput) (*grants.Request, error) {
	caller := *in.Workload
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inputs = append(s.inputs, in)
	s.callers = append(s.callers, caller)
	if s.err != nil {
		return nil, s.err
	}
	s.seq++
	id := grants.RequestID(fmt.Sprintf("r%d", s.seq))
	s.reqs[id] = &fakeEntry{owner: caller, req: grants.Request{ID: id, State: grants.Pending, Role: in.Role,
		Reason: in.Reason, Duration: in.Duration, CreatedAt: time.Now(), Workload: in.Workload}}
	s.lastID = id
	r := s.reqs[id].req
	return &r, nil
}

func (s *fakeService) find(id grants.RequestID, caller rules.Workload) (*fakeEntry, error) {
	e, ok := s.reqs[id]
	if !ok || e.owner.Issuer != caller.Issuer || e.owner.Subject != caller.Subject {
		return nil, &grants.UserError{Msg: "there is no request " + string(id), Err: grants.ErrNotFound}
	}
	return e, nil
}

func (s *fakeService) WorkloadRequest(_ context.Context, id grants.RequestID, caller rules.Workload) (*grants.Request, error) {
	return s.update(id, caller, func(*grants.Request) {})
}

func (s *fakeService) Release(_ context.Context, id grants.RequestID, caller rules.Workload) (*grants.Request, error) {
	return s.update(id, caller, func(r *grants.Request) { r.State = grants.Revoked })
}

// update applies change to caller's request id and returns a copy.
func (s *fakeService) update(id grants.RequestID, caller rules.Workload, change func(*grants.Request)) (*grants.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.find(id, caller)
	if err != nil {
		return nil, err
	}
	change(&e.req)
	r := e.req
	return &r, nil
}

func (s *fakeService) Approvers(context.Context, *grants.Request) ([]string, error) {
	return s.approvers, nil
}

func (s *fakeService) setState(id grants.RequestID, st grants.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs[id].req.State = st
	if st == grants.Active {
		s.reqs[id].req.ExpiresAt = time.Now().Add(time.Hour)
	}
}

func (s *fakeService) last() grants.RequestID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

func (s *fakeService) lastCaller() rules.Workload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callers[len(s.callers)-1]
}

type fakeCredentials struct {
	mu   sync.Mutex
	byID map[grants.RequestID]grants.Credentials
}

func (c *fakeCredentials) Credentials(_ context.Context, id grants.RequestID) (grants.Credentials, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cr, ok := c.byID[id]
	return cr, ok, nil
}

func (c *fakeCredentials) put(id grants.RequestID, cr grants.Credentials) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[id] = cr
}

// fakeLedger is tokenuse.Ledger in memory: "-" while a request is made.
type fakeLedger struct {
	mu   sync.Mutex
	made map[string]grants.RequestID
}

func (l *fakeLedger) Claim(_ context.Context, issuer, tokenID string, _ time.Time) (bool, grants.RequestID, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prior, ok := l.made[issuer+" "+tokenID]
	if ok {
		return false, grants.RequestID(strings.TrimPrefix(string(prior), "-")), nil
	}
	l.made[issuer+" "+tokenID] = "-"
	return true, "", nil
}

func (l *fakeLedger) Bind(_ context.Context, issuer, tokenID string, id grants.RequestID) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.made[issuer+" "+tokenID] = id
	return nil
}

func (l *fakeLedger) Forget(_ context.Context, issuer, tokenID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.made[issuer+" "+tokenID] == "-" {
		delete(l.made, issuer+" "+tokenID)
	}
	return nil
}

// syncBuffer is a bytes.Buffer the server's goroutines can log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}

// errorOf is the message of an error answer.
func errorOf(t *testing.T, r response) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == "" {
		t.Fatalf("answer %s is not {\"error\": …}: %v", r.body, err)
	}
	return e.Error
}
