package workloadapi

import (
	"sync"
	"time"
)

// maxBuckets bounds how many keys a limiter remembers. Beyond it, the
// buckets that have refilled, which are no different from new ones, are
// dropped; a flood of distinct keys all spending at once can still grow
// it, but only by keys that verified (per subject) or distinct client IPs.
const maxBuckets = 10000

// limiter is a token bucket per key: perMinute tokens a minute, up to
// burst at once.
type limiter struct {
	rate  float64 // tokens a second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

func newLimiter(perMinute, burst int, now func() time.Time) *limiter {
	return &limiter{rate: float64(perMinute) / 60, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take spends a token of key's bucket; when there is none, it returns
// how long until there is one and false.
func (l *limiter) take(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens < 1 {
		return l.untilToken(b), false
	}
	b.tokens--
	return 0, true
}

// blocked reports whether key's bucket is empty, without spending, and
// how long until it is not.
func (l *limiter) blocked(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0, false
	}
	b = l.refill(key)
	if b.tokens < 1 {
		return l.untilToken(b), true
	}
	return 0, false
}

// spend takes a token from key's bucket if it has one.
func (l *limiter) spend(key string) { l.take(key) }

// refill returns key's bucket, made or topped up to now. l.mu is held.
func (l *limiter) refill(key string) *bucket {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.forgetFull(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.at = now
	}
	return b
}

// forgetFull drops the buckets that would be full by now. l.mu is held.
func (l *limiter) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

func (l *limiter) untilToken(b *bucket) time.Duration {
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
