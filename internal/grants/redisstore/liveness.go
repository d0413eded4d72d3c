package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
)

// Liveness (grants.LivenessStore): a key per process that lives while the
// process renews it, and a hash of the records under a lease with the
// process holding it, kept by write.lua.

func (s *Store) aliveKey(process string) string { return s.tag + ":alive:" + process }
func (s *Store) leases() string                 { return s.tag + ":leases" }

// Beat keeps process's liveness key for ttl.
func (s *Store) Beat(ctx context.Context, process string, ttl time.Duration) error {
	if err := s.client.Set(ctx, s.aliveKey(process), time.Now().UTC().Format(time.RFC3339Nano), ttl).Err(); err != nil {
		return fmt.Errorf("renew the liveness key of %s: %w", process, err)
	}
	return nil
}

// Alive reports which of processes have a liveness key.
func (s *Store) Alive(ctx context.Context, processes []string) (map[string]bool, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.IntCmd, len(processes))
	for i, p := range processes {
		cmds[i] = pipe.Exists(ctx, s.aliveKey(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read liveness keys: %w", err)
	}
	out := make(map[string]bool, len(processes))
	for i, p := range processes {
		out[p] = cmds[i].Val() == 1
	}
	return out, nil
}

// Leased returns the records under a lease, by the process holding it.
func (s *Store) Leased(ctx context.Context) (map[grants.RequestID]string, error) {
	m, err := s.client.HGetAll(ctx, s.leases()).Result()
	if err != nil {
		return nil, fmt.Errorf("read the leases: %w", err)
	}
	out := make(map[grants.RequestID]string, len(m))
	for id, owner := range m {
		out[grants.RequestID(id)] = owner
	}
	return out, nil
}

var (
	//go:embed makedue.lua
	makeDueLua    string
	makeDueScript = redis.NewScript(makeDueLua)
)

// MakeDue moves the queued records ids to now in whichever queue holds
// them, unless they are due earlier already; records in neither stay out.
func (s *Store) MakeDue(ctx context.Context, ids []grants.RequestID, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, now.UnixMilli())
	for _, id := range ids {
		args = append(args, string(id))
	}
	if err := makeDueScript.Run(ctx, s.client, []string{s.deadlines, s.expiries}, args...).Err(); err != nil {
		return fmt.Errorf("make %d records of dead processes due: %w", len(ids), err)
	}
	return nil
}
