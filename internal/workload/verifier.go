// Package workload turns the OIDC ID token a CI job or an agent presents
// (GitHub Actions, GitLab CI, a Kubernetes service account) into a
// verified workload identity, trusting only the issuers the catalog names.
//
// Verification is github.com/coreos/go-oidc's, which checks the signature
// against the issuer's published keys, iss, aud and exp; this package adds
// what go-oidc leaves out or sets too loosely for jitbot: a one minute
// clock skew on nbf (go-oidc allows five) and iat, a required sub, and a
// key set that is fetched anew at least every KeySetMaxAge so a key the
// issuer stopped publishing stops being trusted.
package workload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// ErrInvalidToken is wrapped by every error Verify returns, whichever check
// failed, so the API can answer one 401 "invalid token" without telling a
// caller which check to work around; the error's text names the check for
// the log.
var ErrInvalidToken = errors.New("invalid token")

const (
	// ClockSkew is how far jitbot's clock may disagree with an issuer's:
	// a token is accepted up to ClockSkew after its exp, and refused if
	// its nbf or iat is more than ClockSkew ahead. A minute covers NTP
	// synced hosts with room to spare while keeping an expired token
	// usable for at most a minute.
	ClockSkew = time.Minute

	// KeySetMaxAge bounds how long a fetched JWKS is trusted. go-oidc
	// fetches keys only when a token fails to verify with the ones it
	// has, so without a bound a key the issuer retired (or revoked after
	// a leak) would verify tokens for as long as jitbot runs.
	KeySetMaxAge = 15 * time.Minute

	// maxTokenBytes refuses absurd tokens before any parsing. Real
	// workload tokens are 1-3 kB.
	maxTokenBytes = 16 << 10

	// httpTimeout bounds a discovery or JWKS request. go-oidc fetches
	// keys on a context without deadline and makes every caller wait for
	// the one fetch in flight, so a fetch that never ends would stall
	// verification for that issuer for good.
	httpTimeout = 10 * time.Second
)

// signingAlgs are the algorithms a token may be signed with: the
// asymmetric ones go-oidc supports. HMAC and "none" are never accepted:
// with a published key, either lets anyone mint tokens.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.EdDSA,
}

// Issuer is a workload issuer the catalog trusts.
type Issuer struct {
	Name     string // the catalog's name for it; prefixes SourceIdentity
	URL      string // the issuer identifier, exactly as tokens' iss says it
	Audience string // the aud its tokens must carry to be meant for jitbot
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithHTTPClient makes discovery and key fetches use c instead of a client
// with a 10 second timeout. c should have a timeout too (see httpTimeout).
func WithHTTPClient(c *http.Client) Option {
	return func(v *Verifier) { v.client = c }
}

// WithClock makes the verifier read the time from now instead of
// time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(v *Verifier) { v.now = now }
}

// Verifier verifies tokens of a fixed set of issuers. It is safe for
// concurrent use.
type Verifier struct {
	issuers map[string]*issuer // by URL
	client  *http.Client
	now     func() time.Time
	keyCtx  context.Context // for go-oidc's key fetches: the client, no cancellation
}

// issuer is one trusted issuer and what has been learnt of it.
type issuer struct {
	Issuer

	// discovering is a one-slot semaphore held by the call that fetches
	// discovery, so concurrent first calls fetch it once while the others
	// can still give up with their context.
	discovering chan struct{}

	mu        sync.Mutex
	provider  *oidc.Provider        // nil until discovery succeeded
	verifier  *oidc.IDTokenVerifier // with the current key set
	keysSince time.Time             // when verifier's key set was made
}

// NewVerifier returns a verifier that trusts issuers. It makes no request:
// each issuer is discovered at the first token that names it, and a
// failed discovery is tried again at the next one, so jitbot starts while
// an issuer is down. ctx carries values (not cancellation) for key set
// fetches, as go-oidc's remote key set uses it.
func NewVerifier(ctx context.Context, issuers []Issuer, opts ...Option) (*Verifier, error) {
	v := &Verifier{
		issuers: make(map[string]*issuer, len(issuers)),
		client:  &http.Client{Timeout: httpTimeout},
		now:     time.Now,
	}
	for _, o := range opts {
		o(v)
	}
	names := make(map[string]bool, len(issuers))
	for _, is := range issuers {
		if err := checkIssuer(is); err != nil {
			return nil, err
		}
		if names[is.Name] {
			return nil, fmt.Errorf("workload issuer %q is named twice", is.Name)
		}
		if _, dup := v.issuers[is.URL]; dup {
			return nil, fmt.Errorf("workload issuers %q and another share the URL %s", is.Name, is.URL)
		}
		names[is.Name] = true
		v.issuers[is.URL] = &issuer{Issuer: is, discovering: make(chan struct{}, 1)}
	}
	v.keyCtx = oidc.ClientContext(context.WithoutCancel(ctx), v.client)
	return v, nil
}

// checkIssuer refuses catalog entries that cannot be verified safely.
// Plain http is allowed to loopback addresses only (tests, a local
// proxy): elsewhere anyone on the path could serve their own keys.
func checkIssuer(is Issuer) error {
	if is.Name == "" || is.URL == "" || is.Audience == "" {
		return fmt.Errorf("workload issuer %q: name, URL and audience are all required", is.Name)
	}
	u, err := url.Parse(is.URL)
	if err != nil {
		return fmt.Errorf("workload issuer %q: %v", is.Name, err)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("workload issuer %q: URL %s must be scheme://host[/path], without query or fragment", is.Name, is.URL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return fmt.Errorf("workload issuer %q: URL %s must be https (http only to loopback)", is.Name, is.URL)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// idTokenVerifier returns go-oidc's verifier for is, discovering is first
// if that has not succeeded yet, with a key set no older than KeySetMaxAge.
func (v *Verifier) idTokenVerifier(ctx context.Context, is *issuer) (*oidc.IDTokenVerifier, error) {
	p, err := v.provider(ctx, is)
	if err != nil {
		return nil, err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	now := v.now()
	if is.verifier == nil || now.Sub(is.keysSince) >= KeySetMaxAge || now.Before(is.keysSince) {
		// A new remote key set starts empty, so the next token fetches
		// the JWKS as it is now.
		is.verifier = p.VerifierContext(v.keyCtx, &oidc.Config{
			ClientID:             is.Audience,
			SupportedSigningAlgs: algNames(),
			// go-oidc compares exp with Now exactly; setting its clock
			// ClockSkew back gives exp the documented leeway.
			Now: func() time.Time { return v.now().Add(-ClockSkew) },
		})
		is.keysSince = now
	}
	return is.verifier, nil
}

// provider returns is's discovered provider, fetching discovery if no call
// has succeeded yet. A failure is not remembered: the next call tries
// again.
func (v *Verifier) provider(ctx context.Context, is *issuer) (*oidc.Provider, error) {
	if p := is.discovered(); p != nil {
		return p, nil
	}
	select {
	case is.discovering <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for discovery: %w", ctx.Err())
	}
	defer func() { <-is.discovering }()
	if p := is.discovered(); p != nil { // found by the call we waited for
		return p, nil
	}
	// NewProvider also checks that the discovery document names is.URL
	// as its issuer.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.client), is.URL)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	is.mu.Lock()
	is.provider = p
	is.mu.Unlock()
	return p, nil
}

func (is *issuer) discovered() *oidc.Provider {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.provider
}

func algNames() []string {
	names := make([]string, len(signingAlgs))
	for i, a := range signingAlgs {
		names[i] = string(a)
	}
	return names
}
