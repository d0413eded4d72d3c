package redisstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLockTTL is how long a lock outlives a holder that died without
// releasing it. Holders (a rewrite of one role's revoke deny: two or three
// IAM calls) finish well within it.
const DefaultLockTTL = 30 * time.Second

// lockPoll bounds the pause between two attempts to take a held lock.
const lockPoll = 20 * time.Millisecond

// unlockScript deletes the lock only if it still holds the caller's token,
// so a holder whose lock expired and was taken by another cannot release
// the other's.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Lock takes the lock named key, shared by every process on this Redis and
// prefix ({prefix}:lock:<key>), retrying until ctx is done. The lock
// expires after Options.LockTTL if unlock is never called. It implements
// awsgrant.Locker.
func (s *Store) Lock(ctx context.Context, key string) (unlock func(), err error) {
	k := s.tag + ":lock:" + key
	var b [16]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails
	token := hex.EncodeToString(b[:])
	for {
		ok, err := s.client.SetNX(ctx, k, token, s.lockTTL).Result()
		if err != nil {
			return nil, fmt.Errorf("take lock %s: %w", key, err)
		}
		if ok {
			return func() { s.unlock(k, token) }, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("take lock %s: held by another process: %w", key, context.Cause(ctx))
		case <-time.After(lockPoll/2 + rand.N(lockPoll/2)):
		}
	}
}

// unlock releases k if it still holds token. It has its own deadline:
// the holder's context may be done by now, and a lock left behind only
// delays the next holder by the TTL.
func (s *Store) unlock(k, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = unlockScript.Run(ctx, s.client, []string{k}, token).Err()
}
