package grants

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// errStale means a record moved on while a worker was calling AWS, e.g.
// another replica finished the job first. The worker's result is dropped.
var errStale = errors.New("record moved on")

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
		ids, err := s.store.Claim(ctx, s.now(), s.opts.Lease, free)
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
	ids, err := s.store.Claim(ctx, s.now(), s.opts.Lease, s.opts.Workers)
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
	case r.State == Granting && !now.Before(r.LeaseUntil):
		// The worker that was issuing access died; finish its job.
		if r, err = s.takeLease(ctx, id, Granting); err == nil {
			_, err = s.issue(ctx, r)
		}
	case r.State == Active && !now.Before(r.ExpiresAt):
		err = s.expire(ctx, id)
	case r.State == Active && !r.WarnAt.IsZero() && !now.Before(r.WarnAt):
		err = s.warn(ctx, id)
	case r.State == Revoking && !now.Before(r.NextAttempt) && !now.Before(r.LeaseUntil):
		if r, err = s.takeLease(ctx, id, Revoking); err == nil {
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
	if err != nil && !errors.Is(err, errStale) && !errors.As(err, &ue) {
		s.log.ErrorContext(ctx, "scheduled work failed; will retry", "request_id", id, "state", r.State, "err", err)
	}
}

func (s *Service) timeOut(ctx context.Context, id RequestID) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error {
		if r.State != Pending || now.Before(r.Deadline) {
			return errStale
		}
		r.State = TimedOut
		r.DecidedAt = now
		r.note(EventTimedOut, now, "", "")
		return nil
	})
	return err
}

// escalate reminds the owners, once, of a break-glass grant nobody
// reviewed in time.
func (s *Service) escalate(ctx context.Context, id RequestID) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error {
		if r.ReviewDue.IsZero() || now.Before(r.ReviewDue) {
			return errStale
		}
		r.ReviewDue = time.Time{}
		r.note(EventReviewOverdue, now, "", "")
		return nil
	})
	return err
}

// warn tells the requester, once, that the grant ends soon.
func (s *Service) warn(ctx context.Context, id RequestID) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error {
		if r.State != Active || r.WarnAt.IsZero() || now.Before(r.WarnAt) {
			return errStale
		}
		r.WarnAt = time.Time{}
		r.note(EventExpiring, now, "", "")
		return nil
	})
	return err
}

func (s *Service) expire(ctx context.Context, id RequestID) error {
	now := s.now()
	r, err := s.store.Update(ctx, id, func(r *Request) error {
		if r.State != Active || now.Before(r.ExpiresAt) {
			return errStale
		}
		r.State = Revoking
		r.RevokeReason = ReasonExpired
		r.NextAttempt = now
		r.LeaseUntil = now.Add(s.opts.Lease)
		return nil
	})
	if err != nil {
		return err
	}
	_, err = s.revoke(ctx, r)
	return err
}

// takeLease marks a record as being worked on by this process, so no other
// worker starts the same AWS call while this one is in flight.
func (s *Service) takeLease(ctx context.Context, id RequestID, state State) (*Request, error) {
	now := s.now()
	return s.store.Update(ctx, id, func(r *Request) error {
		if r.State != state || now.Before(r.LeaseUntil) {
			return errStale
		}
		r.LeaseUntil = now.Add(s.opts.Lease)
		return nil
	})
}

