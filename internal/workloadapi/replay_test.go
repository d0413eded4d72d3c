package workloadapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/internal/grants"
)

// TestReplayedTokenIsRefused sends a token's POST twice: the second is
// refused 409 naming the first request, reported like a refused token,
// and makes no request; the token still follows its own request.
func TestReplayedTokenIsRefused(t *testing.T) {
	var mu sync.Mutex
	var refusals []Refusal
	f := newFixture(t, func(o *Options) {
		o.OnRefused = func(_ context.Context, r Refusal) { mu.Lock(); refusals = append(refusals, r); mu.Unlock() }
	})
	tok := f.token(jobSub)
	id := f.create(tok)

	r := f.do("POST", "/v1/requests", tok, `{"role":"deploy","reason":"again"}`)
	wantStatus(t, r, http.StatusConflict)
	if msg := errorOf(t, r); !strings.Contains(msg, "already made request "+string(id)) || !strings.Contains(msg, "fetch a new token") {
		t.Errorf("replay answered %q; want it to name %s and say what to do", msg, id)
	}
	if n := len(f.svc.inputs); n != 1 {
		t.Errorf("the service was asked %d times; the replay must not reach it", n)
	}
	mu.Lock()
	if len(refusals) != 1 || !strings.HasPrefix(refusals[0].Reason, "replayed: ") || !strings.Contains(refusals[0].Reason, jobSub) ||
		refusals[0].Method != "POST" {
		t.Errorf("refusals reported %+v; want the replay, naming the workload", refusals)
	}
	mu.Unlock()

	wantStatus(t, f.do("GET", "/v1/requests/"+string(id), tok, ""), http.StatusOK)
	// Another token of the same job is another request.
	if second := f.create(f.token(jobSub)); second == id {
		t.Errorf("a fresh token's request is %s, the first's", second)
	}
}

// TestRefusedRequestFreesItsToken: a POST the service refuses made no
// request, so the job may correct it and send it again with that token.
func TestRefusedRequestFreesItsToken(t *testing.T) {
	f := newFixture(t)
	tok := f.token(jobSub)
	f.svc.err = &grants.UserError{Msg: `there is no role "deplyo"`, Err: grants.ErrUnknownRole}
	wantStatus(t, f.do("POST", "/v1/requests", tok, `{"role":"deplyo","reason":"r"}`), http.StatusBadRequest)
	f.svc.err = nil
	f.create(tok)
	wantStatus(t, f.do("POST", "/v1/requests", tok, `{"role":"deploy","reason":"r"}`), http.StatusConflict)
}

// TestTokensWithoutJTIAreToldApart: a token is named by its digest when
// it has no jti, so two such tokens are two, and one sent twice is a
// replay.
func TestTokensWithoutJTIAreToldApart(t *testing.T) {
	f := newFixture(t)
	claims := f.ci.GitHubActionsClaims(audience)
	delete(claims, "jti")
	tok := f.ci.Token(claims)
	f.create(tok)
	wantStatus(t, f.do("POST", "/v1/requests", tok, `{"role":"deploy","reason":"r"}`), http.StatusConflict)
	claims["iat"] = claims["iat"].(int64) + 1
	f.create(f.ci.Token(claims))
}
