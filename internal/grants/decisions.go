package grants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/rules"
)

// Approve records approverID's approval. When the role's approvals_required
// distinct approvers have approved, access is issued before Approve returns.
// The approver must be a current approver of the role (user groups are
// resolved now), a full member of the workspace whom the role's
// approver_rule admits, and not the requester; earlier approvals that no
// longer count are dropped (see staleApprovals). The requester must still
// be eligible; otherwise the request is denied.
func (s *Service) Approve(ctx context.Context, id RequestID, approverID string) (*Request, error) {
	ctx = Fresh(ctx)
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayDecide(ctx, r, approverID, "approve"); err != nil {
		return r, err
	}
	if err := s.approvableExtension(ctx, r); err != nil {
		return r, err
	}
	now := s.now()
	stillEligible, err := s.requesterEligible(ctx, r, now)
	if err != nil {
		return r, err
	}
	stale, err := s.staleApprovals(ctx, r)
	if err != nil {
		return r, err
	}
	// The approver was checked against the step r waits on; their click
	// counts at that step only. If r has moved on meanwhile (a second
	// approver completed the step) or gone back (an approval that no
	// longer counts was dropped), it is refused.
	at := r.CurrentStep()
	// What this approval did decides what comes next, not the record as it
	// is after its events are handed over: a second approver may have moved
	// it on meanwhile, and then issuing is theirs to do.
	var denied, granting bool
	var moved error
	updated, err := s.step(ctx, id, nil, func(r *Request) error {
		moved = nil
		if stillEligible != nil {
			err := r.DenyIneligible(approverID, stillEligible.Msg, now)
			denied = r.State == Denied
			return err
		}
		dropped := len(r.Approvals)
		r.dropApprovals(stale, now)
		if r.State == Pending && r.CurrentStep() != at {
			moved = stepMoved(r, at)
			if dropped == len(r.Approvals) {
				return moved
			}
			return nil // the dropped approvals are recorded; this one is not
		}
		err := r.Approve(approverID, now, s.opts.Lease)
		granting = r.State == Granting
		return err
	})
	if err != nil {
		return s.refused(ctx, r, id, approverID, err)
	}
	r = updated
	if moved != nil {
		return s.refused(ctx, r, id, approverID, moved)
	}
	if denied {
		return r, userErr(ErrIneligible, fmt.Sprintf("%s was denied: %s no longer qualifies for %s", id, r.Requester.Name, r.Role))
	}
	if !granting {
		return r, nil
	}
	return s.issue(ctx, r)
}

// requesterEligible checks r's requester as it is now: a person as the
// directory knows them (stillEligible), a workload as recorded against
// the role's workloads rules. It returns why they no longer qualify, or nil.
func (s *Service) requesterEligible(ctx context.Context, r *Request, now time.Time) (*UserError, error) {
	if r.ByWorkload() {
		role, ok := s.Catalog().Role(r.Role)
		if !ok {
			return &UserError{Msg: fmt.Sprintf("the catalog has no role %s", r.Role), Err: ErrIneligible}, nil
		}
		return workloadEligible(role, *r.Workload, r.ruleInput(), now)
	}
	requester, err := s.dir.User(Fresh(ctx), r.Requester.ID)
	if err != nil {
		return nil, fmt.Errorf("look up requester %s: %w", r.Requester.ID, err)
	}
	if why, err := s.stillEligible(r, requester, now); why != nil || err != nil {
		return why, err
	}
	return s.filerStillMay(ctx, r, requester, now)
}

// stillEligible checks r's requester, as the directory knows them this
// moment, against the rules in force. It returns why they no longer
// qualify, or nil; err is for a rule that failed.
func (s *Service) stillEligible(r *Request, requester rules.User, now time.Time) (why *UserError, err error) {
	var refusal error
	if role, err := s.role(r.Role); err != nil {
		refusal = err
	} else {
		refusal = checkEligible(role, requester, r.ruleInput(), now)
	}
	if refusal == nil {
		return nil, nil
	}
	if ue, ok := errors.AsType[*UserError](refusal); ok {
		return ue, nil
	}
	return nil, refusal
}

// Deny closes a pending request. Only a current approver may deny; a
// requester who denies their own request cancels it.
func (s *Service) Deny(ctx context.Context, id RequestID, approverID, reason string) (*Request, error) {
	ctx = Fresh(ctx)
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.requestedBy(approverID) {
		return s.Cancel(ctx, id, approverID)
	}
	if err := s.mayDecide(ctx, r, approverID, "deny"); err != nil {
		return r, err
	}
	reason = truncate(strings.TrimSpace(reason), MaxReason)
	now := s.now()
	updated, err := s.step(ctx, id, nil, func(r *Request) error {
		return r.Deny(approverID, reason, now)
	})
	if err != nil {
		return s.refused(ctx, r, id, approverID, err)
	}
	return updated, nil
}

// Cancel withdraws a pending request, or a scheduled grant before its
// start; only its requester (or who filed it) may, and, for a scheduled
// grant, a current approver.
func (s *Service) Cancel(ctx context.Context, id RequestID, userID string) (*Request, error) {
	if r, err := s.Get(ctx, id); err == nil && r.State == Scheduled {
		return s.cancelScheduled(Fresh(ctx), r, userID)
	}
	now := s.now()
	r, err := s.step(ctx, id, nil, func(r *Request) error {
		return r.Cancel(userID, now)
	})
	if err != nil {
		return nil, s.storeErr(id, err)
	}
	return r, nil
}

