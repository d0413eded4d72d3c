package workload

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/oidcfake"
)

// FuzzVerify feeds arbitrary strings to Verify as tokens. It must never
// panic, must refuse with ErrInvalidToken, and may accept only the claims
// the fake signed.
// The corpus in testdata/fuzz/FuzzVerify holds tokens of fixed, unsigned
// shapes (their issuer is not the fake's, whose URL changes each run);
// the good token and its near misses are added here.
func FuzzVerify(f *testing.F) {
	fake := oidcfake.Start(f)
	v, err := NewVerifier(context.Background(), []Issuer{{Name: "ci", URL: fake.URL, Audience: audience}})
	if err != nil {
		f.Fatal(err)
	}
	claims := fake.GitLabCIClaims(audience)
	good := fake.Token(claims)
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add(fake.UnsignedToken(claims))
	f.Add(fake.HMACToken(claims, fake.PublicKeyPEM()))
	f.Add(fake.ForgedToken(claims))
	f.Fuzz(func(t *testing.T, raw string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		id, err := v.Verify(ctx, raw)
		switch {
		case err != nil && !isInvalid(err):
			t.Fatalf("Verify(%q) = %v, which does not wrap ErrInvalidToken", raw, err)
		case err == nil && id.Subject != claims["sub"]:
			// Only the fake's signed claims can verify (the good token, or
			// an encoding of it differing in unused base64 bits).
			t.Fatalf("Verify accepted %q as subject %q", raw, id.Subject)
		}
	})
}
