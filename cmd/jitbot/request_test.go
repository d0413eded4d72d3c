package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/oidcfake"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/workload"
	"github.com/jitbot/jitbot/internal/workloadapi"
)

const wlAudience = "https://jitbot.example.com"

// wlFixture is the real workload API, with the real verifier trusting a
// fake issuer, in front of a fake grants service, served on loopback.
type wlFixture struct {
	issuer *oidcfake.Issuer
	svc    *wlService
	url    string
	token  string
}

func newWLFixture(t *testing.T, limits ...workloadapi.Limits) *wlFixture {
	t.Helper()
	f := &wlFixture{issuer: oidcfake.Start(t), svc: &wlService{reqs: map[grants.RequestID]*grants.Request{},
		creds: map[grants.RequestID]grants.Credentials{}, created: make(chan grants.RequestID, 10)}}
	v, err := workload.NewVerifier(context.Background(), []workload.Issuer{{Name: "ci", URL: f.issuer.URL, Audience: wlAudience}})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	srv := httptest.NewServer(workloadapi.New(workloadapi.Options{
		Verifier: v, Service: f.svc, Credentials: f.svc,
		Logger: slog.New(slog.DiscardHandler), Limits: append(limits, workloadapi.Limits{})[0],
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	f.token = f.issuer.Token(f.issuer.GitHubActionsClaims(wlAudience))
	return f
}

// run runs the built jitbot with the fixture's token in $JITBOT_TOKEN,
// and checks the token shows nowhere in what it printed.
func (f *wlFixture) run(t *testing.T, args ...string) result {
	t.Helper()
	r := runBinary(t, cleanEnv("JITBOT_TOKEN="+f.token), args...)
	if strings.Contains(r.stdout+r.stderr, f.token) {
		t.Errorf("jitbot %v printed the token:\nstdout %s\nstderr %s", args, r.stdout, r.stderr)
	}
	return r
}

// then changes the next request made to state, once it is made: after
// the POST, so the client sees it while it waits.
func (f *wlFixture) then(t *testing.T, state grants.State) {
	go func() {
		select {
		case id := <-f.svc.created:
			time.Sleep(300 * time.Millisecond)
			f.svc.set(id, state)
		case <-time.After(30 * time.Second):
			t.Error("no request was made")
		}
	}()
}

func (f *wlFixture) request(t *testing.T, more ...string) result {
	t.Helper()
	return f.run(t, append([]string{"request", "--server", f.url, "--role", "deploy", "--reason", "release 1.2"}, more...)...)
}

var testCreds = grants.Credentials{AccessKeyID: "ASIATESTKEY", SecretAccessKey: "se'cret/+key",
	SessionToken: "session-token-value", Expiration: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}

func TestRequestGrantedFormats(t *testing.T) {
	f := newWLFixture(t)
	for _, format := range []string{"env", "credential_process", "json"} {
		t.Run(format, func(t *testing.T) {
			f.then(t, grants.Active)
			r := f.request(t, "--wait", "--format", format)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "waiting for approval of r") || !strings.Contains(r.stderr, "by U0APPROVER") {
				t.Errorf("stderr %q does not say whom it waits for", r.stderr)
			}
			checkFormat(t, format, r.stdout)
		})
	}
}

// TestRequestApprovedAtOnce: a request the catalog approves at once is
// active in the POST's answer already, which has no credentials; the
// client reads it again for them, in every format.
func TestRequestApprovedAtOnce(t *testing.T) {
	f := newWLFixture(t)
	f.svc.atOnce = true
	for _, format := range []string{"env", "credential_process", "json"} {
		t.Run(format, func(t *testing.T) {
			f.token = f.issuer.Token(f.issuer.GitHubActionsClaims(wlAudience))
			r := f.request(t, "--wait", "--format", format)
			<-f.svc.created
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			if strings.Contains(r.stderr, "waiting") {
				t.Errorf("stderr %q says it waits for a request granted at once", r.stderr)
			}
			checkFormat(t, format, r.stdout)
		})
	}
}

func checkFormat(t *testing.T, format, out string) {
	t.Helper()
	switch format {
	case "env":
		want := "export AWS_ACCESS_KEY_ID='ASIATESTKEY'\nexport AWS_CREDENTIAL_EXPIRATION='2030-01-02T03:04:05Z'\n" +
			"export AWS_SECRET_ACCESS_KEY='se'\\''cret/+key'\nexport AWS_SESSION_TOKEN='session-token-value'\n"
		if out != want {
			t.Errorf("stdout\n%s\nwant\n%s", out, want)
		}
	case "credential_process":
		var c map[string]any
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("stdout %q: %v", out, err)
		}
		want := map[string]any{"Version": 1.0, "AccessKeyId": "ASIATESTKEY", "SecretAccessKey": "se'cret/+key",
			"SessionToken": "session-token-value", "Expiration": "2030-01-02T03:04:05Z"}
		if fmt.Sprint(c) != fmt.Sprint(want) {
			t.Errorf("credential_process output %v, want %v", c, want)
		}
	case "json":
		var v struct {
			ID, State   string
			Credentials struct {
				AccessKeyID string `json:"AccessKeyId"`
			}
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.State != "active" || v.Credentials.AccessKeyID != "ASIATESTKEY" || v.ID == "" {
			t.Errorf("stdout %q (%v), want the active request with its credentials", out, err)
		}
	}
}

func TestRequestEnds(t *testing.T) {
	f := newWLFixture(t)
	for _, tc := range []struct {
		state grants.State
		code  int
		say   string
	}{
		{grants.Denied, 3, "was denied: not today"},
		{grants.TimedOut, 4, "timed out"},
		{grants.Failed, 1, "is failed"},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			f.then(t, tc.state)
			r := f.request(t, "--wait")
			if r.code != tc.code || r.stdout != "" || !strings.Contains(r.stderr, tc.say) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", r.code, r.stdout, r.stderr, tc.code, tc.say)
			}
		})
	}
}

