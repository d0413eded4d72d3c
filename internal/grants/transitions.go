package grants

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The request state machine (docs/design.md §1, §3). Every change of a
// record is one of the methods below: each checks that the record is in a
// state the change applies to, changes it and the fields that go with it,
// and journals the event the audit trail records, or refuses and changes
// nothing. They do no I/O and take the time as an argument, because
// Store.Update may run them more than once: a double click or two replicas
// make one transition, and the loser gets the refusal.
//
//	pending  ─ Approve (the last one needed), AutoApprove ─▶ granting, or scheduled for a later start
//	pending  ─ Deny, DenyIneligible, Withdraw ─▶ denied;  Cancel ─▶ cancelled;  TimeOut ─▶ timed_out
//	scheduled ─ Begin ─▶ granting;  CancelScheduled ─▶ cancelled;  Withdraw ─▶ denied
//	granting ─ Activate ─▶ active;  FailGrant ─▶ revoking
//	active   ─ Revoke, Expire ─▶ revoking
//	revoking ─ FinishRevoke ─▶ revoked, or failed after FailGrant
//	any      ─ Quarantine (the record failed its integrity check) ─▶ failed, or revoking
//
// TakeLease, TakeOver, RetryRevoke, Warn, Escalate, Review, Remind,
// EscalateApproval, FinishCleanup and RetryCleanup change a record without moving it to another state.
// TestTransitionTable holds every state × every transition.

// ErrStale is what a scheduler-side transition returns for a record that
// has moved on since the work was claimed, e.g. another replica finished
// it first or a person decided meanwhile. There is nothing left to do.
var ErrStale = errors.New("record moved on")

// Approve records approver's yes, at the step the request waits on. With
// ApprovalsRequired distinct approvals, and every step's, the request
// moves to Granting, under a lease for the process that issues the
// access. It refuses (see decidable) a request that is not pending or has
// passed its deadline, the requester, and an approver who already
// approved, at this step or another.
func (r *Request) Approve(approver string, now time.Time, lease time.Duration) error {
	if err := r.decidable(approver, now); err != nil {
		return err
	}
	step := r.CurrentStep()
	r.Approvals = append(r.Approvals, Approval{Approver: approver, At: now, Step: step})
	if r.approvedEnough() {
		// Concurrent clicks take their time before they queue for the
		// record, so an earlier approval may carry a later time than
		// this one. The decision comes after every approval it counts.
		decided := now
		for _, a := range r.Approvals {
			if a.At.After(decided) {
				decided = a.At
			}
		}
		r.decide(decided, lease)
	}
	r.note(EventApproved, now, approver, "")
	return nil
}

// AutoApprove moves a new request straight to Granting because the role's
// auto_approve rule (break-glass) holds. Nobody approved it, so the owners
// must review it within reviewWithin.
func (r *Request) AutoApprove(rule string, reviewWithin time.Duration, now time.Time, lease time.Duration) error {
	if r.State != Pending {
		return r.decidedErr()
	}
	r.decide(now, lease)
	r.AutoApproved = true
	r.ReviewDue = now.Add(reviewWithin)
	r.Rule = rule
	r.note(EventAutoApproved, now, "", "")
	return nil
}

// Deny closes a pending request on approver's no. An approver who already
// approved may still deny; otherwise it refuses what Approve refuses.
func (r *Request) Deny(approver, reason string, now time.Time) error {
	if err := r.decidable(approver, now); err != nil && !errors.Is(err, ErrAlreadyApproved) {
		return err
	}
	r.close(Denied, approver, now)
	r.DenyReason = reason
	r.note(EventDenied, now, approver, "")
	return nil
}

// DenyIneligible closes a pending request whose requester no longer
// qualifies (why says how) when approver tries to approve it: the system
// denies it, not the approver. It refuses what Approve refuses.
func (r *Request) DenyIneligible(approver, why string, now time.Time) error {
	if err := r.decidable(approver, now); err != nil {
		return err
	}
	r.close(Denied, "", now)
	r.DenyReason = "the requester is no longer eligible: " + why
	r.note(EventDenied, now, "", "")
	return nil
}

