package testenv

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Throttle makes the proxy answer the calls to service above perSecond,
// after a burst of burst at once, itself, as AWS answers a throttled
// call: HTTP 400 with the code Throttling (query protocol: IAM, STS) or
// ThrottlingException (JSON protocols). service is the name in the call's
// SigV4 credential scope: iam, sts, sso (SSO admin), identitystore. A
// zero perSecond turns it off. Throttled calls are recorded, with
// Call.Throttled set, and not forwarded.
//
// AWS does not say how it counts; a token bucket per service, refilled at
// perSecond, is the usual reading of "Rate exceeded" and what IAM's
// behaviour under load looks like from outside.
func (p *Proxy) Throttle(service string, perSecond float64, burst int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if perSecond <= 0 {
		delete(p.throttle, service)
		return
	}
	p.throttle[service] = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
}

// Throttled is how many calls of action the proxy throttled; an empty
// action counts every call.
func (p *Proxy) Throttled(action string) int {
	n := 0
	for _, c := range p.Calls(action) {
		if c.Throttled {
			n++
		}
	}
	return n
}

// throttled reports whether a call that arrived at now is above its
// service's rate; p.mu is held.
func (p *Proxy) throttled(r *http.Request, now time.Time) bool {
	l := p.throttle[signingService(r)]
	return l != nil && !l.AllowN(now, 1)
}

// signingService is the service of a SigV4 request's credential scope,
// Credential=AKID/20260101/us-east-1/iam/aws4_request.
func signingService(r *http.Request) string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	if parts := strings.Split(cred, "/"); len(parts) == 5 {
		return parts[3]
	}
	return ""
}

// throttlingError answers r as AWS answers a throttled call.
func throttlingError(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ThrottlingException","Message":"Rate exceeded"}`)
		return
	}
	awsError(w, http.StatusBadRequest, "Sender", "Throttling", "Rate exceeded", "proxy-throttle")
}
