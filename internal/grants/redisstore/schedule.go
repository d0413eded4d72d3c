package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
)

var (
	//go:embed claim.lua
	claimLua    string
	claimScript = redis.NewScript(claimLua)
)

// Claim returns up to max IDs due at or before now, the most overdue first
// from either queue, and moves each to now+lease in the same script.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, max int) ([]grants.RequestID, error) {
	if max <= 0 {
		return nil, nil
	}
	// A score is its time rounded up to the millisecond, so "now" rounds
	// down: nothing is claimed before its time.
	ids, err := claimScript.Run(ctx, s.client, []string{s.deadlines, s.expiries},
		now.UnixMilli(), ceilMilli(now.Add(lease)), max,
	).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim due requests: %w", err)
	}
	out := make([]grants.RequestID, len(ids))
	for i, id := range ids {
		out[i] = grants.RequestID(id)
	}
	return out, nil
}

// NextDue returns the earliest scheduled time in either queue, to the
// millisecond (rounded up), or the zero time when both are empty.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	pipe := s.client.Pipeline()
	d := pipe.ZRangeWithScores(ctx, s.deadlines, 0, 0)
	e := pipe.ZRangeWithScores(ctx, s.expiries, 0, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return time.Time{}, fmt.Errorf("read next due time: %w", err)
	}
	var next time.Time
	for _, zs := range [][]redis.Z{d.Val(), e.Val()} {
		if len(zs) == 0 {
			continue
		}
		if at := time.UnixMilli(int64(zs[0].Score)); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, nil
}

// ceilMilli is t in unix milliseconds, rounded up so that a queue never
// makes a record due before its time.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
