package workloadapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// The requester is the token's workload, never something the body says.
func TestCreateAsTheTokensWorkload(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/v1/requests", f.token(jobSub), `{"role":"deploy","duration":"1h30m","reason":"release 1.2","account":"prod"}`)
	wantStatus(t, r, http.StatusAccepted)
	var got struct {
		ID        string   `json:"id"`
		State     string   `json:"state"`
		Approvers []string `json:"approvers"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	if got.ID == "" || got.State != "pending" || len(got.Approvers) != 1 || got.Approvers[0] != "U0APPROVER" {
		t.Errorf("answer %s, want an id, pending and the approver", r.body)
	}
	in, caller := f.svc.inputs[0], f.svc.lastCaller()
	if in.Role != "deploy" || in.Duration != 90*time.Minute || in.Reason != "release 1.2" || in.Account != "prod" || in.UserID != "" {
		t.Errorf("service got %+v", in)
	}
	if caller.Subject != jobSub || caller.Issuer != f.ci.URL || caller.IssuerName != "ci" {
		t.Errorf("service got caller %+v, want the token's", caller)
	}
	// Naming someone in the body is refused, not believed.
	r = f.do("POST", "/v1/requests", f.token(jobSub), `{"role":"deploy","reason":"x","subject":"repo:acme/prod:ref:refs/heads/main"}`)
	wantStatus(t, r, http.StatusBadRequest)
}

// Another workload's request is answered exactly as one that does not
// exist, for GET and DELETE, even from the same issuer or the same
// subject at another issuer.
func TestOtherWorkloadsRequestIsNotFound(t *testing.T) {
	f := newFixture(t)
	id := f.create(f.token(jobSub))
	k8sSameSub := f.k8s.KubernetesClaims(audience, "ci", "deployer")
	k8sSameSub["sub"] = jobSub
	missing := f.do("GET", "/v1/requests/nope", f.token(jobSub), "")
	wantStatus(t, missing, http.StatusNotFound)
	for name, tok := range map[string]string{
		"same issuer, other subject": f.token("repo:acme/other:ref:refs/heads/main"),
		"same subject, other issuer": f.k8s.Token(k8sSameSub),
	} {
		for _, method := range []string{"GET", "DELETE"} {
			r := f.do(method, "/v1/requests/"+string(id), tok, "")
			if r.status != http.StatusNotFound || r.body != missing.body {
				t.Errorf("%s, %s: %d %s, want the 404 of a missing id: %s", name, method, r.status, r.body, missing.body)
			}
		}
	}
	if r := f.do("GET", "/v1/requests/"+string(id), f.token(jobSub), ""); !strings.Contains(r.body, `"state":"pending"`) {
		t.Errorf("the owner's GET after others' DELETE: %s, want it still pending", r.body)
	}
}

func TestCredentialsOnlyForTheRequesterOnceGranted(t *testing.T) {
	f := newFixture(t)
	tok := f.token(jobSub)
	id := f.create(tok)
	creds := grants.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s3cr3t-key-value",
		SessionToken: "session-token-value", Expiration: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)}
	f.creds.put(id, creds)

	if r := f.do("GET", "/v1/requests/"+string(id), tok, ""); strings.Contains(r.body, "credentials") {
		t.Errorf("pending request answered with credentials: %s", r.body)
	}
	f.svc.setState(id, grants.Active)
	other := f.do("GET", "/v1/requests/"+string(id), f.token("repo:acme/other:ref:refs/heads/main"), "")
	if other.status != http.StatusNotFound || strings.Contains(other.body, creds.SecretAccessKey) {
		t.Errorf("another subject got %d %s", other.status, other.body)
	}
	r := f.do("GET", "/v1/requests/"+string(id), tok, "")
	wantStatus(t, r, http.StatusOK)
	var got struct {
		State       string          `json:"state"`
		ExpiresAt   string          `json:"expires_at"`
		Credentials json.RawMessage `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	const want = `{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"s3cr3t-key-value","SessionToken":"session-token-value","Expiration":"2026-01-02T04:00:00Z"}`
	if string(got.Credentials) != want || got.State != "active" || got.ExpiresAt == "" {
		t.Errorf("answer %s, want active, expires_at and credentials %s", r.body, want)
	}
	f.svc.setState(id, grants.Revoked)
	if r := f.do("GET", "/v1/requests/"+string(id), tok, ""); strings.Contains(r.body, "credentials") {
		t.Errorf("revoked request answered with credentials: %s", r.body)
	}
	// Secrets never reach the log, whatever was logged on the way.
	for _, secret := range []string{creds.SecretAccessKey, creds.SessionToken, tok} {
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("the log holds the secret %q:\n%s", secret, f.logs.String())
		}
	}
}

func TestWaitReturnsOnStateChange(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Limits.PollInterval = 10 * time.Millisecond })
	tok := f.token(jobSub)
	id := f.create(tok)
	time.AfterFunc(200*time.Millisecond, func() { f.svc.setState(id, grants.Active) })
	start := time.Now()
	r := f.do("GET", "/v1/requests/"+string(id)+"?wait=30s", tok, "")
	took := time.Since(start)
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, `"state":"active"`) || took < 150*time.Millisecond || took > 5*time.Second {
		t.Errorf("after %v: %s, want active soon after 200ms", took, r.body)
	}
}

