package grants

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// A scheduler pass claims only as many records as it has workers: a record
// claimed waits for this process until the lease lapses, so a process
// killed with 256 claimed and 16 started left 240 grants a lease late.

// Run is the scheduler: it revokes grants at expiry, closes unanswered
// requests at their deadline, finishes work a crashed worker left behind and
// retries failed revocations with capped exponential backoff. It sleeps
// until the next deadline in the store (woken early by new work from this
// process or a worker coming free, and at most MaxIdle so it sees work from
// other replicas). Run returns when ctx is done, after the jobs it started
// have finished.
//
// Workers are refilled as each comes free rather than batch by batch: with
// many grants due at once, a batch waiting for its slowest AWS call held
// the rest back.
func (s *Service) Run(ctx context.Context) error {
	alive, stopAlive := context.WithCancel(context.WithoutCancel(ctx))
	var keeping sync.WaitGroup
	keeping.Go(func() { s.keepAlive(alive) })
	// The liveness key outlives the jobs: a process finishing its work
	// after SIGTERM is not taken over.
	defer keeping.Wait()
	defer stopAlive()
	slots := make(chan struct{}, s.opts.Workers)
	var jobs sync.WaitGroup
	defer jobs.Wait()
	jobCtx := context.WithoutCancel(ctx)
	failures := 0
	for {
		free := s.opts.Workers - len(slots)
		if free == 0 {
			if !s.sleep(ctx, s.opts.MaxIdle) {
				return nil
			}
			continue
		}
		ids, err := s.store.Claim(ctx, s.now(), s.claimLease(), free)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			delay := s.backoff(failures)
			s.log.ErrorContext(ctx, "scheduler cannot read the store; retrying", "err", err, "retry_in", delay)
			if !s.sleep(ctx, delay) {
				return nil
			}
			continue
		}
		failures = 0
		for _, id := range ids {
			slots <- struct{}{}
			jobs.Add(1)
			go func() {
				defer jobs.Done()
				s.process(jobCtx, id)
				<-slots
				s.poke() // a worker is free: more may be due
			}()
		}
		if len(ids) == free {
			continue // more may be due right now
		}
		if !s.sleep(ctx, s.untilNextDue(ctx)) {
			return nil
		}
	}
}

// RunDue claims what is due now, up to Workers records, does it, and
// reports how many records it claimed; Run does the same continuously. Jobs outlive ctx so that a shutdown
// never leaves an AWS call unrecorded; each AWS call has its own deadline.
func (s *Service) RunDue(ctx context.Context) (int, error) {
	ids, err := s.store.Claim(ctx, s.now(), s.claimLease(), s.opts.Workers)
	if err != nil {
		return 0, fmt.Errorf("claim due work: %w", err)
	}
	jobCtx := context.WithoutCancel(ctx)
	var jobs errgroup.Group
	jobs.SetLimit(s.opts.Workers)
	for _, id := range ids {
		jobs.Go(func() error {
			s.process(jobCtx, id)
			return nil
		})
	}
	jobs.Wait()
	return len(ids), nil
}

func (s *Service) untilNextDue(ctx context.Context) time.Duration {
	next, err := s.store.NextDue(ctx)
	if err != nil || next.IsZero() {
		return s.opts.MaxIdle
	}
	return min(max(next.Sub(s.now()), 0), s.opts.MaxIdle)
}

// sleep waits for d, a poke or ctx; it reports false when ctx is done.
func (s *Service) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-s.wake:
	case <-t.C:
	}
	return true
}

