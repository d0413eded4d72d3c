package grants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// approvalsGoodFor is how long after the decision, or after the start of
// the window it was approved for, a record in Granting may still be
// issued, at least: long enough for the scheduler to take over
// from a worker that died mid-grant (one lease) many times over, short
// enough that an old signed copy of a record written back to the store
// cannot be issued again days later.
const approvalsGoodFor = 15 * time.Minute

func (s *Service) approvalsGoodFor() time.Duration { return max(approvalsGoodFor, 10*s.opts.Lease) }

// grantable re-derives what r may grant, just before the AWS call, and
// returns why it may not, or "". Every field the backend uses is checked
// against the catalog in force, and the decision against the directory as
// it is now: the requester must still be eligible, and the approvals must
// come from enough distinct people who may still approve (or the role's
// auto_approve rule must still hold). A record is grantable only if a
// fresh request with the same input, approved by the same people, would
// be. err is for a look-up that failed; the scheduler tries again.
func (s *Service) grantable(ctx context.Context, r *Request) (why string, err error) {
	now := s.now()
	if r.DryRun != s.opts.DryRun {
		return fmt.Sprintf("it was made in %s, and jitbot now runs in %s", mode(r.DryRun), mode(s.opts.DryRun)), nil
	}
	if good := s.approvalsGoodFor(); now.Sub(r.goodFrom()) > good || r.DecidedAt.After(now) {
		if r.goodFrom() != r.DecidedAt {
			return fmt.Sprintf("its window started at %s, more than %s ago", r.Start.UTC().Format(time.RFC3339), rules.FormatDuration(good)), nil
		}
		return fmt.Sprintf("it was approved at %s, more than %s ago", r.DecidedAt.UTC().Format(time.RFC3339), rules.FormatDuration(good)), nil
	}
	if now.Before(r.Start) {
		// Nothing issues a window before its start (Begin waits for it);
		// this holds it whatever path reaches the AWS call.
		return fmt.Sprintf("its window starts at %s", r.Start.UTC().Format(time.RFC3339)), nil
	}
	if !r.Start.IsZero() && !now.Before(r.Start.Add(r.Duration)) {
		return fmt.Sprintf("its window ended at %s before it could be issued", r.Start.Add(r.Duration).UTC().Format(time.RFC3339)), nil
	}
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return fmt.Sprintf("the catalog has no role %s", r.Role), nil
	}
	if r.ByWorkload() {
		return s.workloadGrantable(ctx, role, r, now)
	}
	requester, err := s.dir.User(Fresh(ctx), r.Requester.ID)
	if err != nil {
		return "", fmt.Errorf("look up requester %s: %w", r.Requester.ID, err)
	}
	if why, err := s.matchesCatalog(role, r, requester, now); why != "" || err != nil {
		return why, err
	}
	if why, err := s.stillEligible(r, requester, now); why != nil || err != nil {
		if err != nil {
			return "", err
		}
		return "the requester is no longer eligible: " + why.Msg, nil
	}
	if why, err := s.filerStillMay(ctx, r, requester, now); why != nil || err != nil {
		if err != nil {
			return "", err
		}
		return why.Msg, nil
	}
	if r.Extends != "" {
		orig, err := s.store.Get(ctx, r.Extends)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("load %s, which %s extends: %w", r.Extends, r.ID, err)
		}
		if err != nil || (orig.State != Active && orig.State != Granting) {
			return fmt.Sprintf("the grant it extends, %s, is no longer active", r.Extends), nil
		}
	}
	if r.AutoApproved {
		auto, err := AutoApproves(role, requester, r.ruleInput(), now)
		if err != nil {
			return "", fmt.Errorf("evaluate auto_approve of %s: %w", role.Name, err)
		}
		if !auto {
			return "the role's auto_approve rule no longer holds for the requester", nil
		}
		return "", nil
	}
	return s.approvedEnough(ctx, role, r, requester)
}

// matchesCatalog checks what r would issue against what role issues for
// requester: the backend, the target, the IAM user, the session policy and
// the duration.
func (s *Service) matchesCatalog(role *rules.Role, r *Request, requester rules.User, now time.Time) (string, error) {
	switch {
	case r.Backend != role.Backend:
		return fmt.Sprintf("its backend %s is not the role's (%s)", r.Backend, role.Backend), nil
	case r.SessionPolicy != role.SessionPolicy:
		return "its session policy is not the role's", nil
	case r.AllowRoleChaining != role.AllowRoleChaining:
		return "its allow_role_chaining is not the role's", nil
	case r.Duration <= 0 || r.Duration > role.MaxDuration:
		return fmt.Sprintf("its duration %s is outside the role's max of %s", rules.FormatDuration(r.Duration), rules.FormatDuration(role.MaxDuration)), nil
	}
	if why := stepsMatch(role, r); why != "" {
		return why, nil
	}
	target, principal, err := catalogGrant(role, requester, r.ruleInput(), now)
	if mis, ok := errors.AsType[*accountMismatch](err); ok {
		return mis.why, nil
	}
	if err != nil {
		return "", err
	}
	return mismatch(role.Backend, r, target, principal), nil
}

// approvedEnough checks that r's approvals come from enough distinct
// people, none of them the requester (nor, for a workload's request, who
// triggered its run), each of whom may approve, now, the step they
// approved at; and, for a role with approval_steps, enough at each step.
func (s *Service) approvedEnough(ctx context.Context, role *rules.Role, r *Request, requester rules.User) (string, error) {
	need := role.ApprovalsRequired
	if ThirdParty(requester) || ThirdParty(r.Requester) {
		need = max(need, guestApprovals)
	}
	seen := map[string]bool{}
	valid := func(a Approval) (bool, error) {
		if r.requestedBy(a.Approver) || seen[a.Approver] || a.At.After(r.DecidedAt) {
			return false, nil
		}
		if mine, err := s.triggered(ctx, r, a.Approver); mine || err != nil {
			return false, err
		}
		why, err := s.mayStillApproveAt(ctx, r, a.Approver, a.Step)
		if err != nil || why != "" {
			return false, err
		}
		seen[a.Approver] = true
		return true, nil
	}
	if len(role.ApprovalSteps) > 0 {
		if why, err := approvedEachStep(role, r, valid); why != "" || err != nil {
			return why, err
		}
	} else {
		for _, a := range r.Approvals {
			if _, err := valid(a); err != nil {
				return "", err
			}
		}
	}
	if len(seen) < need {
		return fmt.Sprintf("it has %d valid approval(s) and the role needs %d", len(seen), need), nil
	}
	return "", nil
}

func mode(dryRun bool) string {
	if dryRun {
		return "dry-run mode"
	}
	return "live mode"
}
