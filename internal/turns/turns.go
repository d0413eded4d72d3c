// Package turns hands out turns at a fixed rate from one schedule that
// every replica shares through Redis.
//
// Slack allows about one message a second in a channel, and every replica
// writes the same audit channel. Each replica paces its own calls, but
// not the others': under load, the replica whose writer had the channel
// took every turn the moment Slack's budget refilled, and the other's
// writes were refused for minutes, their events piling up in its memory
// (a SIGKILLed and restarted replica's, in the 100,000-grant bench: 160
// refusals in a row, 250 KiB more resident each second). With one
// schedule, turns go in the order they were asked for, whichever replica
// asks.
package turns

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxAhead bounds how far ahead of Redis's clock the schedule may be
// booked. Honest replicas book at most a turn or two each; a schedule
// further ahead was written by someone else, and is started again rather
// than obeyed, so that a write to Redis cannot silence the channel.
const MaxAhead = time.Minute

// reserve books the next turn on the schedule in KEYS[1] (the time, in
// ms of Redis's clock, from which the next turn is free) and returns how
// many ms until the booked turn. A burst of ARGV[2] turns may go at once
// after a quiet spell, as Slack allows; then one every ARGV[1] ms. It is
// the generic cell rate algorithm, on the server's clock, so replicas'
// clocks do not matter.
var reserve = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local every = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local maxahead = tonumber(ARGV[3])
local free = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if free > now + maxahead then
  free = now
end
local nextfree = math.max(free, now) + every
local turn = nextfree - burst * every
redis.call('SET', KEYS[1], nextfree, 'PX', nextfree - now + maxahead)
return math.max(0, turn - now)
`)

// Schedule is one shared schedule of turns.
type Schedule struct {
	client redis.Scripter
	key    string
	every  time.Duration
	burst  int
}

// New returns the schedule kept under key: a turn every every, and up to
// burst turns at once after a quiet spell.
func New(client redis.Scripter, key string, every time.Duration, burst int) *Schedule {
	return &Schedule{client: client, key: key, every: every, burst: max(1, burst)}
}

// Reserve books the next turn and returns how long until it.
func (s *Schedule) Reserve(ctx context.Context) (time.Duration, error) {
	ms, err := reserve.Run(ctx, s.client, []string{s.key}, s.every.Milliseconds(), s.burst, MaxAhead.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("book a turn on %s: %w", s.key, err)
	}
	return min(time.Duration(ms)*time.Millisecond, MaxAhead), nil
}

// Wait books the next turn, waits for it, and returns how long it
// waited: a wait says the schedule is at its rate. When Redis cannot be
// reached it returns the error at once: the caller goes ahead, paced by
// Slack's own answers, rather than stop writing.
func (s *Schedule) Wait(ctx context.Context) (time.Duration, error) {
	d, err := s.Reserve(ctx)
	if err != nil || d <= 0 {
		return 0, err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return d, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
