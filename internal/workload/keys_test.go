package workload

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/oidcfake"
)

// TestKeyRotation follows an issuer rotating its key: tokens of the new
// key verify at once (go-oidc refetches the JWKS for a kid it has not
// seen), tokens of the old one while it is published, and no longer once
// it is retired and the key set has aged out.
func TestKeyRotation(t *testing.T) {
	fake := oidcfake.Start(t)
	clock := &offsetClock{}
	v := newVerifier(t, []Issuer{trust("k8s", fake)}, WithClock(clock.now))
	claims := fake.KubernetesClaims(audience, "ci", "deployer")
	// Valid past the key set's age, so only the key decides.
	claims["exp"] = unix(time.Now().Add(KeySetMaxAge + time.Hour))
	old := fake.Token(claims)
	verify(t, v, old)
	fetches := fake.KeySetRequests()

	fake.RotateKey()
	verify(t, v, fake.Token(claims))
	if got := fake.KeySetRequests(); got != fetches+1 {
		t.Errorf("a token of the new key made %d JWKS fetches, want 1", got-fetches)
	}
	verify(t, v, old)

	fake.RetireOldKeys()
	// Until the key set is fetched again the retired key is still
	// trusted: go-oidc has no expiry on its cache. KeySetMaxAge bounds
	// that.
	verify(t, v, old)
	clock.advance(KeySetMaxAge)
	refuse(t, v, old, "failed to verify signature")
	verify(t, v, fake.Token(claims))
}

// TestDiscoveryIsLazyAndRetried checks that NewVerifier asks nothing, a
// failed discovery is tried again at the next token rather than
// remembered, and a successful one is kept.
func TestDiscoveryIsLazyAndRetried(t *testing.T) {
	fake := oidcfake.Start(t)
	fake.FailDiscovery(true)
	v := newVerifier(t, []Issuer{trust("gitlab", fake)})
	if n := fake.DiscoveryRequests(); n != 0 {
		t.Fatalf("NewVerifier made %d discovery requests, want none", n)
	}
	token := fake.Token(fake.GitLabCIClaims(audience))
	refuse(t, v, token, "discovery")
	refuse(t, v, token, "503")
	if n := fake.DiscoveryRequests(); n != 2 {
		t.Errorf("two tokens while discovery fails made %d requests, want 2", n)
	}
	fake.FailDiscovery(false)
	verify(t, v, token)
	verify(t, v, token)
	if n := fake.DiscoveryRequests(); n != 3 {
		t.Errorf("discovery requests = %d, want 3: the success is kept", n)
	}
}

// TestConcurrentFirstTokens has many first tokens arrive at once: one
// discovery, one JWKS fetch, all verified.
func TestConcurrentFirstTokens(t *testing.T) {
	fake, v := trustedFake(t, "github")
	token := fake.Token(fake.GitHubActionsClaims(audience))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { verify(t, v, token) })
	}
	wg.Wait()
	if d, k := fake.DiscoveryRequests(), fake.KeySetRequests(); d != 1 || k != 1 {
		t.Errorf("discovery, JWKS requests = %d, %d; want 1, 1", d, k)
	}
}

// TestWaitingForDiscoveryHonoursContext: a call queued behind a discovery
// in flight gives up when its context ends.
func TestWaitingForDiscoveryHonoursContext(t *testing.T) {
	fake, v := trustedFake(t, "github")
	is := v.issuers[fake.URL]
	is.discovering <- struct{}{} // a discovery in flight that never ends
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := v.Verify(ctx, fake.Token(fake.GitHubActionsClaims(audience)))
	if err == nil || !isInvalid(err) {
		t.Fatalf("Verify = %v, want an ErrInvalidToken for the ended context", err)
	}
	<-is.discovering
	verify(t, v, fake.Token(fake.GitHubActionsClaims(audience)))
}

// TestGoOIDCRefusesNoneAndHMAC checks go-oidc's own algorithm check, which
// stands behind the one in route: its verifier must refuse "none" and an
// HS256 token keyed with the public key even when handed them directly.
func TestGoOIDCRefusesNoneAndHMAC(t *testing.T) {
	fake, v := trustedFake(t, "github")
	idv, err := v.idTokenVerifier(t.Context(), v.issuers[fake.URL])
	if err != nil {
		t.Fatal(err)
	}
	claims := fake.GitHubActionsClaims(audience)
	for name, raw := range map[string]string{
		"none":  fake.UnsignedToken(claims),
		"HS256": fake.HMACToken(claims, fake.PublicKeyPEM()),
	} {
		if _, err := idv.Verify(t.Context(), raw); err == nil {
			t.Errorf("go-oidc accepted a token signed with %s", name)
		}
	}
	if _, err := idv.Verify(t.Context(), fake.Token(claims)); err != nil {
		t.Errorf("go-oidc refused a good token: %v", err)
	}
}