// Withdraw closes a pending request that jitbot, not a person, turns
// down (why says why): its requester was deactivated in Slack, or the
// grant it extends has ended; or a scheduled grant whose requester no
// longer qualifies. It applies at any time, also after the
// deadline, and never to a request that has moved on.
func (r *Request) Withdraw(why string, now time.Time) error {
	if r.State != Pending && r.State != Scheduled {
		return ErrStale
	}
	r.close(Denied, "", now)
	r.DenyReason = why
	r.note(EventDenied, now, "", why)
	return nil
}

// Cancel withdraws a pending request; only its requester may. Unlike a
// decision it is allowed after the deadline, until the timeout is recorded.
func (r *Request) Cancel(user string, now time.Time) error {
	if !r.requestedBy(user) {
		return userErr(ErrNotAllowed, fmt.Sprintf("only the requester can cancel %s", r.ID))
	}
	if r.State != Pending {
		return r.decidedErr()
	}
	r.close(Cancelled, user, now)
	r.note(EventCancelled, now, user, "")
	return nil
}

// TimeOut closes a pending request nobody decided by its deadline.
func (r *Request) TimeOut(now time.Time) error {
	if r.State != Pending || now.Before(r.Deadline) {
		return ErrStale
	}
	r.close(TimedOut, "", now)
	r.note(EventTimedOut, now, "", "")
	return nil
}

// TakeLease marks a record in state as being worked on by one process
// until now+lease, so that no other starts the same AWS call meanwhile. A
// lease still running belongs to another worker: ErrStale.
func (r *Request) TakeLease(state State, now time.Time, lease time.Duration) error {
	if r.State != state || now.Before(r.LeaseUntil) {
		return ErrStale
	}
	r.LeaseUntil = now.Add(lease)
	return nil
}

// TakeOver takes the lease of a record in state from owner, a process
// that is no longer alive, for now+lease, although it has not lapsed. It
// refuses (ErrStale) when the record has moved on or another process took
// it over first.
func (r *Request) TakeOver(state State, owner string, now time.Time, lease time.Duration) error {
	if r.State != state || owner == "" || r.LeaseOwner != owner {
		return ErrStale
	}
	r.LeaseUntil = now.Add(lease)
	return nil
}

