package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
)

// syncTimeout bounds how long Sync waits for a replica.
const syncTimeout = time.Second

// syncCheck confirms the record is stored exactly as the caller has it and
// writes once on this connection, so that the WAIT after it covers it.
var syncCheck = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'd') ~= ARGV[1] then
	return 0
end
redis.call('INCR', KEYS[2])
return 1
`)

var _ grants.Syncer = (*Store)(nil)

// Sync returns once r, exactly as given, is acknowledged by a replica, so
// that a failover cannot forget a grant about to be issued in AWS. It waits
// when the deployment is Sentinel (which promises a replica) or the
// primary has replicas connected; a lone server or the embedded store has
// nothing to wait for.
//
// WAIT counts the writes of its own connection only, so the check script
// and WAIT go in one pipeline on one connection (not MULTI: WAIT inside a
// transaction does not wait), with EVAL rather than EVALSHA because a
// promoted replica has no scripts cached.
func (s *Store) Sync(ctx context.Context, r *grants.Request) error {
	if s.embedded {
		return nil
	}
	var client redis.Cmdable = s.client
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, s.tag)
		if err != nil {
			return fmt.Errorf("find the primary of %s: %w", s.tag, err)
		}
		client = m
	}
	if !s.sentinel {
		info, err := client.Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Errorf("read replication info: %w", err)
		}
		if strings.Contains(info, "connected_slaves:0") {
			return nil
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	pipe := client.Pipeline()
	check := syncCheck.Eval(ctx, pipe, []string{s.recordKey(r.ID), s.tag + ":sync"}, string(data))
	wait := pipe.Do(ctx, "WAIT", 1, syncTimeout.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("replicate %s: %w", r.ID, err)
	}
	if ok, _ := check.Int(); ok != 1 {
		return fmt.Errorf("%s is not stored as it was written; a failover may have lost it", r.ID)
	}
	if n, _ := wait.Int64(); n < 1 {
		return fmt.Errorf("no replica acknowledged %s within %v", r.ID, syncTimeout)
	}
	return nil
}
