package redisstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
)

// refsRetention is how long the places of a request's Slack messages are
// kept after the last one was recorded: long enough to update them for any
// grant, short enough that Redis does not grow with history.
const refsRetention = 30 * 24 * time.Hour

func (s *Store) refsKey(id grants.RequestID) string {
	return s.tag + ":refs:" + string(id)
}

// SetRef records where one of the request's Slack messages is (key names
// the message, e.g. "audit" or "approver:U123"; value is channel and ts),
// so that it can be updated later, by this process or after a restart.
func (s *Store) SetRef(ctx context.Context, id grants.RequestID, key, value string) error {
	k := s.refsKey(id)
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, key, value)
		p.Expire(ctx, k, refsRetention)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record message %s of %s: %w", key, id, err)
	}
	return nil
}

// Refs returns every message place recorded for the request.
func (s *Store) Refs(ctx context.Context, id grants.RequestID) (map[string]string, error) {
	m, err := s.client.HGetAll(ctx, s.refsKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read message places of %s: %w", id, err)
	}
	return m, nil
}

// FirstSeen reports whether key is new, and remembers it for ttl (SET NX),
// so that only one replica handles a redelivered Slack envelope.
func (s *Store) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := s.client.SetNX(ctx, s.tag+":seen:"+key, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("remember %s: %w", key, err)
	}
	return ok, nil
}

// takeScript records a use in a sorted set scored by time, after dropping
// uses older than the window, unless the limit is reached: one atomic step,
// so two replicas cannot both take the last use.
var takeScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
	return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// Take implements grants.Limiter for the roles' breakglass_limit, shared
// by every replica.
func (s *Store) Take(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error) {
	ms := now.UnixMilli()
	member := fmt.Sprintf("%d-%d", now.UnixNano(), rand.Int64())
	n, err := takeScript.Run(ctx, s.client, []string{s.tag + ":limit:" + key}, ms, window.Milliseconds(), limit, member).Int()
	if err != nil {
		return false, fmt.Errorf("count %s: %w", key, err)
	}
	return n == 1, nil
}
