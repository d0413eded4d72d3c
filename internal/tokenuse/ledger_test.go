package tokenuse_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/internal/tokenuse"
)

const issuer = "https://token.actions.githubusercontent.com"

func setup(t *testing.T) (*tokenuse.Ledger, redis.UniversalClient) {
	t.Helper()
	srv := testenv.StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { client.Close() })
	return tokenuse.New(client, "jit"), client
}

func TestOneRequestPerToken(t *testing.T) {
	l, client := setup(t)
	ctx := t.Context()
	expires := time.Now().Add(10 * time.Minute)

	first, _, err := l.Claim(ctx, issuer, "jti:abc", expires)
	if err != nil || !first {
		t.Fatalf("first Claim = %v, %v; want true", first, err)
	}
	if first, prior, err := l.Claim(ctx, issuer, "jti:abc", expires); err != nil || first || prior != "" {
		t.Errorf("Claim while the request is being made = %v %q %v; want false and no id yet", first, prior, err)
	}
	if err := l.Bind(ctx, issuer, "jti:abc", "JIT-AAAAAA"); err != nil {
		t.Fatal(err)
	}
	if first, prior, err := l.Claim(ctx, issuer, "jti:abc", expires); err != nil || first || prior != "JIT-AAAAAA" {
		t.Errorf("replayed Claim = %v %q %v; want false and JIT-AAAAAA", first, prior, err)
	}
	// Forget does not undo a request that was made.
	if err := l.Forget(ctx, issuer, "jti:abc"); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := l.Claim(ctx, issuer, "jti:abc", expires); first {
		t.Errorf("Forget released a claim bound to a request")
	}
	// The same jti from another issuer is another token.
	if first, _, _ := l.Claim(ctx, "https://gitlab.example.com", "jti:abc", expires); !first {
		t.Errorf("another issuer's token with the same jti was taken for a replay")
	}

	// The key names neither the token ID nor the issuer, and lives until
	// the token's expiry plus the grace.
	keys := client.Keys(ctx, "*").Val()
	if len(keys) != 2 {
		t.Fatalf("keys %v, want one per token", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "abc") || strings.Contains(k, "github") || !strings.HasPrefix(k, "{jit}:tokenuse:") {
			t.Errorf("key %q", k)
		}
		ttl := client.TTL(ctx, k).Val()
		if want := 10*time.Minute + tokenuse.Grace; ttl > want || ttl < want-time.Minute {
			t.Errorf("TTL of %s = %v, want about %v", k, ttl, want)
		}
	}
}

func TestForgetLetsARefusedRequestBeRetried(t *testing.T) {
	l, _ := setup(t)
	ctx := t.Context()
	expires := time.Now().Add(time.Minute)
	if first, _, _ := l.Claim(ctx, issuer, "sha256:1", expires); !first {
		t.Fatal("first claim refused")
	}
	if err := l.Forget(ctx, issuer, "sha256:1"); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := l.Claim(ctx, issuer, "sha256:1", expires); !first {
		t.Errorf("a forgotten claim could not be made again")
	}
}

func TestExpiredTokenIsStillRememberedForTheGrace(t *testing.T) {
	l, client := setup(t)
	if _, _, err := l.Claim(t.Context(), issuer, "jti:old", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, k := range client.Keys(t.Context(), "*").Val() {
		if ttl := client.TTL(t.Context(), k).Val(); ttl <= 0 || ttl > tokenuse.Grace {
			t.Errorf("TTL %v, want within the grace %v", ttl, tokenuse.Grace)
		}
	}
}

// TestConcurrentReplaysOneWins races the same token's requests, as
// replicas behind a load balancer would see them: exactly one is first.
func TestConcurrentReplaysOneWins(t *testing.T) {
	l, _ := setup(t)
	expires := time.Now().Add(time.Minute)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		firsts int
	)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, _, err := l.Claim(t.Context(), issuer, "jti:race", expires)
			if err != nil {
				t.Error(err)
			}
			if first {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firsts != 1 {
		t.Errorf("%d claims were first, want exactly 1", firsts)
	}
}
