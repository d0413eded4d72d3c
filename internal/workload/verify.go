package workload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// invalid returns an error wrapping ErrInvalidToken with what failed.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

// Verify checks rawToken and returns the identity it proves. The token's
// unverified iss only picks which trusted issuer verifies it; then go-oidc
// checks the signature against that issuer's published keys (asymmetric
// algorithms only), iss, aud (the issuer's Audience) and exp (with
// ClockSkew), and Verify checks nbf and iat (with ClockSkew) and that sub
// is there. Every error wraps ErrInvalidToken.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (Identity, error) {
	is, err := v.route(rawToken)
	if err != nil {
		return Identity{}, err
	}
	idv, err := v.idTokenVerifier(ctx, is)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: issuer %q: %w", ErrInvalidToken, is.Name, err)
	}
	tok, err := idv.Verify(ctx, rawToken)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: issuer %q: %w", ErrInvalidToken, is.Name, err)
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return Identity{}, invalid("issuer %q: claims: %v", is.Name, err)
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return Identity{}, invalid("issuer %q: claims: %v", is.Name, err)
	}
	if err := v.checkNotBefore(claims); err != nil {
		return Identity{}, fmt.Errorf("%w: issuer %q: %w", ErrInvalidToken, is.Name, err)
	}
	if tok.Subject == "" {
		return Identity{}, invalid("issuer %q: token has no sub", is.Name)
	}
	id := newIdentity(is.Issuer, tok.Subject, tok.Expiry, claims)
	id.TokenID = tokenID(claims, rawToken)
	return id, nil
}

// tokenID is the token's jti, or without one (a provider may leave it
// out) "sha256:" and the hex digest of the token: a name for this one
// token that is safe to store, since it cannot be turned back into it.
func tokenID(claims map[string]any, rawToken string) string {
	if jti, ok := claims["jti"].(string); ok && jti != "" {
		return "jti:" + jti
	}
	sum := sha256.Sum256([]byte(rawToken))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// route returns the trusted issuer named by rawToken's iss, read without
// verifying anything but the token's shape: the signature can only be
// checked once the issuer, and so its keys, is known. A token of an
// issuer the catalog does not name is refused here, before any request.
func (v *Verifier) route(rawToken string) (*issuer, error) {
	if len(rawToken) > maxTokenBytes {
		return nil, invalid("token is %d bytes, more than %d", len(rawToken), maxTokenBytes)
	}
	// Compact form only, as JWTs are; the algorithm list refuses "none"
	// and HMAC before go-oidc would.
	jws, err := jose.ParseSignedCompact(rawToken, signingAlgs)
	if err != nil {
		return nil, invalid("malformed token: %v", err)
	}
	var c struct {
		Issuer string          `json:"iss"`
		Expiry json.RawMessage `json:"exp"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, invalid("malformed claims: %v", err)
	}
	// go-oidc reads a missing exp as the zero time and says the token
	// expired in year 1; say what is wrong instead.
	if len(c.Expiry) == 0 || string(c.Expiry) == "null" {
		return nil, invalid("token has no exp")
	}
	is, ok := v.issuers[c.Issuer]
	if !ok {
		return nil, invalid("issuer %q is not a trusted workload issuer", clip(c.Issuer))
	}
	return is, nil
}

// clip shortens an untrusted string for the log.
func clip(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// decodeClaims decodes the payload keeping numbers as json.Number, so a
// 64-bit id is not rounded through float64.
func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkNotBefore refuses a token whose nbf or iat is more than ClockSkew
// ahead of now. go-oidc checks nbf with a fixed five minute leeway and
// iat not at all; a token dated in the future was minted by a clock jitbot
// should not trust, or to outlive a revocation.
func (v *Verifier) checkNotBefore(claims map[string]any) error {
	latest := v.now().Add(ClockSkew)
	for _, name := range []string{"nbf", "iat"} {
		raw, ok := claims[name]
		if !ok {
			continue
		}
		t, err := numericDate(raw)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		if t.After(latest) {
			return fmt.Errorf("%s %s is more than %s in the future", name, t.UTC().Format(time.RFC3339), ClockSkew)
		}
	}
	return nil
}

// maxNumericDate is far beyond any real date (year 5138) yet far inside
// int64, whose overflow on conversion from float64 differs by platform.
const maxNumericDate = 1e11

// numericDate reads a JWT NumericDate: seconds since the epoch, possibly
// fractional.
func numericDate(v any) (time.Time, error) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, fmt.Errorf("not a number: %v", clip(fmt.Sprint(v)))
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, err
	}
	if f > maxNumericDate || f < -maxNumericDate {
		return time.Time{}, fmt.Errorf("%s is out of range", n)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}
