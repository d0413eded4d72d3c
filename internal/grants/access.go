package grants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// issue calls the backend for a record in Granting under this process's
// lease, once grantable has found that the record may grant what it says.
// The grant's clock starts now, when access is actually issued. If the
// call fails, whatever it may have done is revoked and the request ends
// as failed: a lost response must never leave a forgotten member.
func (s *Service) issue(ctx context.Context, r *Request) (*Request, error) {
	backend, err := s.backend(r)
	if err != nil {
		return r, err
	}
	why, err := s.grantable(ctx, r)
	if err != nil {
		// The record stays granting; the scheduler asks again once the
		// lease lapses.
		return r, fmt.Errorf("check %s before granting: %w", r.ID, err)
	}
	if why != "" {
		s.log.ErrorContext(ctx, "grant refused: the record does not match the catalog and its approvals", "request_id", r.ID, "role", r.Role, "why", why)
		return s.failGrant(ctx, r, "jitbot refused to issue it: "+why)
	}
	if sy, ok := s.store.(Syncer); ok {
		// On failure the record stays granting; the scheduler tries again
		// once the lease lapses.
		if err := sy.Sync(ctx, r); err != nil {
			return r, fmt.Errorf("replicate %s before granting: %w", r.ID, err)
		}
	}
	start := s.now()
	g := s.grantOf(r)
	end, err := s.end(ctx, r, start)
	if err != nil {
		return r, err
	}
	g.Start, g.Expires = start, end
	if err := s.mayCallAWS(); err != nil {
		// The record stays granting; whoever holds it next issues it.
		return r, fmt.Errorf("issue %s: %w", r.ID, err)
	}
	// From here the work is bounded by the lease, not by the caller's
	// deadline: an approval that waited its turn at Slack's pace may have
	// little of its own time left, and access issued but not recorded
	// would be issued a second time by whoever takes the record over.
	ctx, cancelWork := context.WithTimeout(context.WithoutCancel(ctx), s.opts.Lease)
	defer cancelWork()
	callCtx, cancel := context.WithTimeout(ctx, s.opts.Lease/2)
	issued, grantErr := backend.Grant(callCtx, g)
	cancel()
	now := s.now()
	if notStarted(grantErr) {
		// jitbot's own AWS rate limit held the call back: AWS saw nothing,
		// so there is nothing to undo and nothing to tell the requester
		// yet. The record stays granting, and the scheduler issues it
		// when this claim lapses, in its turn.
		s.log.WarnContext(ctx, "grant waits its turn at jitbot's AWS rate limit", "request_id", r.ID, "role", r.Role, "err", grantErr)
		s.poke()
		return r, nil
	}
	if grantErr != nil {
		s.log.ErrorContext(ctx, "grant failed", "request_id", r.ID, "role", r.Role, "err", grantErr)
		msg := "the AWS call failed; the error is in jitbot's log"
		if errors.Is(grantErr, ErrInvalidTarget) {
			// Backends wrap the sentinel as "invalid target: <why>"; the
			// requester needs only the why.
			msg = strings.TrimPrefix(grantErr.Error(), ErrInvalidTarget.Error()+": ")
		}
		return s.failGrant(ctx, r, msg)
	}
	active, err := s.step(ctx, r.ID, issued.Credentials, func(r *Request) error {
		return r.Activate(issued, g.Start, g.Expires, s.opts.ExpiryWarning, now)
	})
	if err != nil {
		// The record stays in Granting; when the lease lapses the
		// scheduler issues again, which widens nothing.
		return r, fmt.Errorf("record grant of %s: %w", r.ID, err)
	}
	s.poke()
	return active, nil
}

// failGrant records that r's access was not issued (msg says why, for the
// requester) and revokes whatever the attempt may have done.
func (s *Service) failGrant(ctx context.Context, r *Request, msg string) (*Request, error) {
	now := s.now()
	failed, err := s.step(ctx, r.ID, nil, func(r *Request) error {
		return r.FailGrant(msg, now, s.opts.Lease)
	})
	if err != nil {
		return r, fmt.Errorf("record failed grant of %s: %w", r.ID, err)
	}
	if done, err := s.revoke(ctx, failed); err == nil {
		failed = done
	}
	return failed, userErr(ErrGrantFailed, fmt.Sprintf("%s was approved, but access to %s could not be granted: %s", r.ID, r.Role, msg))
}

