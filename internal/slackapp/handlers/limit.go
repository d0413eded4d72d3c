package handlers

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Defaults of the per-user limit on the read commands (/jit list, /jit
// report, App Home): a burst of readBurst, then one every readEvery. They
// read the whole store and the user groups, so one person must not be
// able to starve the approvals that need the same Slack API.
const (
	readBurst = 5
	readEvery = 3 * time.Second
)

// limiter is a token bucket per user, in process: each replica limits
// what it handles, which bounds a flood by the number of replicas.
type limiter struct {
	burst float64
	every time.Duration

	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]bucket{}}
}

// allow takes a token of user's bucket at now. When there is none, it
// returns false and how long until there is.
func (l *limiter) allow(user string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[user]
	if !ok {
		b = bucket{tokens: l.burst, at: now}
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(elapsed)/float64(l.every))
		b.at = now
	}
	if b.tokens < 1 {
		l.buckets[user] = b
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	l.buckets[user] = b
	if len(l.buckets) > 10000 {
		l.forgetFull(now)
	}
	return true, 0
}

// forgetFull drops the buckets that have refilled, so that the map holds
// only the users who read recently.
func (l *limiter) forgetFull(now time.Time) {
	for u, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.every) >= l.burst {
			delete(l.buckets, u)
		}
	}
}

// slowDown is what a limited user is told.
func slowDown(wait time.Duration) string {
	s := max(int(math.Ceil(wait.Seconds())), 1)
	return fmt.Sprintf("Slow down: you asked jitbot for this too often. Try again in %ds.", s)
}
