package grants

import (
	"context"
	"sync"
	"time"
)

// breakglassWindow is the sliding window of a role's breakglass_limit.
const breakglassWindow = 24 * time.Hour

// Limiter counts uses of a key over a sliding window, for the roles'
// breakglass_limit. The Redis store implements it for several replicas.
type Limiter interface {
	// Take records one use of key at now if fewer than limit uses were
	// recorded in the window before now, and reports whether it did.
	Take(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error)
}

// memLimiter is a Limiter for a single process.
type memLimiter struct {
	mu   sync.Mutex
	uses map[string][]time.Time
}

func (m *memLimiter) Take(_ context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	recent := m.uses[key][:0]
	for _, t := range m.uses[key] {
		if now.Sub(t) < window {
			recent = append(recent, t)
		}
	}
	if len(recent) >= limit {
		m.uses[key] = recent
		return false, nil
	}
	m.uses[key] = append(recent, now)
	return true, nil
}
