package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
)

func (s *Store) holdKey(h grants.Hold) string {
	return s.tag + ":holds:" + h.Backend + "|" + h.Target + "|" + h.Principal
}

// Holders returns the records in h's index (see grants.Store).
func (s *Store) Holders(ctx context.Context, h grants.Hold) ([]*grants.Request, error) {
	ids, err := s.client.SMembers(ctx, s.holdKey(h)).Result()
	if err != nil {
		return nil, fmt.Errorf("list holders of %s in %s: %w", h.Principal, h.Target, err)
	}
	return s.load(ctx, ids)
}

// Reindex adds every open record to the index of what it holds. Records
// written before the index existed are in none; running it again changes
// nothing. Open runs it once per store, then marks the store indexed
// (since every write keeps the index, once is enough), because reading
// every open record at each start delayed the first revocations after a
// restart by 150 ms at 10,000 grants.
func (s *Store) Reindex(ctx context.Context) error {
	if err := s.reindex(ctx); err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.indexed(), time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return fmt.Errorf("mark the holder index complete: %w", err)
	}
	return nil
}

// reindexOnce runs Reindex unless the store is marked indexed.
func (s *Store) reindexOnce(ctx context.Context) error {
	n, err := s.client.Exists(ctx, s.indexed()).Result()
	if err != nil {
		return fmt.Errorf("read the holder index mark: %w", err)
	}
	if n == 1 {
		return nil
	}
	return s.Reindex(ctx)
}

// indexed is the key that marks the holder index complete.
func (s *Store) indexed() string { return s.tag + ":holds-indexed" }

func (s *Store) reindex(ctx context.Context) error {
	open, err := s.Open(ctx)
	if err != nil {
		return err
	}
	pipe := s.client.Pipeline()
	for _, r := range open {
		if h, live := grants.HoldOf(r); live {
			pipe.SAdd(ctx, s.holdKey(h), string(r.ID))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reindex holders: %w", err)
	}
	return nil
}
