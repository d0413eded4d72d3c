package directory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/wait"
)

// Slack limits the reads the directory makes per method and workspace:
// usergroups.list and usergroups.users.list to about 20 a minute (Tier 2),
// users.info to about 100 (Tier 4). A decision must see Slack's answer as
// it is after the decision began, so a cache cannot serve it; but one
// answer read after several decisions began serves them all. So reads of
// one method and key are shared: at most one is in flight, those who
// arrive while it runs and need a newer answer wait for the next one,
// which starts when it ends, and a 429 is waited out (Retry-After) by the
// read itself, once for everyone waiting on it, instead of failing a click.
// In an incident flood this turns a call per decision into a call per
// round trip, or per Retry-After while Slack holds the method back.

// readTimeout bounds one shared read, its waits for Retry-After included.
// A waiter gives up earlier when its own context ends.
const readTimeout = 30 * time.Second

// read is one call to Slack for a key.
type read[T any] struct {
	began time.Time // when the call was made (time.Now, monotonic)
	at    time.Time // the same instant on the directory's clock, for TTLs
	done  chan struct{}
	v     T
	err   error
}

// reads shares the reads of one method by key ("" for a method without).
type reads[T any] struct {
	// timeout bounds one read; zero is readTimeout. A listing of the whole
	// workspace is many pages, each of which Slack may hold back.
	timeout time.Duration

	mu   sync.Mutex
	keys map[string]*readState[T]
}

type readState[T any] struct {
	last    *read[T] // the latest read that succeeded
	running *read[T]
	next    *read[T] // starts when running ends; for those running is too old for
}

// get returns the answer of a read of key that fits: the last one, the
// one in flight, or else the next one, which call makes. now is the
// directory's clock.
func (rs *reads[T]) get(ctx context.Context, key string, fits func(*read[T]) bool, now func() time.Time, call func(context.Context) (T, error)) (T, error) {
	rs.mu.Lock()
	st := rs.stateLocked(key)
	var r *read[T]
	switch {
	case st.last != nil && fits(st.last):
		r = st.last
	case st.running != nil && fits(st.running):
		r = st.running
	case st.running == nil:
		r = &read[T]{done: make(chan struct{})}
		st.running = r
		rs.start(key, st, r, now, call)
	default:
		if st.next == nil {
			st.next = &read[T]{done: make(chan struct{})}
		}
		r = st.next
	}
	rs.mu.Unlock()
	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// put keeps v as the answer of a read of key made at began (at on the
// directory's clock), unless a newer one is kept: for answers that come
// from a listing of many keys at once (users.list).
func (rs *reads[T]) put(key string, v T, began, at time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st := rs.stateLocked(key)
	if st.last != nil && st.last.began.After(began) {
		return
	}
	done := make(chan struct{})
	close(done)
	st.last = &read[T]{began: began, at: at, done: done, v: v}
}

// stateLocked is key's state, made on first use. rs.mu is held.
func (rs *reads[T]) stateLocked(key string) *readState[T] {
	if rs.keys == nil {
		rs.keys = map[string]*readState[T]{}
	}
	st := rs.keys[key]
	if st == nil {
		st = &readState[T]{}
		rs.keys[key] = st
	}
	return st
}

// start stamps r and makes its call in the background. It runs with rs.mu
// held.
func (rs *reads[T]) start(key string, st *readState[T], r *read[T], now func() time.Time, call func(context.Context) (T, error)) {
	r.began, r.at = time.Now(), now()
	go func() {
		timeout := rs.timeout
		if timeout == 0 {
			timeout = readTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		r.v, r.err = callWaitingOutLimits(ctx, call)
		cancel()
		rs.mu.Lock()
		if r.err == nil {
			st.last = r
		}
		st.running, st.next = st.next, nil
		if st.running != nil {
			rs.start(key, st, st.running, now, call)
		}
		rs.mu.Unlock()
		close(r.done)
	}()
}

// callWaitingOutLimits calls until Slack answers other than 429, waiting
// as long as each 429 asks, or until ctx ends.
func callWaitingOutLimits[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	for {
		v, err := call(ctx)
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) {
			return v, err
		}
		d := max(rl.RetryAfter, 100*time.Millisecond)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return v, err // it would end waiting; say why now
		}
		if wait.Sleep(ctx, d) != nil {
			return v, err
		}
	}
}