func TestRequestWithoutWaitAndRelease(t *testing.T) {
	f := newWLFixture(t)
	r := f.request(t)
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || id == "" || !strings.Contains(r.stderr, id+" is pending") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want the id and its state", r.code, r.stdout, r.stderr)
	}
	// --token-file, with the newline a mounted file may end with.
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(f.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = f.run(t, "release", "--server", f.url, "--token-file", file, id)
	if r.code != 0 || r.stdout != id+" cancelled\n" {
		t.Errorf("release: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = f.run(t, "release", "--server", f.url, "no-such-id")
	if r.code != 1 || !strings.Contains(r.stderr, "404") {
		t.Errorf("release of an unknown id: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestRequestInvalidToken(t *testing.T) {
	f := newWLFixture(t)
	other := oidcfake.Start(t) // an issuer jitbot does not trust
	bad := other.Token(other.GitHubActionsClaims(wlAudience))
	r := runBinary(t, cleanEnv("MY_TOKEN="+bad), "request", "--server", f.url, "--role", "deploy", "--reason", "x", "--token-env", "MY_TOKEN", "--wait")
	if r.code != 1 || !strings.Contains(r.stderr, "invalid token") || strings.Contains(r.stdout+r.stderr, bad) {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and invalid token, without the token", r.code, r.stdout, r.stderr)
	}
}

func TestRequestUsage(t *testing.T) {
	f := newWLFixture(t)
	if r := f.run(t, "request", "--help"); r.code != 0 || !strings.HasPrefix(r.stdout, "usage: jitbot request") {
		t.Errorf("--help: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := f.run(t, "request", "--server", f.url, "--reason", "x"); r.code != 2 || !strings.Contains(r.stderr, "--role is required") {
		t.Errorf("no --role: exit %d, stderr %q", r.code, r.stderr)
	}
	r := f.run(t, "request", "--server", "http://jitbot.example.com", "--role", "deploy", "--reason", "x")
	if r.code != 1 || !strings.Contains(r.stderr, "in the clear") {
		t.Errorf("http:// to a remote host: exit %d, stderr %q", r.code, r.stderr)
	}
	if f.svc.made() != 0 {
		t.Errorf("%d requests made by refused command lines", f.svc.made())
	}
}

// wlService is a fake grants service: requests in memory, each found only
// by the workload that made it, as workloadapi.Service requires.
type wlService struct {
	mu      sync.Mutex
	seq     int
	reqs    map[grants.RequestID]*grants.Request
	creds   map[grants.RequestID]grants.Credentials
	created chan grants.RequestID
	refuse  error // what Request answers, when set
	atOnce  bool  // requests are granted as they are made, as auto_approve does
}

func (s *wlService) Request(_ context.Context, in grants.RequestInput) (*grants.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		return nil, s.refuse
	}
	s.seq++
	id := grants.RequestID(fmt.Sprintf("r%d", s.seq))
	s.reqs[id] = &grants.Request{ID: id, State: grants.Pending, Role: in.Role, Reason: in.Reason,
		CreatedAt: time.Now(), Workload: in.Workload}
	if s.atOnce {
		s.reqs[id].State, s.creds[id] = grants.Active, testCreds
	}
	s.created <- id
	r := *s.reqs[id]
	return &r, nil
}

func (s *wlService) WorkloadRequest(_ context.Context, id grants.RequestID, caller rules.Workload) (*grants.Request, error) {
	return s.update(id, caller, func(*grants.Request) {})
}

func (s *wlService) Release(_ context.Context, id grants.RequestID, caller rules.Workload) (*grants.Request, error) {
	return s.update(id, caller, func(r *grants.Request) {
		switch r.State {
		case grants.Pending:
			r.State = grants.Cancelled
		case grants.Active:
			r.State = grants.Revoked
		}
	})
}

func (s *wlService) update(id grants.RequestID, caller rules.Workload, change func(*grants.Request)) (*grants.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reqs[id]
	if !ok || r.Workload.Issuer != caller.Issuer || r.Workload.Subject != caller.Subject {
		return nil, &grants.UserError{Msg: "there is no request " + string(id), Err: grants.ErrNotFound}
	}
	change(r)
	c := *r
	return &c, nil
}

func (s *wlService) Approvers(context.Context, *grants.Request) ([]string, error) {
	return []string{"U0APPROVER"}, nil
}

func (s *wlService) Credentials(_ context.Context, id grants.RequestID) (grants.Credentials, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[id]
	return c, ok, nil
}

// set moves request id to state; an active one gets credentials first.
func (s *wlService) set(id grants.RequestID, state grants.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs[id]
	switch state {
	case grants.Active:
		s.creds[id] = testCreds
		r.ExpiresAt = time.Now().Add(time.Hour)
	case grants.Denied:
		r.DenyReason = "not today"
	}
	r.State = state
}

func (s *wlService) made() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// TestRequestInterrupted: SIGTERM while waiting (a cancelled CI job) exits
// 1 and names the request, so the job's cleanup can release it.
func TestRequestInterrupted(t *testing.T) {
	f := newWLFixture(t)
	cmd := exec.CommandContext(t.Context(), binary, "request", "--server", f.url, "--role", "deploy", "--reason", "x", "--wait")
	cmd.Env = cleanEnv("JITBOT_TOKEN=" + f.token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.svc.created:
	case <-time.After(30 * time.Second):
		t.Fatal("no request was made")
	}
	time.Sleep(300 * time.Millisecond) // into the GET's wait
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "jitbot release r1") {
		t.Errorf("exit %d (%v), stdout %q, stderr %q; want exit 1 naming the request to release", code, err, stdout.String(), stderr.String())
	}
}

// TestRequestRereadsTokenFile: each poll reads --token-file again, as a
// kubelet renews a projected token during a long wait. The token written
// mid-wait is of an issuer jitbot does not trust, so the next poll is
// refused: proof that it was read.
func TestRequestRereadsTokenFile(t *testing.T) {
	f := newWLFixture(t, workloadapi.Limits{MaxWait: 200 * time.Millisecond})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(f.token), 0o600); err != nil {
		t.Fatal(err)
	}
	other := oidcfake.Start(t)
	go func() {
		<-f.svc.created
		if err := os.WriteFile(file, []byte(other.Token(other.GitHubActionsClaims(wlAudience))), 0o600); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "request", "--server", f.url, "--role", "deploy", "--reason", "x", "--wait", "--token-file", file)
	cmd.Env = cleanEnv()
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "invalid token") {
		t.Errorf("exit %d, output %q; want exit 1 and invalid token once the file holds a bad token", code, out)
	}
}

// TestRequestRefused: a 403 is exit 1 with the server's message.
func TestRequestRefused(t *testing.T) {
	f := newWLFixture(t)
	// Under the lock: the race detector cannot see that the server reads it
	// only after the binary, started later, has called.
	f.svc.mu.Lock()
	f.svc.refuse = &grants.UserError{Msg: "this workload may not request deploy", Err: grants.ErrIneligible}
	f.svc.mu.Unlock()
	r := f.request(t, "--wait")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "403: this workload may not request deploy") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and the server's refusal", r.code, r.stdout, r.stderr)
	}
}

// TestRequestWaitsOutRateLimit: told 429 while polling, the client waits
// the Retry-After and polls again rather than giving up the request.
func TestRequestWaitsOutRateLimit(t *testing.T) {
	// One call a second per workload: the POST spends it, the first GET
	// is refused with Retry-After: 1.
	f := newWLFixture(t, workloadapi.Limits{PerSubject: 60, Burst: 1})
	f.then(t, grants.Active)
	start := time.Now()
	r := f.request(t, "--wait", "--format", "credential_process")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q; want the grant after waiting out the 429", r.code, r.stderr)
	}
	if time.Since(start) < time.Second {
		t.Errorf("done in %v: the 429 was not waited out, or never came", time.Since(start))
	}
	checkFormat(t, "credential_process", r.stdout)
}
