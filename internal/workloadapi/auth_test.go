package workloadapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/oidcfake"
)

// Every token problem gets the same answer, so a caller cannot tell which
// check it failed; the log says which.
func TestInvalidTokensAreAllAlike(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Limits.FailedAuthBurst = 100 })
	expired := f.ci.GitHubActionsClaims(audience)
	past := time.Now().Add(-time.Hour)
	expired["iat"], expired["nbf"], expired["exp"] = past.Unix(), past.Unix(), past.Add(10*time.Minute).Unix()
	stranger := oidcfake.Start(t) // an issuer the catalog does not trust

	cases := map[string]func(*http.Request){
		"missing header": func(*http.Request) {},
		"wrong scheme":   func(r *http.Request) { r.Header.Set("Authorization", "Basic "+f.token(jobSub)) },
		"empty bearer":   func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") },
		"garbage":        bearer("not.a.jwt"),
		"forged":         bearer(f.ci.ForgedToken(f.ci.GitHubActionsClaims(audience))),
		"unsigned":       bearer(f.ci.UnsignedToken(f.ci.GitHubActionsClaims(audience))),
		"expired":        bearer(f.ci.Token(expired)),
		"wrong audience": bearer(f.ci.Token(f.ci.GitHubActionsClaims("https://other.example.com"))),
		"untrusted":      bearer(stranger.Token(stranger.GitHubActionsClaims(audience))),
	}
	const want = `{"error":"invalid token"}` + "\n"
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			for _, target := range []string{"POST /v1/requests", "GET /v1/requests/r1", "DELETE /v1/requests/r1"} {
				method, path, _ := strings.Cut(target, " ")
				req, _ := http.NewRequest(method, f.url+path, strings.NewReader(`{"role":"deploy","reason":"x"}`))
				set(req)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, resp)
				if resp.StatusCode != http.StatusUnauthorized || body != want {
					t.Errorf("%s: %d %q, want 401 %q", target, resp.StatusCode, body, want)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: no WWW-Authenticate", target)
				}
			}
		})
	}
	if n := len(f.svc.callers); n != 0 {
		t.Errorf("the service was called %d times for refused tokens", n)
	}
	logs := f.logs.String()
	for _, reason := range []string{"no Authorization header", "not a Bearer token", "expired"} {
		if !strings.Contains(logs, reason) {
			t.Errorf("the log does not say %q:\n%s", reason, logs)
		}
	}
}

func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// A workload over its budget is told when to come back; another workload
// is not held up by it.
func TestRateLimitPerSubject(t *testing.T) {
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := newFixture(t, func(o *Options) {
		o.Now = func() time.Time { return clock }
		o.Limits.PerSubject, o.Limits.Burst = 2, 2
	})
	tok := f.token(jobSub)
	for i := range 2 {
		if r := f.do("GET", "/v1/requests/none", tok, ""); r.status != http.StatusNotFound {
			t.Fatalf("request %d: %d %s, want 404", i, r.status, r.body)
		}
	}
	r := f.do("GET", "/v1/requests/none", tok, "")
	wantStatus(t, r, http.StatusTooManyRequests)
	// Two a minute: the next token comes in 30s.
	if got := r.header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After %q, want 30", got)
	}
	if !strings.Contains(r.body, "too many requests") {
		t.Errorf("body %s does not say why", r.body)
	}
	other := f.do("GET", "/v1/requests/none", f.token("repo:acme/other:ref:refs/heads/main"), "")
	wantStatus(t, other, http.StatusNotFound)
}

// Once a client IP has failed authentication often enough, its tokens are
// not even verified, good ones included: each verification of a forged
// token can cost a fetch of the issuer's keys.
func TestFailedAuthLimitPerIP(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Limits.FailedAuthPerIP, o.Limits.FailedAuthBurst = 1, 3 })
	forged := f.ci.ForgedToken(f.ci.GitHubActionsClaims(audience))
	good := f.do("GET", "/v1/requests/none", f.token(jobSub), "")
	wantStatus(t, good, http.StatusNotFound) // successes do not count
	for range 3 {
		wantStatus(t, f.do("GET", "/v1/requests/none", forged, ""), http.StatusUnauthorized)
	}
	before := f.verifies.Load()
	r := f.do("GET", "/v1/requests/none", f.token(jobSub), "")
	wantStatus(t, r, http.StatusTooManyRequests)
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 seconds", r.header.Get("Retry-After"))
	}
	if n := f.verifies.Load() - before; n != 0 {
		t.Errorf("the verifier was called %d times for a blocked address", n)
	}
}

func TestWorkloadOfCopiesEveryField(t *testing.T) {
	f := newFixture(t)
	claims := f.k8s.KubernetesClaims(audience, "ci", "deployer")
	r := f.do("POST", "/v1/requests", f.k8s.Token(claims), `{"role":"deploy","reason":"r"}`)
	wantStatus(t, r, http.StatusAccepted)
	w := f.svc.lastCaller()
	if w.Issuer != f.k8s.URL || w.IssuerName != "k8s" || w.Subject != "system:serviceaccount:ci:deployer" ||
		w.Namespace != "ci" || w.ServiceAccount != "deployer" || w.Claims["kubernetes.io"] == nil {
		t.Errorf("workload %+v does not match the Kubernetes token", w)
	}
	f.create(f.token(jobSub))
	w = f.svc.lastCaller()
	if w.Repository != oidcfake.Repository || w.Ref != "refs/heads/main" || w.Environment != oidcfake.Environment ||
		w.Workflow == "" || w.RunID != oidcfake.RunID || w.Actor != oidcfake.Actor {
		t.Errorf("workload %+v does not match the GitHub token", w)
	}
}

// TestRefusedTokensAreReported: every refused token is handed to
// OnRefused with where it came from and which check failed, never the
// token; a valid one is not.
func TestRefusedTokensAreReported(t *testing.T) {
	var mu sync.Mutex
	var got []Refusal
	f := newFixture(t, func(o *Options) {
		o.OnRefused = func(_ context.Context, r Refusal) { mu.Lock(); got = append(got, r); mu.Unlock() }
	})
	forged := f.ci.ForgedToken(f.ci.GitHubActionsClaims(audience))
	wantStatus(t, f.do("GET", "/v1/requests/r1", forged, ""), http.StatusUnauthorized)
	f.create(f.token(jobSub))
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("refusals reported: %+v, want the forged token's only", got)
	}
	r := got[0]
	if r.ClientIP != "127.0.0.1" || r.Method != "GET" || r.Path != "/v1/requests/r1" || r.Reason == "" || r.At.IsZero() {
		t.Errorf("refusal %+v", r)
	}
	if strings.Contains(r.Reason, forged) || strings.Contains(r.Reason, strings.Split(forged, ".")[2]) {
		t.Errorf("the refusal holds the token: %q", r.Reason)
	}
}
