// Package queue runs the bot's Slack writes in the background: in order
// per key (one request's messages never overtake each other), retried with
// exponential backoff, honouring Slack's Retry-After when rate limited. The
// domain hands events over and moves on; it never waits on Slack.
package queue

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/slack-go/slack"
)

// Job is one Slack write. It is retried until it succeeds, fails for good
// (a Slack error that a retry cannot fix, such as channel_not_found), or
// MaxElapsed has passed.
type Job func(ctx context.Context) error

// Queue is a set of per-key FIFO queues, each drained by its own goroutine
// while it has work.
type Queue struct {
	log *slog.Logger
	// MaxElapsed bounds how long one job is retried; default 24h, so an
	// outage of Slack loses nothing the bot meant to say.
	MaxElapsed time.Duration
	// InitialInterval and MaxInterval shape the backoff; defaults 500ms, 1m.
	InitialInterval, MaxInterval time.Duration
	// Grace is how long Run lets queued jobs finish after its context
	// ends; default 10s.
	Grace time.Duration
	// Failed is called with every job given up on; optional (metrics).
	Failed func(what string, err error)

	ctx    context.Context // jobs run under it; cancelled after Grace
	cancel context.CancelFunc

	mu      sync.Mutex
	pending map[string][]task
	closed  bool
	wg      sync.WaitGroup
}

type task struct {
	what string
	job  Job
}

// New returns a queue that accepts jobs at once; Run must be running for
// an orderly shutdown.
func New(log *slog.Logger) *Queue {
	ctx, cancel := context.WithCancel(context.Background())
	return &Queue{
		log: log, ctx: ctx, cancel: cancel, pending: map[string][]task{},
		MaxElapsed: 24 * time.Hour, InitialInterval: 500 * time.Millisecond, MaxInterval: time.Minute, Grace: 10 * time.Second,
	}
}

// Do queues job under key. what names it in logs ("approval DM to U123").
// Jobs with the same key run one after another in the order given. Do
// reports whether the job was queued: not once the queue has shut down.
func (q *Queue) Do(key, what string, job Job) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		q.log.Error("slack write dropped: shutting down", "key", key, "what", what)
		return false
	}
	_, busy := q.pending[key]
	q.pending[key] = append(q.pending[key], task{what, job})
	if !busy {
		q.wg.Add(1)
		go q.drain(key)
	}
	return true
}

// Run waits for ctx to end, then stops taking jobs and gives those queued
// Grace to finish before cancelling them.
func (q *Queue) Run(ctx context.Context) error {
	<-ctx.Done()
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(q.Grace):
		q.cancel()
		<-done
	}
	q.cancel()
	return nil
}

// Wait blocks until every queued job has finished; for tests and benchmarks.
func (q *Queue) Wait() { q.wg.Wait() }

func (q *Queue) drain(key string) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		tasks := q.pending[key]
		if len(tasks) == 0 {
			delete(q.pending, key)
			q.mu.Unlock()
			return
		}
		t := tasks[0]
		q.pending[key] = tasks[1:]
		q.mu.Unlock()
		q.run(key, t)
	}
}

func (q *Queue) run(key string, t task) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = q.InitialInterval, q.MaxInterval
	attempt := 0
	_, err := backoff.Retry(q.ctx, func() (struct{}, error) {
		attempt++
		return struct{}{}, retryable(t.job(q.ctx))
	},
		backoff.WithBackOff(b),
		backoff.WithMaxElapsedTime(q.MaxElapsed),
		backoff.WithNotify(func(err error, wait time.Duration) {
			q.log.Warn("slack write failed; will retry", "key", key, "what", t.what, "attempt", attempt, "retry_in", wait, "err", err)
		}),
	)
	if err != nil {
		q.log.Error("slack write given up", "key", key, "what", t.what, "attempts", attempt, "err", err)
		if q.Failed != nil {
			q.Failed(t.what, err)
		}
	}
}

// retryable sorts a Slack error: rate limits wait as long as Slack asks,
// server-side and network errors are retried, and errors that the same
// call would meet again (invalid_blocks, channel_not_found, not_in_channel)
// stop at once.
func retryable(err error) error {
	if err == nil {
		return nil
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return backoff.RetryAfter(int(math.Ceil(max(rl.RetryAfter, time.Second).Seconds())))
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return err
		}
		return backoff.Permanent(err)
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) && sc.Code < 500 && sc.Code != 429 {
		return backoff.Permanent(err)
	}
	if errors.Is(err, context.Canceled) {
		return backoff.Permanent(err)
	}
	return err
}

// Permanent reports whether err is one that retrying the same call would
// meet again, so that a job which batches its work can set that work
// aside rather than retry it forever.
func Permanent(err error) bool {
	var p *backoff.PermanentError
	return errors.As(retryable(err), &p)
}