// Activate records access issued from start until expires. The requester
// is warned warning before expiry, unless the grant is shorter than twice
// that.
func (r *Request) Activate(issued Issued, start, expires time.Time, warning time.Duration, now time.Time) error {
	if r.State != Granting {
		return ErrStale
	}
	r.State = Active
	r.GrantedAt = start
	r.ExpiresAt = expires
	if warnAt := expires.Add(-warning); warnAt.Sub(start) >= warning {
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
}

// FailGrant records that access could not be issued (msg says why, for the
// requester) and moves the record to Revoking at once: whatever the failed
// call may have done is taken away, and the request then ends as Failed.
func (r *Request) FailGrant(msg string, now time.Time, lease time.Duration) error {
	if r.State != Granting {
		return ErrStale
	}
	r.startRevoking("grant failed", now, lease)
	r.Failure = msg
	r.note(EventGrantFailed, now, "", msg)
	return nil
}

// Revoke ends an active grant early on user's word, recording the intent
// (Revoking) before AWS is called. The service has checked that user is
// the requester or a current approver; an approver who ends a break-glass
// grant has reviewed it.
func (r *Request) Revoke(user, reason string, now time.Time, lease time.Duration) error {
	switch r.State {
	case Active:
	case Pending:
		return userErr(ErrDecided, fmt.Sprintf("%s is still pending; deny it instead", r.ID))
	case Granting:
		return userErr(ErrDecided, fmt.Sprintf("%s is being granted right now; try again in a moment", r.ID))
	default:
		return userErr(ErrDecided, fmt.Sprintf("%s is not active (it is %s)", r.ID, r.State))
	}
	r.startRevoking(reason, now, lease)
	r.RevokedBy = user
	if r.AutoApproved && r.ReviewedBy == "" && user != "" && !r.requestedBy(user) {
		r.ReviewedBy, r.ReviewedAt, r.ReviewDue = user, now, time.Time{}
	}
	return nil
}

// Expire moves an active grant whose time is up to Revoking.
func (r *Request) Expire(now time.Time, lease time.Duration) error {
	if r.State != Active || now.Before(r.ExpiresAt) {
		return ErrStale
	}
	r.startRevoking(ReasonExpired, now, lease)
	return nil
}

// FinishRevoke records that the access is gone: the record ends as
// Revoked, or as Failed when it was being revoked because issuing failed.
func (r *Request) FinishRevoke(rev Revocation, now time.Time) error {
	if r.State != Revoking {
		return ErrStale
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
}

// RetryRevoke records a failed revocation and when to try again, after
// backoff(attempt). Each failure before the alertAfter-th is told
// (EventRevokeRetrying), so the audit trail shows the grant as being
// revoked from the first failure on rather than as active until the
// alert; the alertAfter-th failure in a row raises the alert
// (EventRevokeFailed). Later failures are not told again. The record
// stays in Revoking until it succeeds.
func (r *Request) RetryRevoke(cause error, now time.Time, backoff func(attempt int) time.Duration, alertAfter int) error {
	if r.State != Revoking {
		return ErrStale
	}
	r.Attempts++
	r.LastError = cause.Error()
	r.NextAttempt = now.Add(backoff(r.Attempts))
	r.LeaseUntil = time.Time{}
	switch {
	case r.Attempts == alertAfter:
		r.note(EventRevokeFailed, now, "", cause.Error())
	case r.Attempts < alertAfter:
		r.note(EventRevokeRetrying, now, "", cause.Error())
	}
	return nil
}

// Warn tells the requester, once, that an active grant ends soon.
func (r *Request) Warn(now time.Time) error {
	if r.State != Active || r.WarnAt.IsZero() || now.Before(r.WarnAt) {
		return ErrStale
	}
	r.WarnAt = time.Time{}
	r.note(EventExpiring, now, "", "")
	return nil
}

// Escalate reminds the owners, once, of a break-glass grant nobody
// reviewed by ReviewDue, whatever became of the grant since.
func (r *Request) Escalate(now time.Time) error {
	if r.ReviewDue.IsZero() || now.Before(r.ReviewDue) {
		return ErrStale
	}
	r.ReviewDue = time.Time{}
	r.note(EventReviewOverdue, now, "", "")
	return nil
}

// Review records reviewer's after-the-fact look at a break-glass grant, in
// any state: it stops the escalation. The service has checked that
// reviewer is a current approver of the role.
func (r *Request) Review(reviewer string, now time.Time) error {
	if err := r.reviewable(reviewer); err != nil {
		return err
	}
	if r.ReviewedBy != "" {
		return userErr(ErrDecided, fmt.Sprintf("%s was already reviewed by %s", r.ID, r.ReviewedBy))
	}
	r.ReviewedBy, r.ReviewedAt, r.ReviewDue = reviewer, now, time.Time{}
	r.note(EventReviewed, now, reviewer, "")
	return nil
}

// FinishCleanup records that what the revocation left behind is removed.
func (r *Request) FinishCleanup() error {
	if !r.State.Terminal() || r.CleanupAt.IsZero() {
		return ErrStale
	}
	r.CleanupAt = time.Time{}
	r.Attempts = 0
	r.LastError = ""
	return nil
}

// RetryCleanup records a failed cleanup and when to try again.
func (r *Request) RetryCleanup(cause error, now time.Time, backoff func(attempt int) time.Duration) error {
	if !r.State.Terminal() || r.CleanupAt.IsZero() {
		return ErrStale
	}
	r.Attempts++
	r.LastError = cause.Error()
	r.CleanupAt = now.Add(backoff(r.Attempts))
	return nil
}

// Quarantine handles a record that failed its integrity check: someone
// without jitbot's signing key wrote it, so none of its fields is trusted.
// Nothing is granted from it. A pending or scheduled record fails; a record that holds,
// or may hold, access is revoked, with the real backend unless dryRun
// (the service always passes false: see Service.quarantine). A finished one stays finished. The
// record's own journal is dropped: its events are not jitbot's.
// No process holds a lease on it: the scheduler revokes it at once.
func (r *Request) Quarantine(dryRun bool, now time.Time) {
	r.Journal = nil
	switch {
	case r.State == Pending || r.State == Scheduled:
		r.close(Failed, "", now)
		r.Failure = ReasonTampered
	case !r.State.Terminal():
		if r.State == Granting {
			r.Failure = ReasonTampered
		}
		r.DryRun = dryRun
		r.startRevoking(ReasonTampered, now, 0)
	}
	r.note(EventTampered, now, "", ReasonTampered)
}

// startGranting records the decision to issue the access, under a lease
// for the process that calls AWS.
func (r *Request) startGranting(now time.Time, lease time.Duration) {
	r.State = Granting
	r.DecidedAt = now
	r.LeaseUntil = now.Add(lease)
}

// close ends a pending request without access; by is who decided, empty
// when jitbot did.
func (r *Request) close(state State, by string, now time.Time) {
	r.State = state
	r.DecidedBy = by
	r.DecidedAt = now
}

// startRevoking records the intent to take the access away (why, in
// RevokeReason) before AWS is called, due at once, under a lease for the
// process that calls AWS.
func (r *Request) startRevoking(why string, now time.Time, lease time.Duration) {
	r.State = Revoking
	r.RevokeReason = why
	r.NextAttempt = now
	r.LeaseUntil = now.Add(lease)
}

// reviewable refuses a review of a grant that people approved before it
// was issued, and a requester's review of their own break-glass grant.
func (r *Request) reviewable(reviewer string) error {
	if !r.AutoApproved {
		return userErr(ErrNotAllowed, fmt.Sprintf("%s was approved by people before it was granted; there is nothing to review", r.ID))
	}
	if r.ByWorkload() {
		return userErr(ErrNotAllowed, fmt.Sprintf("%s was granted to a workload by its role's workloads rules, not by break-glass; there is nothing to review", r.ID))
	}
	if r.requestedBy(reviewer) {
		return userErr(ErrSelfApproval, fmt.Sprintf("you cannot review your own break-glass access %s", r.ID))
	}
	return nil
}

// decidable is what every decision on a pending request checks, inside the
// compare-and-swap so that a concurrent decision is never overwritten.
func (r *Request) decidable(approver string, now time.Time) error {
	if r.State != Pending {
		return r.decidedErr()
	}
	if !now.Before(r.Deadline) {
		// The scheduler records the timeout when it next looks; the
		// deadline holds from the moment it passes.
		return userErr(ErrDecided, fmt.Sprintf("%s timed out before anyone decided", r.ID))
	}
	if r.requestedBy(approver) {
		return userErr(ErrSelfApproval, fmt.Sprintf("you cannot approve your own request %s", r.ID))
	}
	for _, a := range r.Approvals {
		if a.Approver == approver {
			return userErr(ErrAlreadyApproved, fmt.Sprintf("you have already approved %s; it needs %d more approval(s)", r.ID, r.ApprovalsRequired-len(r.Approvals)))
		}
	}
	return nil
}

// decidedErr tells someone who came too late what became of the request.
func (r *Request) decidedErr() error {
	switch r.State {
	case Granting, Active, Revoking, Revoked, Failed:
		if r.AutoApproved {
			return userErr(ErrDecided, fmt.Sprintf("%s was already approved automatically", r.ID))
		}
		return userErr(ErrDecided, fmt.Sprintf("%s was already approved by %s", r.ID, strings.Join(r.approvers(), ", ")))
	case Denied:
		if r.DecidedBy == "" && r.DenyReason != "" {
			return userErr(ErrDecided, fmt.Sprintf("%s was already denied: %s", r.ID, r.DenyReason))
		}
		if r.DecidedBy == "" {
			return userErr(ErrDecided, fmt.Sprintf("%s was already denied", r.ID))
		}
		return userErr(ErrDecided, fmt.Sprintf("%s was already denied by %s", r.ID, r.DecidedBy))
	case TimedOut:
		return userErr(ErrDecided, fmt.Sprintf("%s timed out before anyone decided", r.ID))
	case Cancelled:
		return userErr(ErrDecided, fmt.Sprintf("%s was cancelled by its requester", r.ID))
	}
	return userErr(ErrDecided, fmt.Sprintf("%s is %s", r.ID, r.State))
}

// approvers returns the Slack IDs of who approved, in order.
func (r *Request) approvers() []string {
	ids := make([]string, len(r.Approvals))
	for i, a := range r.Approvals {
		ids[i] = a.Approver
	}
	return ids
}