// issue calls the backend for a record in Granting under this process's
// lease. The grant's clock starts now, when access is actually issued. If
// the call fails, whatever it may have done is revoked and the request ends
// as failed: a lost response must never leave a forgotten member.
func (s *Service) issue(ctx context.Context, r *Request) (*Request, error) {
	backend, err := s.backend(r)
	if err != nil {
		return r, err
	}
	if sy, ok := s.store.(Syncer); ok {
		// On failure the record stays granting; the scheduler tries again
		// once the lease lapses.
		if err := sy.Sync(ctx, r); err != nil {
			return r, fmt.Errorf("replicate %s before granting: %w", r.ID, err)
		}
	}
	start := s.now()
	g := grantOf(r)
	end, err := s.end(ctx, r, start)
	if err != nil {
		return r, err
	}
	g.Start, g.Expires = start, end
	callCtx, cancel := context.WithTimeout(ctx, s.opts.Lease/2)
	issued, grantErr := backend.Grant(callCtx, g)
	cancel()
	now := s.now()
	if grantErr != nil {
		s.log.ErrorContext(ctx, "grant failed", "request_id", r.ID, "role", r.Role, "err", grantErr)
		msg := "the AWS call failed; the error is in jitbot's log"
		if errors.Is(grantErr, ErrInvalidTarget) {
			// Backends wrap the sentinel as "invalid target: <why>"; the
			// requester needs only the why.
			msg = strings.TrimPrefix(grantErr.Error(), ErrInvalidTarget.Error()+": ")
		}
		failed, err := s.step(ctx, r.ID, nil, func(r *Request) error {
			if r.State != Granting {
				return errStale
			}
			r.State = Revoking
			r.Failure = msg
			r.RevokeReason = "grant failed"
			r.NextAttempt = now
			r.LeaseUntil = now.Add(s.opts.Lease)
			r.note(EventGrantFailed, now, "", msg)
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("record failed grant of %s: %w", r.ID, err)
		}
		if done, err := s.revoke(ctx, failed); err == nil {
			failed = done
		}
		return failed, userErr(ErrGrantFailed, fmt.Sprintf("%s was approved, but access to %s could not be granted: %s", r.ID, r.Role, msg))
	}
	active, err := s.step(ctx, r.ID, issued.Credentials, func(r *Request) error {
		if r.State != Granting {
			return errStale
		}
		r.State = Active
		r.GrantedAt = g.Start
		r.ExpiresAt = g.Expires
		if warnAt := g.Expires.Add(-s.opts.ExpiryWarning); warnAt.Sub(g.Start) >= s.opts.ExpiryWarning {
			r.WarnAt = warnAt
		}
		r.CredsExpire = issued.CredsExpire
		r.GrantAWSRequestID = issued.AWSRequestID
		r.DryRunGrant = issued.DryRun
		r.LeaseUntil = time.Time{}
		if issued.Credentials != nil {
			r.AccessKeyID = issued.Credentials.AccessKeyID
		}
		r.note(EventGranted, now, "", "")
		return nil
	})
	if err != nil {
		// The record stays in Granting; when the lease lapses the
		// scheduler issues again, which widens nothing.
		return r, fmt.Errorf("record grant of %s: %w", r.ID, err)
	}
	s.poke()
	return active, nil
}

// end is when access issued at start for r ends. An extension runs on from
// the end of the grant it extends, so the requester's access is continuous.
func (s *Service) end(ctx context.Context, r *Request, start time.Time) (time.Time, error) {
	base := start
	if r.Extends != "" {
		orig, err := s.store.Get(ctx, r.Extends)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return time.Time{}, fmt.Errorf("load %s, which %s extends: %w", r.Extends, r.ID, err)
		}
		if err == nil && orig.State == Active && orig.ExpiresAt.After(base) {
			base = orig.ExpiresAt
		}
	}
	return expiry(r.Backend, base.Add(r.Duration)), nil
}

// DefaultWorkers is how many scheduler jobs (grants, revocations, hand-
// overs) one replica runs at once, and so how many AWS calls it has open
// for them.
const DefaultWorkers = 16

// expiry is when a grant ending at t is recorded to end. An aws_sts
// grant's is rounded up to a whole second because the session policy
// states it with second precision, so that record and policy agree. An
// aws_iam_group grant's is rounded up to the millisecond of the scheduler's
// scores only: rounding it to the second would add up to a second of
// access and make every grant issued within one second fall due at the
// same instant, queueing their RemoveUserFromGroup calls behind each
// other (BENCHMARKS.md, revocation lag).
func expiry(backend string, t time.Time) time.Time {
	if backend == BackendSTS {
		return ceil(t, time.Second)
	}
	return ceil(t, time.Millisecond)
}