// process does whatever a claimed record is due for. Every step is
// recorded before AWS is called, so running it twice is harmless.
func (s *Service) process(ctx context.Context, id RequestID) {
	r, err := s.store.Get(ctx, id)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.ErrorContext(ctx, "load claimed request", "request_id", id, "err", err)
		}
		return
	}
	now := s.now()
	if left := r.leftNotes(now); len(left) > 0 {
		// publish's write re-queues the record at its own time.
		s.log.WarnContext(ctx, "handing over events a stopped process left in the journal", "request_id", id, "events", len(left))
		s.publish(ctx, r, left, nil)
		return
	}
	switch {
	case r.State == Pending && !now.Before(r.Deadline):
		err = s.timeOut(ctx, id)
	case r.State == Pending && !r.EscalateAt.IsZero() && !now.Before(r.EscalateAt):
		err = s.escalateApproval(ctx, id)
	case r.State == Pending && !r.RemindAt.IsZero() && !now.Before(r.RemindAt):
		err = s.remind(ctx, id)
	case r.State == Scheduled && !now.Before(r.Start) && !now.Before(r.LeaseUntil):
		err = s.begin(ctx, id)
	case r.State == Granting && (!now.Before(r.LeaseUntil) || s.abandoned(ctx, r)):
		// The worker that was issuing access died; finish its job.
		if r, err = s.takeLease(ctx, r, Granting); err == nil {
			_, err = s.issue(ctx, r)
		}
	case r.State == Active && !now.Before(r.ExpiresAt):
		err = s.expire(ctx, id)
	case r.State == Active && !r.WarnAt.IsZero() && !now.Before(r.WarnAt):
		err = s.warn(ctx, id)
	case r.State == Revoking && !now.Before(r.NextAttempt) && (!now.Before(r.LeaseUntil) || s.abandoned(ctx, r)):
		if r, err = s.takeLease(ctx, r, Revoking); err == nil {
			_, err = s.revoke(ctx, r)
		}
	case r.State.Terminal() && !r.CleanupAt.IsZero() && !now.Before(r.CleanupAt):
		err = s.cleanup(ctx, r)
	case !r.ReviewDue.IsZero() && !now.Before(r.ReviewDue):
		err = s.escalate(ctx, id)
	default:
		// Claimed early (clock skew between replicas, or a lease lapsed
		// while the record was still busy): put it back at its real time.
		_, err = s.store.Update(ctx, id, func(*Request) error { return nil })
	}
	var ue *UserError
	if err != nil && !errors.Is(err, ErrStale) && !errors.As(err, &ue) {
		s.log.ErrorContext(ctx, "scheduled work failed; will retry", "request_id", id, "state", r.State, "err", err)
	}
}

func (s *Service) timeOut(ctx context.Context, id RequestID) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error {
		return r.TimeOut(now)
	})
	return err
}

// escalate reminds the owners, once, of a break-glass grant nobody
// reviewed in time.
func (s *Service) escalate(ctx context.Context, id RequestID) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error {
		return r.Escalate(now)
	})
	return err
}

// warn tells the requester, once, that the grant ends soon.
func (s *Service) warn(ctx context.Context, id RequestID) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error {
		return r.Warn(now)
	})
	return err
}

func (s *Service) expire(ctx context.Context, id RequestID) error {
	now := s.now()
	r, err := s.store.Update(ctx, id, func(r *Request) error {
		return r.Expire(now, s.opts.Lease)
	})
	if err != nil {
		return err
	}
	_, err = s.revoke(ctx, r)
	return err
}

// takeLease marks a record as being worked on by this process, so no other
// worker starts the same AWS call while this one is in flight: once the
// lease seen in r lapsed, or at once from a dead process (see abandoned).
func (s *Service) takeLease(ctx context.Context, r *Request, state State) (*Request, error) {
	now := s.now()
	if now.Before(r.LeaseUntil) {
		dead := r.LeaseOwner
		s.log.InfoContext(ctx, "taking over the record of a dead process", "request_id", r.ID, "state", state, "process", dead)
		return s.store.Update(ctx, r.ID, func(r *Request) error {
			return r.TakeOver(state, dead, now, s.opts.Lease)
		})
	}
	return s.store.Update(ctx, r.ID, func(r *Request) error {
		return r.TakeLease(state, now, s.opts.Lease)
	})
}

// DefaultWorkers is how many scheduler jobs (grants, revocations, hand-
// overs) one replica runs at once, and so how many AWS calls it has open
// for them.
const DefaultWorkers = 16

// backoff is RetryBase·2^(attempt-1), capped at RetryMax, with ±10% jitter
// so that many failed revocations do not retry in lockstep.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.opts.RetryMax
	if attempt < 32 {
		d = min(s.opts.RetryBase<<(attempt-1), s.opts.RetryMax)
	}
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return d + jitter
}
