package workload

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/oidcfake"
)

// audience is the aud the test catalog expects of every issuer.
const audience = "https://jitbot.example.com"

// trust is the catalog entry for fake under name.
func trust(name string, fake *oidcfake.Issuer) Issuer {
	return Issuer{Name: name, URL: fake.URL, Audience: audience}
}

// trustedFake starts a fake issuer and a verifier trusting it as name.
func trustedFake(t *testing.T, name string) (*oidcfake.Issuer, *Verifier) {
	t.Helper()
	fake := oidcfake.Start(t)
	return fake, newVerifier(t, []Issuer{trust(name, fake)})
}

func newVerifier(t *testing.T, issuers []Issuer, opts ...Option) *Verifier {
	t.Helper()
	v, err := NewVerifier(context.Background(), issuers, opts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func verify(t *testing.T, v *Verifier, raw string) Identity {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := v.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return id
}

// refuse checks that v refuses raw with an error that wraps
// ErrInvalidToken and says why, in words containing because.
func refuse(t *testing.T, v *Verifier, raw, because string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := v.Verify(ctx, raw)
	if err == nil {
		t.Fatalf("Verify accepted the token as %q; want it refused (%s)", id.Subject, because)
	}
	t.Logf("refused: %v", err)
	if !errors.Is(err, ErrInvalidToken) {
		t.Errorf("error %q does not wrap ErrInvalidToken", err)
	}
	if !strings.Contains(err.Error(), because) {
		t.Errorf("error %q does not say %q", err, because)
	}
}

// offsetClock is a clock running offset ahead of time.Now, which tests
// move forward to age key sets.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}

func (c *offsetClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// unix is t as a JWT NumericDate.
func unix(t time.Time) int64 { return t.Unix() }

func isInvalid(err error) bool { return errors.Is(err, ErrInvalidToken) }