// revoke makes sure the access of a record in Revoking is gone. On failure
// it schedules a retry with capped exponential backoff and raises an alert
// after AlertAfter consecutive failures; nothing is ever dropped.
func (s *Service) revoke(ctx context.Context, r *Request) (*Request, error) {
	backend, err := s.backend(r)
	if err != nil {
		return r, err
	}
	var rev Revocation
	overlap, revokeErr := s.overlapping(ctx, r)
	if revokeErr == nil && overlap == "" {
		callCtx, cancel := context.WithTimeout(ctx, s.opts.Lease/2)
		rev, revokeErr = backend.Revoke(callCtx, grantOf(r))
		cancel()
	}
	if overlap != "" {
		s.log.InfoContext(ctx, "access kept for another grant", "request_id", r.ID, "kept_for", overlap, "target", r.Target, "principal", r.Principal)
	}
	now := s.now()
	if revokeErr != nil {
		failed, err := s.step(ctx, r.ID, nil, func(r *Request) error {
			if r.State != Revoking {
				return errStale
			}
			r.Attempts++
			r.LastError = revokeErr.Error()
			r.NextAttempt = now.Add(s.backoff(r.Attempts))
			r.LeaseUntil = time.Time{}
			if r.Attempts == s.opts.AlertAfter {
				r.note(EventRevokeFailed, now, "", revokeErr.Error())
			}
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("record failed revocation of %s: %w (revoke: %v)", r.ID, err, revokeErr)
		}
		s.poke()
		return failed, fmt.Errorf("revoke %s (attempt %d): %w", r.ID, failed.Attempts, revokeErr)
	}
	done, err := s.step(ctx, r.ID, nil, func(r *Request) error {
		if r.State != Revoking {
			return errStale
		}
		r.State = Revoked
		if r.Failure != "" {
			r.State = Failed
		} else {
			r.note(EventRevoked, now, r.RevokedBy, "")
		}
		r.RevokedAt = now
		r.CleanupAt = rev.CleanupAt
		r.RevokeAWSRequestID = rev.AWSRequestID
		r.DryRunRevoke = rev.DryRun
		r.Attempts = 0
		r.LastError = ""
		r.NextAttempt = time.Time{}
		r.LeaseUntil = time.Time{}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("record revocation of %s: %w", r.ID, err)
	}
	if !done.CleanupAt.IsZero() {
		s.poke()
	}
	return done, nil
}

// overlapping returns the ID of another live grant of the same IAM group to
// the same user, if any. Group membership is one fact shared by every grant
// that gives it, so it is removed only when the last of them ends; an STS
// session belongs to its grant alone.
func (s *Service) overlapping(ctx context.Context, r *Request) (RequestID, error) {
	h, _ := HoldOf(r)
	if h == (Hold{}) {
		return "", nil
	}
	// The index, not a scan of every open record: at 10,000 grants the
	// scan took 150 ms per revocation.
	holders, err := s.store.Holders(ctx, h)
	if err != nil {
		return "", fmt.Errorf("look for other grants of %s to %s: %w", r.Target, r.Principal, err)
	}
	for _, o := range holders {
		if oh, _ := HoldOf(o); o.ID != r.ID && oh == h && (o.State == Active || o.State == Granting) {
			return o.ID, nil
		}
	}
	return "", nil
}

// cleanup removes what a revocation left behind once it is no longer
// needed (the STS deny statement, after the session's own expiry).
func (s *Service) cleanup(ctx context.Context, r *Request) error {
	backend, err := s.backend(r)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, s.opts.Lease/2)
	cleanErr := backend.Cleanup(callCtx, grantOf(r))
	cancel()
	now := s.now()
	_, err = s.store.Update(ctx, r.ID, func(r *Request) error {
		if !r.State.Terminal() || r.CleanupAt.IsZero() {
			return errStale
		}
		if cleanErr != nil {
			r.Attempts++
			r.LastError = cleanErr.Error()
			r.CleanupAt = now.Add(s.backoff(r.Attempts))
			return nil
		}
		r.CleanupAt = time.Time{}
		r.Attempts = 0
		r.LastError = ""
		return nil
	})
	if cleanErr != nil {
		return fmt.Errorf("clean up after %s: %w", r.ID, cleanErr)
	}
	return err
}

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

// ceil is t rounded up to a multiple of unit.
func ceil(t time.Time, unit time.Duration) time.Time {
	if u := t.Truncate(unit); !u.Equal(t) {
		return u.Add(unit)
	}
	return t
}

// backend is the one that issues and removes r's access: the dry-run
// backend for a dry run, whatever mode jitbot is in now, so that a dry
// run never reaches AWS and a real grant is never left to a dry run.
func (s *Service) backend(r *Request) (Backend, error) {
	if r.DryRun {
		if s.opts.DryRunBackend == nil {
			return nil, fmt.Errorf("request %s is a dry run and jitbot has no dry-run backend", r.ID)
		}
		return s.opts.DryRunBackend, nil
	}
	b := s.opts.Backends[r.Backend]
	if b == nil {
		return nil, fmt.Errorf("request %s names unknown backend %q", r.ID, r.Backend)
	}
	return b, nil
}

func grantOf(r *Request) Grant {
	ids := approvers(r)
	if r.AutoApproved {
		ids = []string{"auto"}
	}
	return Grant{
		RequestID:      r.ID,
		Backend:        r.Backend,
		Target:         r.Target,
		Principal:      r.Principal,
		RequesterEmail: r.Requester.Email,
		SessionName:    r.SessionName,
		SessionPolicy:  r.SessionPolicy,
		Approvers:      ids,
		Start:          r.GrantedAt,
		Expires:        r.ExpiresAt,
		CredsExpire:    r.CredsExpire,
	}
}
