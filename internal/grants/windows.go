package grants

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// Scheduled windows (/jit request --start) and the approvers' reminders
// and escalation. A window is decided ahead like any request; approved
// before its start it waits in Scheduled, and the scheduler issues it at
// Start, as crash safe as an expiry: the record is in the scheduler's
// queue at Start whatever happens to the process that approved it.

// decide records the decision to issue r's access at decided: at once
// (Granting, under a lease), or, for a window that starts later, at its
// start (Scheduled).
func (r *Request) decide(decided time.Time, lease time.Duration) {
	if r.Start.After(decided) {
		r.State = Scheduled
		r.DecidedAt = decided
		r.RemindAt, r.EscalateAt = time.Time{}, time.Time{}
		return
	}
	r.startGranting(decided, lease)
}

// Begin moves a scheduled grant whose start has come to Granting, under a
// lease for the process that issues it.
func (r *Request) Begin(now time.Time, lease time.Duration) error {
	if r.State != Scheduled || now.Before(r.Start) || now.Before(r.LeaseUntil) {
		return ErrStale
	}
	r.State = Granting
	r.LeaseUntil = now.Add(lease)
	return nil
}

// Remind records, once, that the approvers who have not answered r are
// reminded of it.
func (r *Request) Remind(now time.Time) error {
	if r.State != Pending || r.RemindAt.IsZero() || now.Before(r.RemindAt) {
		return ErrStale
	}
	r.RemindAt = time.Time{}
	r.note(EventReminded, now, "", "")
	return nil
}

// EscalateApproval adds, once, the role's escalation_approvers to the
// approvers of a request nobody decided by EscalateAt.
func (r *Request) EscalateApproval(now time.Time) error {
	if r.State != Pending || r.EscalateAt.IsZero() || now.Before(r.EscalateAt) {
		return ErrStale
	}
	r.EscalateAt = time.Time{}
	r.Escalated = true
	r.EscalatedStep = r.CurrentStep()
	r.note(EventEscalated, now, "", "")
	return nil
}

// schedule sets what role says about the timing of the new request r
// made at now: a window's start bounds its deadline, and the reminder and
// the escalation are due after the role's remind_after and escalate_after
// if that is before the deadline.
func (r *Request) schedule(role *rules.Role, now time.Time) {
	r.Deadline = now.Add(role.RequestTTL)
	if !r.Start.IsZero() {
		r.Deadline = r.Start
	}
	if role.RemindAfter > 0 && now.Add(role.RemindAfter).Before(r.Deadline) {
		r.RemindAt = now.Add(role.RemindAfter)
	}
	if role.EscalateAfter > 0 && len(role.EscalationApprovers) > 0 && now.Add(role.EscalateAfter).Before(r.Deadline) {
		r.EscalateAt = now.Add(role.EscalateAfter)
	}
}

// checkStart refuses a window that starts in the past or further ahead
// than the role's max_lead_time. A start up to a minute ago (a form
// filled in slowly, a clock a little behind) is taken as now: the
// request is then an ordinary one.
func checkStart(role *rules.Role, start, now time.Time) (time.Time, error) {
	if start.IsZero() {
		return time.Time{}, nil
	}
	switch lead := start.Sub(now); {
	case lead < -time.Minute:
		return time.Time{}, userErr(ErrInvalidInput, fmt.Sprintf("the start %s is in the past", start.UTC().Format(time.RFC3339)))
	case lead <= 0:
		return time.Time{}, nil
	case lead > role.MaxLeadTime:
		return time.Time{}, userErr(ErrInvalidInput, fmt.Sprintf("the start %s is %s ahead; %s may be asked for at most %s ahead (its max_lead_time)",
			start.UTC().Format(time.RFC3339), rules.FormatDuration(lead.Round(time.Minute)), role.Name, rules.FormatDuration(role.MaxLeadTime)))
	}
	return start.Truncate(time.Second), nil
}

// begin issues a scheduled grant whose start has come.
func (s *Service) begin(ctx context.Context, id RequestID) error {
	now := s.now()
	r, err := s.store.Update(ctx, id, func(r *Request) error {
		return r.Begin(now, s.opts.Lease)
	})
	if err != nil {
		return err
	}
	_, err = s.issue(ctx, r)
	return err
}

// remind tells the approvers who have not answered r, once.
func (s *Service) remind(ctx context.Context, id RequestID) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error { return r.Remind(now) })
	return err
}

// escalateApproval adds the escalation approvers to r, once.
func (s *Service) escalateApproval(ctx context.Context, id RequestID) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error { return r.EscalateApproval(now) })
	return err
}

// CancelScheduled withdraws a scheduled grant before its start, on the
// word of its requester (or who filed it) or a current approver of its
// role.
func (s *Service) cancelScheduled(ctx context.Context, r *Request, userID string) (*Request, error) {
	if !r.requestedBy(userID) {
		if err := s.mayDecide(ctx, r, userID, "cancel"); err != nil {
			return r, err
		}
	}
	now := s.now()
	done, err := s.step(ctx, r.ID, nil, func(r *Request) error { return r.CancelScheduled(userID, now) })
	if err != nil {
		return r, s.storeErr(r.ID, err)
	}
	return done, nil
}

// CancelScheduled ends a scheduled grant before its start; the service
// has checked that user may.
func (r *Request) CancelScheduled(user string, now time.Time) error {
	switch {
	case r.State == Granting || r.State == Active:
		return userErr(ErrDecided, fmt.Sprintf("%s has started; revoke it instead", r.ID))
	case r.State != Scheduled:
		return r.decidedErr()
	}
	r.close(Cancelled, user, now)
	r.note(EventCancelled, now, user, "")
	return nil
}

// goodFrom is when r's approvals start to count down approvalsGoodFor:
// its decision, or the start of the window it was approved for.
func (r *Request) goodFrom() time.Time {
	if r.Start.After(r.DecidedAt) {
		return r.Start
	}
	return r.DecidedAt
}
