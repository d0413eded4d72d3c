// Package tokenuse remembers which workload tokens have made a request,
// so that the workload API lets each token make one. A token that leaks
// from a job's log, or a request captured on its way, then cannot be
// replayed for a second grant while the token is still valid.
package tokenuse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
)

// Grace is how long past its expiry a token is remembered: the verifier
// accepts a token a little after its exp for clock skew, and the
// entry must outlive every moment the token is accepted.
const Grace = 5 * time.Minute

// making is the value of a token's entry while its request is being made.
const making = "-"

// Ledger keeps one Redis key per token that made a request, named by a
// digest of the issuer and the token's ID (workload.Identity.TokenID), so
// that neither the token nor its jti is stored, and holding the request's
// ID until the token can no longer be used. Safe for concurrent use, and
// shared by every replica through Redis.
type Ledger struct {
	client redis.UniversalClient
	tag    string
	now    func() time.Time
}

// New returns a ledger in client under prefix (JIT_REDIS_PREFIX).
func New(client redis.UniversalClient, prefix string) *Ledger {
	return &Ledger{client: client, tag: redisstore.KeyTag(prefix), now: time.Now}
}

func (l *Ledger) key(issuer, tokenID string) string {
	sum := sha256.Sum256([]byte(issuer + "\n" + tokenID))
	return l.tag + ":tokenuse:" + hex.EncodeToString(sum[:])
}

// Claim records that the token is making a request, to be remembered
// until expires plus Grace. first is false when the token has made one
// already (or is making it now); prior is then that request's ID, or ""
// while it is still being made.
func (l *Ledger) Claim(ctx context.Context, issuer, tokenID string, expires time.Time) (first bool, prior grants.RequestID, err error) {
	ttl := max(expires.Sub(l.now())+Grace, Grace)
	key := l.key(issuer, tokenID)
	old, err := l.client.SetArgs(ctx, key, making, redis.SetArgs{Mode: "NX", TTL: ttl, Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return true, "", nil
	case err != nil:
		return false, "", fmt.Errorf("tokenuse: claiming a token: %w", err)
	case old == making:
		return false, "", nil
	}
	return false, grants.RequestID(old), nil
}

// Bind names the request the claimed token made, keeping its expiry.
func (l *Ledger) Bind(ctx context.Context, issuer, tokenID string, id grants.RequestID) error {
	err := l.client.SetArgs(ctx, l.key(issuer, tokenID), string(id), redis.SetArgs{Mode: "XX", KeepTTL: true}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("tokenuse: recording request %s: %w", id, err)
	}
	return nil
}

// Forget takes back a claim whose request was not made (refused by the
// rules, a bad role), so that the job may try again with the same token;
// nothing was granted that a replay could multiply. A claim already bound
// to a request is kept.
func (l *Ledger) Forget(ctx context.Context, issuer, tokenID string) error {
	key := l.key(issuer, tokenID)
	err := l.client.Watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) || (err == nil && v != making) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Del(ctx, key).Err() })
		return err
	}, key)
	if err != nil {
		return fmt.Errorf("tokenuse: forgetting a claim: %w", err)
	}
	return nil
}
