package workload

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/oidcfake"
)

// TestRefusesBadTokens holds the attacks and mistakes a token can carry,
// each refused with ErrInvalidToken and an error naming the check.
func TestRefusesBadTokens(t *testing.T) {
	fake, v := trustedFake(t, "github")
	now := time.Now()
	good := func(change func(map[string]any)) map[string]any {
		c := fake.GitHubActionsClaims(audience)
		change(c)
		return c
	}
	for _, c := range []struct {
		name, token, because string
	}{
		{"forged signature", fake.ForgedToken(good(func(map[string]any) {})), "failed to verify signature"},
		{"wrong audience", fake.Token(good(func(c map[string]any) { c["aud"] = "https://github.com/acme" })), "expected audience"},
		{"no audience", fake.Token(good(func(c map[string]any) { delete(c, "aud") })), "expected audience"},
		{"expired", fake.Token(good(func(c map[string]any) { c["exp"] = unix(now.Add(-ClockSkew - 10*time.Second)) })), "token is expired"},
		{"no exp", fake.Token(good(func(c map[string]any) { delete(c, "exp") })), "no exp"},
		{"nbf beyond skew", fake.Token(good(func(c map[string]any) { c["nbf"] = unix(now.Add(ClockSkew + 30*time.Second)) })), "nbf"},
		{"iat beyond skew", fake.Token(good(func(c map[string]any) { c["iat"] = unix(now.Add(ClockSkew + 30*time.Second)) })), "iat"},
		{"nbf not a number", fake.Token(good(func(c map[string]any) { c["nbf"] = "soon" })), "claims"},
		{"iat out of range", fake.Token(good(func(c map[string]any) { c["iat"] = 1e300 })), "out of range"},
		{"no sub", fake.Token(good(func(c map[string]any) { delete(c, "sub") })), "no sub"},
		{"empty sub", fake.Token(good(func(c map[string]any) { c["sub"] = "" })), "no sub"},
		{"alg none", fake.UnsignedToken(good(func(map[string]any) {})), "malformed token"},
		{"HS256 keyed with the public key", fake.HMACToken(good(func(map[string]any) {}), fake.PublicKeyPEM()), "malformed token"},
		{"not a JWT", "Bearer abc", "malformed token"},
		{"empty", "", "malformed token"},
		{"too long", strings.Repeat("a", maxTokenBytes+1), "bytes, more than"},
	} {
		t.Run(c.name, func(t *testing.T) { refuse(t, v, c.token, c.because) })
	}
}

// TestAcceptsWithinClockSkew shows the other side of the skew: a token
// just expired or not quite valid yet by jitbot's clock still verifies.
func TestAcceptsWithinClockSkew(t *testing.T) {
	fake, v := trustedFake(t, "github")
	now := time.Now()
	for name, change := range map[string]func(map[string]any){
		"nbf within skew": func(c map[string]any) { c["nbf"] = unix(now.Add(ClockSkew - 20*time.Second)) },
		"iat within skew": func(c map[string]any) { c["iat"] = unix(now.Add(ClockSkew - 20*time.Second)) },
		"exp within skew": func(c map[string]any) { c["exp"] = unix(now.Add(-ClockSkew + 20*time.Second)) },
		"no nbf nor iat":  func(c map[string]any) { delete(c, "nbf"); delete(c, "iat") },
	} {
		t.Run(name, func(t *testing.T) {
			c := fake.GitHubActionsClaims(audience)
			change(c)
			verify(t, v, fake.Token(c))
		})
	}
}

func TestRefusesUntrustedIssuer(t *testing.T) {
	trusted, other := oidcfake.Start(t), oidcfake.Start(t)
	v := newVerifier(t, []Issuer{trust("github", trusted)})
	// A real issuer with valid keys, but not in the catalog: refused
	// without a request to it.
	refuse(t, v, other.Token(other.GitHubActionsClaims(audience)), "not a trusted workload issuer")
	if n := other.DiscoveryRequests() + other.KeySetRequests(); n != 0 {
		t.Errorf("the untrusted issuer was asked %d times", n)
	}
	// Its token claiming the trusted issuer fails the signature check.
	c := other.GitHubActionsClaims(audience)
	c["iss"] = trusted.URL
	refuse(t, v, other.Token(c), "failed to verify signature")
}

// TestRefusesIssuerURLMismatch covers a catalog URL that is not the
// issuer's identifier to the letter: tokens are routed by exact iss, and
// go-oidc refuses a discovery document naming another issuer.
func TestRefusesIssuerURLMismatch(t *testing.T) {
	fake := oidcfake.Start(t)
	slash := Issuer{Name: "github", URL: fake.URL + "/", Audience: audience}
	v := newVerifier(t, []Issuer{slash})
	refuse(t, v, fake.Token(fake.GitHubActionsClaims(audience)), "not a trusted workload issuer")

	c := fake.GitHubActionsClaims(audience)
	c["iss"] = slash.URL // matches the catalog, but discovery says fake.URL
	refuse(t, v, fake.Token(c), "discovery")
}

func TestNewVerifierRefusesBadCatalog(t *testing.T) {
	ok := Issuer{Name: "github", URL: "https://token.actions.githubusercontent.com", Audience: audience}
	with := func(change func(*Issuer)) Issuer { is := ok; change(&is); return is }
	for name, issuers := range map[string][]Issuer{
		"no name":            {with(func(is *Issuer) { is.Name = "" })},
		"no audience":        {with(func(is *Issuer) { is.Audience = "" })},
		"no URL":             {with(func(is *Issuer) { is.URL = "" })},
		"plain http":         {with(func(is *Issuer) { is.URL = "http://gitlab.example.com" })},
		"relative URL":       {with(func(is *Issuer) { is.URL = "gitlab.example.com" })},
		"query in URL":       {with(func(is *Issuer) { is.URL += "?x=1" })},
		"name twice":         {ok, with(func(is *Issuer) { is.URL = "https://gitlab.com" })},
		"URL twice":          {ok, with(func(is *Issuer) { is.Name = "gh2" })},
		"unparseable URL":    {with(func(is *Issuer) { is.URL = "https://%zz" })},
		"loopback-lookalike": {with(func(is *Issuer) { is.URL = "http://127.0.0.1.example.com" })},
	} {
		if _, err := NewVerifier(t.Context(), issuers); err == nil {
			t.Errorf("%s: NewVerifier accepted %+v", name, issuers)
		}
	}
	if _, err := NewVerifier(t.Context(), []Issuer{ok, with(func(is *Issuer) { is.Name, is.URL = "local", "http://127.0.0.1:8080" })}); err != nil {
		t.Errorf("NewVerifier refused a good catalog: %v", err)
	}
}