func TestWaitEndsAtTheBound(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Limits.PollInterval = 10 * time.Millisecond
		o.Limits.MaxWait = 300 * time.Millisecond
	})
	tok := f.token(jobSub)
	id := f.create(tok)
	start := time.Now()
	r := f.do("GET", "/v1/requests/"+string(id)+"?wait=60s", tok, "")
	took := time.Since(start)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"state":"pending"`) || took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("after %v: %d %s, want pending at the 300ms bound", took, r.status, r.body)
	}
	wantStatus(t, f.do("GET", "/v1/requests/"+string(id)+"?wait=soon", tok, ""), http.StatusBadRequest)

	// An active request has nothing left to wait for.
	f.svc.setState(id, grants.Active)
	start = time.Now()
	r = f.do("GET", "/v1/requests/"+string(id)+"?wait=60s", tok, "")
	if took := time.Since(start); r.status != http.StatusOK || took >= 300*time.Millisecond {
		t.Errorf("active request answered after %v (%d %s), want at once", took, r.status, r.body)
	}
}

func TestDeleteReleases(t *testing.T) {
	f := newFixture(t)
	tok := f.token(jobSub)
	id := f.create(tok)
	r := f.do("DELETE", "/v1/requests/"+string(id), tok, "")
	wantStatus(t, r, http.StatusOK)
	if want := `{"id":"` + string(id) + `","state":"revoked"}` + "\n"; r.body != want {
		t.Errorf("body %q, want %q", r.body, want)
	}
}

func TestBadBodies(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Limits.PerSubject, o.Limits.Burst = 1000, 1000 })
	tok := f.token(jobSub)
	cases := map[string]struct {
		body, says string
		status     int
	}{
		"empty":          {"", "empty", 400},
		"not json":       {"role=deploy", "not valid JSON", 400},
		"unknown field":  {`{"role":"deploy","reason":"r","user":"U1"}`, `unknown field "user"`, 400},
		"bad duration":   {`{"role":"deploy","reason":"r","duration":"soon"}`, "duration", 400},
		"zero duration":  {`{"role":"deploy","reason":"r","duration":"0s"}`, "more than 0", 400},
		"no reason":      {`{"role":"deploy"}`, `"reason" is required`, 400},
		"no role":        {`{"reason":"r"}`, `"role" is required`, 400},
		"number role":    {`{"role":1,"reason":"r"}`, `"role" must be a string`, 400},
		"trailing data":  {`{"role":"deploy","reason":"r"} {}`, "nothing after it", 400},
		"too large":      {`{"role":"deploy","reason":"` + strings.Repeat("x", 20<<10) + `"}`, "too large", 413},
		"too large tail": {`{"role":"deploy","reason":"r"}` + strings.Repeat(" ", 20<<10), "too large", 413},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := f.do("POST", "/v1/requests", tok, c.body)
			if r.status != c.status || !strings.Contains(errorOf(t, r), c.says) {
				t.Errorf("%d %s, want %d saying %q", r.status, r.body, c.status, c.says)
			}
		})
	}
	if n := len(f.svc.inputs); n != 0 {
		t.Errorf("the service was called %d times for bad bodies", n)
	}
}

func TestServiceErrors(t *testing.T) {
	cases := map[string]struct {
		err    error
		status int
		says   string
	}{
		"ineligible":   {&grants.UserError{Msg: "this workload may not request deploy", Err: grants.ErrIneligible}, 403, "may not request deploy"},
		"unknown role": {&grants.UserError{Msg: `there is no role "deplyo"`, Err: grants.ErrUnknownRole}, 400, "no role"},
		"internal":     {errors.New("redis: connection refused"), 500, "could not complete"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.svc.err = c.err
			r := f.do("POST", "/v1/requests", f.token(jobSub), `{"role":"deploy","reason":"r"}`)
			if r.status != c.status || !strings.Contains(r.body, c.says) || strings.Contains(r.body, "redis") {
				t.Errorf("%d %s, want %d saying %q", r.status, r.body, c.status, c.says)
			}
		})
	}
}

func TestWrongMethodAndPath(t *testing.T) {
	f := newFixture(t)
	for target, allow := range map[string]string{"PUT /v1/requests": "POST", "POST /v1/requests/r1": "DELETE, GET"} {
		method, path, _ := strings.Cut(target, " ")
		r := f.do(method, path, "", "")
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != allow || !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s: %d Allow %q %s, want 405 Allow %q", target, r.status, r.header.Get("Allow"), r.body, allow)
		}
	}
	wantStatus(t, f.do("GET", "/v2/things", "", ""), http.StatusNotFound)
}

// TestCredentialsFollowTheRecordsWorkload: even a service that answered
// another workload's record (a bug the API must not turn into a leak)
// gets no credentials handed out: the record's own workload decides.
func TestCredentialsFollowTheRecordsWorkload(t *testing.T) {
	f := newFixture(t)
	tok := f.token(jobSub)
	id := f.create(tok)
	f.creds.put(id, grants.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s3cr3t-key-value", SessionToken: "session-token-value"})
	f.svc.setState(id, grants.Active)
	f.svc.mu.Lock()
	f.svc.reqs[id].req.Workload = &rules.Workload{Issuer: "https://elsewhere.example", Subject: "someone-else"}
	f.svc.mu.Unlock()
	if r := f.do("GET", "/v1/requests/"+string(id), tok, ""); strings.Contains(r.body, "s3cr3t-key-value") {
		t.Errorf("credentials handed out for a record that names another workload: %s", r.body)
	}
}
