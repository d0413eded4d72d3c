package workloadapi

import (
	"context"
	"net/http"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// A token makes one request. GET and DELETE may repeat with it (a job
// polls with the token it asked with), but a second POST is a replay: a
// token copied from a job's log, or a captured call sent again, asking
// for another grant while the token is still valid.

// claimToken claims tok for the request about to be made. A token that
// made one already is answered 409, naming the request it made, and
// reported like a refused token.
func (a *api) claimToken(w http.ResponseWriter, r *http.Request, caller rules.Workload, tok token) bool {
	if a.tokens == nil {
		return true
	}
	first, prior, err := a.tokens.Claim(r.Context(), caller.Issuer, tok.id, tok.expires)
	if err != nil {
		a.fail(w, r, caller, err)
		return false
	}
	if first {
		return true
	}
	made := "a request still being made"
	if prior != "" {
		made = "request " + string(prior)
	}
	a.log.Warn("workload api: token replayed", "client_ip", clientIP(r), "issuer", caller.IssuerName,
		"subject", caller.Subject, "token", tok.id, "made", prior)
	a.report(r, "replayed: a token of "+caller.IssuerName+" "+caller.Subject+" that already made "+made)
	writeError(w, http.StatusConflict, "this token has already made "+made+
		"; a token makes one request: follow that one with GET /v1/requests/{id}, or fetch a new token to ask again")
	return false
}

// forgetToken takes back the claim of a request that was not made, so
// that a job whose request was refused (a wrong role, the rules) can
// correct it and ask again with the same token.
func (a *api) forgetToken(ctx context.Context, caller rules.Workload, tok token) {
	if a.tokens == nil {
		return
	}
	if err := a.tokens.Forget(context.WithoutCancel(ctx), caller.Issuer, tok.id); err != nil {
		a.log.Error("workload api: releasing a token's claim", "issuer", caller.IssuerName, "subject", caller.Subject, "err", err)
	}
}

// bindToken records the request tok made. Should it fail, the claim
// stays without a request: replays are still refused, only without
// naming the request.
func (a *api) bindToken(ctx context.Context, caller rules.Workload, tok token, id grants.RequestID) {
	if a.tokens == nil {
		return
	}
	if err := a.tokens.Bind(context.WithoutCancel(ctx), caller.Issuer, tok.id, id); err != nil {
		a.log.Error("workload api: recording the request a token made", "request", id, "err", err)
	}
}
