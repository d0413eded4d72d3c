package workloadapi

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/workload"
)

// authedHandler serves a request whose token verified as caller.
type authedHandler func(w http.ResponseWriter, r *http.Request, caller rules.Workload, tok token)

// token is what the API keeps of the bearer token a call was made with:
// its ID (workload.Identity.TokenID) and expiry, never the token itself.
type token struct {
	id      string
	expires time.Time
}

// methods dispatches on the method, then authenticates and rate limits the
// caller before the handler runs. The method is checked first: a 405
// tells nothing about tokens and costs no verification.
func (a *api) methods(byMethod map[string]authedHandler) http.HandlerFunc {
	allowed := make([]string, 0, len(byMethod))
	for m := range byMethod {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := byMethod[r.Method]
		if !ok {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path+"; use "+allow)
			return
		}
		caller, tok, ok := a.authenticate(w, r)
		if !ok {
			return
		}
		key := caller.Issuer + " " + caller.Subject
		if wait, ok := a.perSubject.take(key); !ok {
			a.log.Warn("workload api: rate limited", "issuer", caller.IssuerName, "subject", caller.Subject)
			tooMany(w, wait, "too many requests from this workload")
			return
		}
		h(w, r, caller, tok)
	}
}

// authenticate verifies the bearer token. Whatever is wrong with it, the
// answer is the same 401: which check failed is only logged. A client IP
// whose tokens keep failing is refused before its next token is verified,
// as each forged token can make the verifier fetch the issuer's keys.
func (a *api) authenticate(w http.ResponseWriter, r *http.Request) (rules.Workload, token, bool) {
	ip := clientIP(r)
	if wait, blocked := a.failedAuth.blocked(ip); blocked {
		a.log.Warn("workload api: too many failed authentications", "client_ip", ip)
		tooMany(w, wait, "too many failed authentications from this address")
		return rules.Workload{}, token{}, false
	}
	id, err := a.verify(r)
	if err != nil {
		a.failedAuth.spend(ip)
		a.log.Warn("workload api: token refused", "client_ip", ip, "method", r.Method, "path", r.URL.Path, "reason", err)
		a.report(r, err.Error())
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid token")
		return rules.Workload{}, token{}, false
	}
	return workloadOf(id), token{id: id.TokenID, expires: id.Expiry}, true
}

// report tells OnRefused of a token refused for reason.
func (a *api) report(r *http.Request, reason string) {
	if a.onRefused != nil {
		a.onRefused(r.Context(), Refusal{At: a.now(), ClientIP: clientIP(r), Method: r.Method, Path: r.URL.Path, Reason: reason})
	}
}

// verify reads the Authorization header ("Bearer <token>", the scheme in
// any case as RFC 9110 has it) and verifies the token.
func (a *api) verify(r *http.Request) (workload.Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return workload.Identity{}, errAuth("no Authorization header")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return workload.Identity{}, errAuth("Authorization is not a Bearer token")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return workload.Identity{}, errAuth("empty Bearer token")
	}
	return a.verifier.Verify(r.Context(), token)
}

type errAuth string

func (e errAuth) Error() string { return string(e) }

// workloadOf is what the rules and the grants service see of a verified
// identity. Claims are shared, not copied: nothing after verification
// changes them.
func workloadOf(id workload.Identity) rules.Workload {
	return rules.Workload{
		Issuer:         id.Issuer,
		IssuerName:     id.IssuerName,
		Subject:        id.Subject,
		Repository:     id.Repository,
		Ref:            id.Ref,
		Environment:    id.Environment,
		Workflow:       id.Workflow,
		RunID:          id.RunID,
		Actor:          id.Actor,
		Namespace:      id.Namespace,
		ServiceAccount: id.ServiceAccount,
		Claims:         id.Claims,
	}
}

// clientIP is the address the connection came from. X-Forwarded-For is
// not read: anyone can send it, and trusting it would let a forger pick
// a fresh bucket for every attempt. Behind a proxy the limit is the
// proxy's, which errs on the strict side.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// tooMany answers 429 with Retry-After in whole seconds, rounded up so a
// client that waits that long finds a token.
func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	secs := int((wait + time.Second - 1) / time.Second)
	secs = max(secs, 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, msg+"; retry in "+strconv.Itoa(secs)+"s")
}