// end is when access issued at start for r ends: Duration after start, or
// after the start of its window. An extension runs on from the end of the
// grant it extends, so the requester's access is continuous.
func (s *Service) end(ctx context.Context, r *Request, start time.Time) (time.Time, error) {
	base := start
	if !r.Start.IsZero() {
		// A window ends when it was approved to end, however late it
		// was issued.
		base = r.Start
	}
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
	// A backend this process does not have is a failed attempt like any
	// other: retried, and alerted after AlertAfter, never a silent skip.
	backend, revokeErr := s.backend(r)
	var rev Revocation
	for i, g := range s.revocationsOf(ctx, r) {
		if revokeErr != nil {
			break
		}
		var overlap RequestID
		if overlap, revokeErr = s.overlapping(ctx, g); revokeErr != nil {
			break
		}
		if overlap != "" {
			s.log.InfoContext(ctx, "access kept for another grant", "request_id", g.ID, "kept_for", overlap, "target", g.Target, "principal", g.Principal)
			continue
		}
		if revokeErr = s.mayCallAWS(); revokeErr != nil {
			break
		}
		callCtx, cancel := context.WithTimeout(ctx, s.opts.Lease/2)
		rv, err := backend.Revoke(callCtx, s.grantOf(g))
		cancel()
		if revokeErr = err; i == 0 {
			rev = rv
		}
	}
	now := s.now()
	if revokeErr != nil {
		failed, err := s.step(ctx, r.ID, nil, func(r *Request) error {
			return r.RetryRevoke(revokeErr, now, s.backoff, s.opts.AlertAfter)
		})
		if err != nil {
			return r, fmt.Errorf("record failed revocation of %s: %w (revoke: %v)", r.ID, err, revokeErr)
		}
		s.poke()
		return failed, fmt.Errorf("revoke %s (attempt %d): %w", r.ID, failed.Attempts, revokeErr)
	}
	done, err := s.step(ctx, r.ID, nil, func(r *Request) error {
		return r.FinishRevoke(rev, now)
	})
	if err != nil {
		return r, fmt.Errorf("record revocation of %s: %w", r.ID, err)
	}
	if !done.CleanupAt.IsZero() {
		s.poke()
	}
	return done, nil
}

// revocationsOf is what revoking r takes away: r's own grant and, for a
// quarantined record, whatever the ledger says it was granted, and for a
// quarantined aws_sso record the same permission set to the same person
// in each other account of its role. A tampered record's fields were
// chosen by whoever wrote it: revoking what they name alone let an edited
// account, requester or principal keep the real access (catalogAccess,
// Ledger). Each is still kept where another live grant holds it.
func (s *Service) revocationsOf(ctx context.Context, r *Request) []*Request {
	out := []*Request{r}
	if r.RevokeReason != ReasonTampered {
		return out
	}
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return s.ledgerRevocations(ctx, r, r.Backend, unknownRoleGrant, out)
	}
	if r.Backend == BackendSSO && role.Backend == BackendSSO {
		for _, a := range role.Accounts {
			if t := SSOTarget(a.ID, role.PermissionSet); t != r.Target {
				g := *r
				g.Account, g.Target = a.ID, t
				out = append(out, &g)
			}
		}
	}
	return s.ledgerRevocations(ctx, r, r.Backend, role.MaxDuration, out)
}

// overlapping returns the ID of another live grant of the same IAM group to
// the same user, if any. Group membership is one fact shared by every grant
// that gives it, so it is removed only when the last of them ends; an STS
// session belongs to its grant alone. A holder counts only while it could
// still hold: active before its expiry, or granting on a fresh decision.
// An old signed version of a record written back to the store keeps no
// membership past the end it was approved for.
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
		if oh, _ := HoldOf(o); o.ID != r.ID && oh == h && s.mayHold(o) {
			return o.ID, nil
		}
	}
	return "", nil
}

// mayHold reports whether o, a holder of the same membership, may hold it
// now.
func (s *Service) mayHold(o *Request) bool {
	now := s.now()
	switch o.State {
	case Active:
		return now.Before(o.ExpiresAt)
	case Granting:
		return now.Sub(o.goodFrom()) <= s.approvalsGoodFor()
	}
	return false
}

// cleanup removes what a revocation left behind once it is no longer
// needed (the STS deny statement, after the session's own expiry).
func (s *Service) cleanup(ctx context.Context, r *Request) error {
	backend, err := s.backend(r)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, s.opts.Lease/2)
	cleanErr := backend.Cleanup(callCtx, s.grantOf(r))
	cancel()
	now := s.now()
	_, err = s.store.Update(ctx, r.ID, func(r *Request) error {
		if cleanErr != nil {
			return r.RetryCleanup(cleanErr, now, s.backoff)
		}
		return r.FinishCleanup()
	})
	if cleanErr != nil {
		return fmt.Errorf("clean up after %s: %w", r.ID, cleanErr)
	}
	return err
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

func (s *Service) grantOf(r *Request) Grant {
	ids := r.approvers()
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
		IssuedBy:       s.issuedBy(r),

		AllowRoleChaining: r.AllowRoleChaining,
		Workload:          r.Workload,
	}
}

// issuedBy is Grant.IssuedBy of r: a record in Granting is issued only
// within approvalsGoodFor of its decision (grantable).
func (s *Service) issuedBy(r *Request) time.Time {
	if r.DecidedAt.IsZero() {
		return time.Time{}
	}
	return r.DecidedAt.Add(s.approvalsGoodFor())
}

// notStarted reports whether err says the AWS call was never made: jitbot's
// own rate limit would have held it past its deadline (awslimit).
func notStarted(err error) bool {
	var held interface{ NotStarted() bool }
	return errors.As(err, &held) && held.NotStarted()
}
