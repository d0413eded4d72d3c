package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// Reindex adds every open record to the index of what it holds and to
// those of its people and role (people.go). Records written before an
// index existed are in none; running it again changes nothing. Open runs
// it once per store and index version, then marks the store indexed
// (since every write keeps the indexes, once is enough), because reading
// every open record at each start delayed the first revocations after a
// restart by 150 ms at 10,000 grants.
func (s *Store) Reindex(ctx context.Context) error {
	if err := s.reindex(ctx); err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.indexed(), indexVersion+" "+time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return fmt.Errorf("mark the indexes complete: %w", err)
	}
	return nil
}

// indexVersion names the set of indexes a store marked indexed has: 2
// added the people and role indexes and the gauge sets to the holders. A store marked with
// an earlier version (or none) is indexed again when opened.
const indexVersion = "v2"

// reindexOnce runs Reindex unless the store is marked indexed at
// indexVersion.
func (s *Store) reindexOnce(ctx context.Context) error {
	mark, err := s.client.Get(ctx, s.indexed()).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read the index mark: %w", err)
	}
	if strings.HasPrefix(mark, indexVersion+" ") {
		return nil
	}
	return s.Reindex(ctx)
}

// reindexBatch is how many records Reindex indexes per round trip.
const reindexBatch = 500

// indexed is the key that marks the indexes complete. Its name is the
// first version's, which indexed the holders only.
func (s *Store) indexed() string { return s.tag + ":holds-indexed" }

func (s *Store) reindex(ctx context.Context) error {
	open, err := s.Open(ctx)
	if err != nil {
		return err
	}
	pipe := s.client.Pipeline()
	for i, r := range open {
		if i > 0 && i%reindexBatch == 0 {
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("reindex: %w", err)
			}
		}
		if h, live := grants.HoldOf(r); live {
			pipe.SAdd(ctx, s.holdKey(h), string(r.ID))
		}
		user, filer := s.peopleKeys(r)
		for _, k := range []string{user, filer, s.roleKey(r.Role)} {
			pipe.SAdd(ctx, k, string(r.ID))
		}
		s.reindexGauges(ctx, pipe, r)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("reindex holders: %w", err)
	}
	return nil
}