// Revoke ends an active grant early. The requester may relinquish it and
// any current approver of the role may take it away; a pending request is
// cancelled when its requester revokes it, and a scheduled grant by either. Revoke returns once access is
// gone or, if AWS is failing, once the revocation is recorded: the
// scheduler retries it until it succeeds.
func (s *Service) Revoke(ctx context.Context, id RequestID, userID, reason string) (*Request, error) {
	ctx = Fresh(ctx)
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State == Pending && r.requestedBy(userID) {
		return s.Cancel(ctx, id, userID)
	}
	if r.State == Scheduled {
		return s.cancelScheduled(ctx, r, userID)
	}
	if !r.requestedBy(userID) {
		if err := s.mayDecide(ctx, r, userID, "revoke"); err != nil {
			return r, err
		}
	}
	if reason = truncate(strings.TrimSpace(reason), MaxReason); reason == "" {
		switch {
		case r.isGrantee(userID):
			reason = "revoked by the requester"
		case r.filedBy(userID):
			// The audit trail says who ended it: not the grantee.
			reason = "revoked by who filed it"
		default:
			reason = "revoked by an approver"
		}
	}
	now := s.now()
	r, err = s.store.Update(ctx, id, func(r *Request) error {
		return r.Revoke(userID, reason, now, s.opts.Lease)
	})
	if err != nil {
		return nil, s.storeErr(id, err)
	}
	done, err := s.revoke(ctx, r)
	if err != nil {
		// Recorded and retried by the scheduler; the caller sees the
		// record still in Revoking.
		s.log.WarnContext(ctx, "revocation failed; will retry", "request_id", id, "err", err)
	}
	if err := s.endExtensions(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "extensions of a revoked grant not ended; the lifecycle pass will", "request_id", id, "err", err)
	}
	return done, nil
}

// Acknowledge records that a current approver of the role has reviewed a
// break-glass grant, which nobody approved before it was issued. It stops
// the escalation. The requester cannot review their own grant.
func (s *Service) Acknowledge(ctx context.Context, id RequestID, userID string) (*Request, error) {
	ctx = Fresh(ctx)
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := r.reviewable(userID); err != nil {
		if errors.Is(err, ErrSelfApproval) {
			s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: userID, Err: err.Error()})
		}
		return r, err
	}
	if err := s.mayDecide(ctx, r, userID, "review"); err != nil {
		return r, err
	}
	now := s.now()
	r, err = s.step(ctx, id, nil, func(r *Request) error {
		return r.Review(userID, now)
	})
	if err != nil {
		return r, s.storeErr(id, err)
	}
	return r, nil
}

// mayDecide refuses, and reports as an event, a decision by someone who is
// not a current approver of the request's role or not a full member of the
// workspace (a guest, a Slack Connect user, deactivated, a bot): to
// approve, deny, revoke or review alike, since a deny or a revoke by
// someone outside is as much a decision as a yes.
func (s *Service) mayDecide(ctx context.Context, r *Request, userID, verb string) error {
	if r.requestedBy(userID) && verb == "approve" {
		err := userErr(ErrSelfApproval, fmt.Sprintf("you cannot approve your own request %s", r.ID))
		s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: userID, Err: err.Error()})
		return err
	}
	if verb == "approve" || verb == "deny" {
		// The one who triggered a workload's run is its requester in all
		// but name: deciding on it is deciding on their own request.
		if mine, err := s.triggered(ctx, r, userID); mine || err != nil {
			if err != nil {
				return err
			}
			err := errTriggered()
			s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: userID, Err: err.Error()})
			return err
		}
	}
	why, err := s.mayStillApprove(ctx, r, userID)
	switch {
	case err != nil:
		return err
	case why == notApproverOf(r.Role):
		other, oerr := s.otherStep(ctx, r, userID)
		if oerr != nil {
			return oerr
		}
		if other != "" {
			err = userErr(ErrNotApprover, fmt.Sprintf("you cannot %s %s now: %s", verb, r.ID, other))
			break
		}
		err = userErr(ErrNotApprover, fmt.Sprintf("you are %s, so you cannot %s %s", why, verb, r.ID))
	case why != "":
		err = userErr(ErrNotApprover, fmt.Sprintf("you cannot %s %s: %s", verb, r.ID, why))
	default:
		return nil
	}
	s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: userID, Err: err.Error()})
	return err
}

// refused reports a decision the store rejected: a refusal is an event the
// audit trail records; other errors pass through.
func (s *Service) refused(ctx context.Context, r *Request, id RequestID, actor string, err error) (*Request, error) {
	err = s.storeErr(id, err)
	var ue *UserError
	if errors.As(err, &ue) && !errors.Is(err, ErrDecided) && !errors.Is(err, ErrNotFound) {
		s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: actor, Err: ue.Msg})
	}
	return r, err
}

// ruleInput is what the role's rules see of r: request.start is the start
// of its window, or when it was asked for.
func (r *Request) ruleInput() rules.Input {
	start := r.Start
	if start.IsZero() {
		start = r.CreatedAt
	}
	return rules.Input{Role: r.Role, Duration: r.Duration, Reason: r.Reason, Incident: r.Incident, Account: r.Account, Start: start}
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
