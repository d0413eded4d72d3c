package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackapp/queue"
)

func newQueue(t *testing.T) *queue.Queue {
	q := queue.New(slog.New(slog.NewTextHandler(t.Output(), nil)))
	q.InitialInterval, q.MaxInterval = time.Millisecond, 5*time.Millisecond
	return q
}

func TestJobsOfOneKeyRunInOrder(t *testing.T) {
	q := newQueue(t)
	var mu sync.Mutex
	got := map[string][]int{}
	tried := map[string]bool{}
	for i := range 50 {
		for _, key := range []string{"JIT-A", "JIT-B"} {
			q.Do(key, "post", func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				// Every seventh job fails once: order must hold across retries.
				if id := fmt.Sprint(key, i); i%7 == 0 && !tried[id] {
					tried[id] = true
					return errors.New("connection reset by peer")
				}
				got[key] = append(got[key], i)
				return nil
			})
		}
	}
	q.Wait()
	for _, key := range []string{"JIT-A", "JIT-B"} {
		if !slices.IsSorted(got[key]) || len(got[key]) != 50 {
			t.Errorf("%s ran %v, want 0..49 in order", key, got[key])
		}
	}
}

func TestRetriesUntilSlackAcceptsAndHonoursRetryAfter(t *testing.T) {
	q := newQueue(t)
	var calls []time.Time
	errs := []error{
		&slack.RateLimitedError{RetryAfter: time.Second},
		slack.SlackErrorResponse{Err: "internal_error"},
		errors.New("connection reset by peer"),
		nil,
	}
	var next string
	q.Do("JIT-A", "post", func(context.Context) error {
		calls = append(calls, time.Now())
		err := errs[0]
		errs = errs[1:]
		return err
	})
	q.Do("JIT-A", "next", func(context.Context) error { next = "ran"; return nil })
	q.Wait()
	if len(calls) != 4 {
		t.Fatalf("%d attempts, want 4 (rate limited, internal_error, network, ok)", len(calls))
	}
	if wait := calls[1].Sub(calls[0]); wait < time.Second {
		t.Errorf("retried %v after a rate limit asking for 1s", wait)
	}
	if next != "ran" {
		t.Errorf("the job queued behind the retried one did not run")
	}
}

func TestPermanentSlackErrorsStopAtOnce(t *testing.T) {
	q := newQueue(t)
	var failed []string
	q.Failed = func(what string, err error) { failed = append(failed, fmt.Sprintf("%s: %v", what, err)) }
	attempts := 0
	q.Do("JIT-A", "audit reply", func(context.Context) error {
		attempts++
		return slack.SlackErrorResponse{Err: "channel_not_found"}
	})
	q.Wait()
	if attempts != 1 {
		t.Errorf("%d attempts of a call that cannot succeed, want 1", attempts)
	}
	if len(failed) != 1 || failed[0] != "audit reply: channel_not_found" {
		t.Errorf("Failed got %q", failed)
	}
}

func TestShutdownFinishesQueuedJobsThenRefusesNewOnes(t *testing.T) {
	q := newQueue(t)
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { q.Run(ctx); close(stopped) }()
	release := make(chan struct{})
	var ran []string
	q.Do("JIT-A", "slow", func(context.Context) error { <-release; ran = append(ran, "slow"); return nil })
	q.Do("JIT-A", "queued", func(context.Context) error { ran = append(ran, "queued"); return nil })
	cancel()
	time.Sleep(20 * time.Millisecond) // let Run see the end of ctx
	q.Do("JIT-B", "late", func(context.Context) error { ran = append(ran, "late"); return nil })
	close(release)
	<-stopped
	if want := []string{"slow", "queued"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
}
