// Package workloadapi is jitbot's HTTP API for workloads: CI jobs and
// agents that ask for AWS access proving who they are with an OIDC ID
// token (GitHub Actions, GitLab CI, a Kubernetes service account) sent as
// a bearer token.
//
//	POST   /v1/requests       {"role","duration","reason","account"} → 202 {"id","state","approvers"}
//	GET    /v1/requests/{id}  [?wait=60s] → 200 the request, with credentials once granted
//	DELETE /v1/requests/{id}  → 200 {"id","state"}: the job is done, end the grant
//
// Every answer is JSON; an error is {"error": "…"}. Every token problem is
// the same 401 {"error":"invalid token"} so that a caller cannot learn
// which check to work around; the reason goes to the log only.
package workloadapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/workload"
)

// Verifier checks a workload's token; *workload.Verifier is one. Every
// error is answered 401 whatever it says.
type Verifier interface {
	Verify(ctx context.Context, raw string) (workload.Identity, error)
}

// Service is what the API needs of the grants service; *grants.Service
// satisfies it. Request receives the caller's workload in in.Workload.
//
// WorkloadRequest and Release must answer an error wrapping
// grants.ErrNotFound (or grants.ErrNotAllowed) unless caller has the same
// Issuer and Subject as the request's requester: the API relies on it to
// hand credentials only to the workload that asked for them (and checks
// the record's workload again itself). Both are answered with the same
// 404, so a caller cannot probe others' ids.
type Service interface {
	Request(ctx context.Context, in grants.RequestInput) (*grants.Request, error)
	WorkloadRequest(ctx context.Context, id grants.RequestID, caller rules.Workload) (*grants.Request, error)
	Release(ctx context.Context, id grants.RequestID, caller rules.Workload) (*grants.Request, error)
	Approvers(ctx context.Context, r *grants.Request) ([]string, error)
}

// Credentials hands out the AWS credentials issued for a grant. ok is
// false when it has none for id (a backend that changes memberships
// rather than issuing keys, or credentials it no longer holds): GET then
// answers the request without credentials.
type Credentials interface {
	Credentials(ctx context.Context, id grants.RequestID) (c grants.Credentials, ok bool, err error)
}

// TokenLedger remembers the tokens that made a request, so that each
// makes one (see workload.Identity.TokenID); *tokenuse.Ledger is one.
// Claim reports whether the token is making its first request, and if
// not the request it made ("" while that is being made); Bind records
// the request made; Forget takes back a claim whose request was not made.
type TokenLedger interface {
	Claim(ctx context.Context, issuer, tokenID string, expires time.Time) (first bool, prior grants.RequestID, err error)
	Bind(ctx context.Context, issuer, tokenID string, id grants.RequestID) error
	Forget(ctx context.Context, issuer, tokenID string) error
}

// Limits bound what one caller can ask of jitbot. A zero field takes its
// default.
type Limits struct {
	// PerSubject is how many requests a minute one workload (issuer and
	// subject) may make, in a burst of up to Burst. Default 30 and 10.
	PerSubject, Burst int
	// FailedAuthPerIP is how many failed authentications a minute one
	// client IP may make before its tokens are no longer even verified,
	// since each forged token can make the verifier fetch the issuer's
	// keys. Default 10, in bursts of 5.
	FailedAuthPerIP, FailedAuthBurst int
	// MaxBody bounds a request body. Default 16 KiB: a request is a few
	// short strings.
	MaxBody int64
	// MaxWait bounds GET's ?wait=. Default 60s; the Server's WriteTimeout
	// is above it.
	MaxWait time.Duration
	// PollInterval is how often a waiting GET reads the request again.
	// Default 250ms: a state change is seen within a quarter second, at
	// four store reads a second per waiting job.
	PollInterval time.Duration
}

// Default limits; see Limits.
const (
	DefaultPerSubject      = 30
	DefaultBurst           = 10
	DefaultFailedAuthPerIP = 10
	DefaultFailedAuthBurst = 5
	DefaultMaxBody         = 16 << 10
	DefaultMaxWait         = 60 * time.Second
	DefaultPollInterval    = 250 * time.Millisecond
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.PerSubject, DefaultPerSubject)
	def(&l.Burst, DefaultBurst)
	def(&l.FailedAuthPerIP, DefaultFailedAuthPerIP)
	def(&l.FailedAuthBurst, DefaultFailedAuthBurst)
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
	if l.MaxWait <= 0 {
		l.MaxWait = DefaultMaxWait
	}
	if l.PollInterval <= 0 {
		l.PollInterval = DefaultPollInterval
	}
	return l
}

// Options configure the API. Verifier and Service are required;
// Credentials may be nil (GET then never returns credentials), Tokens
// may be nil (a token may then make any number of requests), Logger
// defaults to slog.Default() and Now to time.Now.
type Options struct {
	Verifier    Verifier
	Service     Service
	Credentials Credentials
	Tokens      TokenLedger
	Logger      *slog.Logger
	Now         func() time.Time
	Limits      Limits
	// OnRefused, if set, is told of every token refused, so that the
	// attempt is audited where the log of this process is not enough.
	// It runs on the request's goroutine: it must not block for long.
	OnRefused func(context.Context, Refusal)
}

// Refusal is one refused token: when, from where, what was asked, and
// which check failed (never the token itself).
type Refusal struct {
	At                     time.Time
	ClientIP, Method, Path string
	Reason                 string
}

// api serves the routes; it is safe for concurrent use.
type api struct {
	verifier    Verifier
	service     Service
	credentials Credentials
	tokens      TokenLedger
	log         *slog.Logger
	now         func() time.Time
	limits      Limits
	onRefused   func(context.Context, Refusal)
	perSubject  *limiter // by issuer and subject
	failedAuth  *limiter // by client IP
}

// New returns the API's handler. It panics without a Verifier or a
// Service: that is a wiring mistake, not something to run with.
func New(o Options) http.Handler {
	if o.Verifier == nil || o.Service == nil {
		panic("workloadapi.New: Options.Verifier and Options.Service are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := o.Limits.withDefaults()
	a := &api{
		verifier: o.Verifier, service: o.Service, credentials: o.Credentials, tokens: o.Tokens,
		log: o.Logger, now: o.Now, limits: l, onRefused: o.OnRefused,
		perSubject: newLimiter(l.PerSubject, l.Burst, o.Now),
		failedAuth: newLimiter(l.FailedAuthPerIP, l.FailedAuthBurst, o.Now),
	}
	mux := http.NewServeMux()
	// Methods are dispatched here rather than by ServeMux patterns so that
	// a wrong method gets a JSON 405 like every other error.
	mux.HandleFunc("/v1/requests", a.methods(map[string]authedHandler{http.MethodPost: a.create}))
	mux.HandleFunc("/v1/requests/{id}", a.methods(map[string]authedHandler{
		http.MethodGet: a.get, http.MethodDelete: a.release,
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint "+r.URL.Path+"; the API is /v1/requests")
	})
	return mux
}

// The grants service is what the API runs on.
var _ Service = (*grants.Service)(nil)
