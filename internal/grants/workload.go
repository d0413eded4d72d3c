package grants

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// A workload request is one whose requester is a CI job or an agent that
// proved who it is with an OIDC token (RequestInput.Workload), not a Slack
// user. It is decided by the role's workloads rules, which see the
// workload and never a user: eligible admits it, auto_approve grants it at
// once (a workload's own grant, not break-glass: no owners' review, no
// breakglass_limit), otherwise the role's approvers decide as for people.
// Only aws_sts credentials are granted to workloads. The record keeps the
// workload (Request.Workload, sealed with the rest); its Requester has no
// Slack ID, so that nothing keyed by a Slack user can match it.

// ReasonReleased is the RevokeReason of a grant its workload ended.
const ReasonReleased = "released by the workload"

// ByWorkload reports whether a workload, not a person, requested r.
func (r *Request) ByWorkload() bool { return r.Workload != nil }

// requestedBy reports whether Slack user userID is r's requester, or filed
// r for its requester (see onbehalf.go): either may withdraw it, neither
// may decide it. Never for a workload's request, whose Requester.ID is
// empty, and never for the empty ID that stands for jitbot itself.
func (r *Request) requestedBy(userID string) bool {
	return r.Workload == nil && userID != "" && (r.Requester.ID == userID || r.filedBy(userID))
}

// isGrantee reports whether userID is the person r's access is for.
func (r *Request) isGrantee(userID string) bool {
	return r.Workload == nil && userID != "" && r.Requester.ID == userID
}

// workloadRequester is the Requester of w's requests: no Slack ID, and a
// name with a colon, which no Slack handle has.
func workloadRequester(w rules.Workload) rules.User {
	return rules.User{Name: w.IssuerName + ":" + w.Subject}
}

// workloadKey names w for the request rate limit: its issuer and subject,
// which the token proved, apart from any Slack user's key.
func workloadKey(w rules.Workload) string { return "workload:" + w.Issuer + "|" + w.Subject }

// triggeredBy reports whether u is the human actor of r's workload run:
// u's Slack handle or the local part of u's email equals the workload's
// Actor claim, ignoring case. The CI system's user names are not Slack's,
// so this is the nearest match there is; someone whose handle differs
// from both is not caught by it.
func (r *Request) triggeredBy(u rules.User) bool {
	if r.Workload == nil || r.Workload.Actor == "" {
		return false
	}
	local, _, _ := strings.Cut(u.Email, "@")
	return strings.EqualFold(u.Name, r.Workload.Actor) || (local != "" && strings.EqualFold(local, r.Workload.Actor))
}

// triggered reports whether Slack user userID triggered r's workload run
// (see triggeredBy), as the directory knows them this moment.
func (s *Service) triggered(ctx context.Context, r *Request, userID string) (bool, error) {
	if r.Workload == nil || r.Workload.Actor == "" {
		return false, nil
	}
	u, err := s.dir.User(Fresh(ctx), userID)
	if err != nil {
		return false, fmt.Errorf("look up approver %s: %w", userID, err)
	}
	return r.triggeredBy(u), nil
}

// errTriggered is the refusal of a decision by the run's own actor.
func errTriggered() error {
	return userErr(ErrSelfApproval, "you triggered this run; someone else must approve it")
}

// requestWorkload records in's workload's request, and issues it at once
// when the role's workloads auto_approve rule holds.
func (s *Service) requestWorkload(ctx context.Context, in RequestInput) (*Request, error) {
	if in.UserID != "" {
		return nil, userErr(ErrInvalidInput, "a request is made by a Slack user or by a workload, not both")
	}
	if in.Workload.Issuer == "" || in.Workload.Subject == "" {
		return nil, userErr(ErrInvalidInput, "the workload has no issuer or no subject")
	}
	if in.For != "" || !in.Start.IsZero() {
		return nil, userErr(ErrInvalidInput, "a workload asks for its own access, now: it cannot ask for someone else or for a later window")
	}
	w := *in.Workload
	w.Claims = maps.Clone(w.Claims) // the caller's map is not the record's
	now := s.now()
	role, err := s.admitWorkload(ctx, &in, w, now)
	if err != nil {
		return nil, err
	}
	input := in.ruleInput(now)
	auto, err := role.WorkloadAutoApproves(w, input, now)
	if err != nil {
		return nil, fmt.Errorf("evaluate workloads auto_approve of %s: %w", role.Name, err)
	}
	r, err := s.newRecord(role, workloadRequester(w), input, now)
	if err != nil {
		return nil, err
	}
	r.Workload, r.Rule = &w, role.Workloads.Eligible
	r.schedule(role, now)
	r.note(EventRequested, now, "", "")
	if auto {
		if err := r.AutoApprove(role.Workloads.AutoApprove, 0, now, s.opts.Lease); err != nil {
			return nil, err
		}
		// Granted by the rule written for workloads, not break-glass:
		// there is nothing for the owners to review.
		r.ReviewDue = time.Time{}
	}
	return s.file(ctx, r, auto)
}

// admitWorkload fills in the defaults of in and checks it, the role's
// acceptance of workloads and its backend, w's eligibility and w's rate of
// requests. It returns the role.
func (s *Service) admitWorkload(ctx context.Context, in *RequestInput, w rules.Workload, now time.Time) (*rules.Role, error) {
	role, err := s.role(in.Role)
	if err != nil {
		return nil, err
	}
	if role.Workloads == nil {
		return nil, userErr(ErrIneligible, fmt.Sprintf("role %s does not accept workload requests", role.Name))
	}
	if role.Backend != BackendSTS {
		return nil, userErr(ErrInvalidInput, fmt.Sprintf("role %s is granted by %s; a workload can only be granted %s credentials", role.Name, role.Backend, BackendSTS))
	}
	in.Role = role.Name
	if in.Duration == 0 {
		in.Duration = role.DefaultDuration
	}
	in.Reason, in.Incident = strings.TrimSpace(in.Reason), strings.TrimSpace(in.Incident)
	if in.Account, err = chooseAccount(role, strings.TrimSpace(in.Account)); err != nil {
		return nil, err
	}
	if err := s.checkInput(role, *in); err != nil {
		return nil, err
	}
	if why, err := workloadEligible(role, w, in.ruleInput(now), now); why != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return nil, why
	}
	ok, err := s.opts.Limiter.Take(ctx, "requests:"+workloadKey(w), s.opts.RequestLimit, time.Hour, now)
	if err != nil {
		return nil, fmt.Errorf("count requests of workload %s: %w", workloadRequester(w).Name, err)
	}
	if !ok {
		return nil, userErr(ErrRateLimited, fmt.Sprintf("workload %s has filed %d requests in the last hour, the limit", workloadRequester(w).Name, s.opts.RequestLimit))
	}
	return role, nil
}

// workloadEligible says why role refuses w's request in, or nil; err is
// for a rule that failed.
func workloadEligible(role *rules.Role, w rules.Workload, in rules.Input, now time.Time) (*UserError, error) {
	if role.Workloads == nil {
		return &UserError{Msg: fmt.Sprintf("role %s does not accept workload requests", role.Name), Err: ErrIneligible}, nil
	}
	ok, err := role.WorkloadEligible(w, in, now)
	if err != nil {
		return nil, fmt.Errorf("evaluate workloads eligible of %s: %w", role.Name, err)
	}
	if !ok {
		return &UserError{Msg: fmt.Sprintf("workload %s is not eligible for %s", workloadRequester(w).Name, role.Name), Err: ErrIneligible}, nil
	}
	return nil, nil
}

// workloadGrantable is grantable for a workload's record: the role must
// still take workloads, by aws_sts, with the record's target, and its
// workloads rules must still admit the recorded workload (and grant it,
// for an auto-approved record); otherwise the approvals must still count.
// No directory is asked about the requester: there is none.
func (s *Service) workloadGrantable(ctx context.Context, role *rules.Role, r *Request, now time.Time) (string, error) {
	if role.Backend != BackendSTS {
		return fmt.Sprintf("the role is granted by %s, and workloads only get %s credentials", role.Backend, BackendSTS), nil
	}
	if why, err := s.matchesCatalog(role, r, rules.User{}, now); why != "" || err != nil {
		return why, err
	}
	if why, err := workloadEligible(role, *r.Workload, r.ruleInput(), now); why != nil || err != nil {
		if err != nil {
			return "", err
		}
		return "the workload is no longer eligible: " + why.Msg, nil
	}
	if !r.AutoApproved {
		return s.approvedEnough(ctx, role, r, rules.User{})
	}
	auto, err := role.WorkloadAutoApproves(*r.Workload, r.ruleInput(), now)
	if err != nil {
		return "", fmt.Errorf("evaluate workloads auto_approve of %s: %w", role.Name, err)
	}
	if !auto {
		return "the role's workloads auto_approve rule no longer holds for the workload", nil
	}
	return "", nil
}

// WorkloadRequest returns request id to the workload that made it, and to
// no other: any other caller is told there is no such request, so that a
// workload cannot learn of another's requests.
func (s *Service) WorkloadRequest(ctx context.Context, id RequestID, caller rules.Workload) (*Request, error) {
	r, err := s.Get(ctx, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrTampered) {
		return nil, workloadNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if r.Workload == nil || caller.Issuer == "" || caller.Subject == "" ||
		r.Workload.Issuer != caller.Issuer || r.Workload.Subject != caller.Subject {
		return nil, workloadNotFound(id)
	}
	return r, nil
}

func workloadNotFound(id RequestID) error {
	return &UserError{Msg: fmt.Sprintf("no request %s for this workload", id), Err: ErrNotFound}
}

// errEnded stops Release's update of a record that needs none.
var errEnded = errors.New("already ending or ended")

// Release ends request id for the workload that made it (see
// WorkloadRequest for who may): a pending request is cancelled, an active
// grant revoked at once; one already ending or ended is returned as it is.
// Like Revoke, it returns once access is gone or its revocation recorded.
func (s *Service) Release(ctx context.Context, id RequestID, caller rules.Workload) (*Request, error) {
	ctx = Fresh(ctx)
	r, err := s.WorkloadRequest(ctx, id, caller)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var revoking bool
	updated, err := s.step(ctx, id, nil, func(r *Request) error {
		switch r.State {
		case Pending:
			r.close(Cancelled, "", now)
			r.note(EventCancelled, now, "", ReasonReleased)
			return nil
		case Active:
			revoking = true
			return r.Revoke("", ReasonReleased, now, s.opts.Lease)
		case Granting:
			return userErr(ErrDecided, fmt.Sprintf("%s is being granted right now; release it again in a moment", id))
		}
		return errEnded
	})
	switch {
	case errors.Is(err, errEnded):
		return s.WorkloadRequest(ctx, id, caller)
	case err != nil:
		return r, s.storeErr(id, err)
	case !revoking:
		return updated, nil
	}
	done, err := s.revoke(ctx, updated)
	if err != nil {
		s.log.WarnContext(ctx, "revocation failed; will retry", "request_id", id, "err", err)
	}
	return done, nil
}

// ReasonWorkloadRefused is the RevokeReason of a workload's grant, and
// the DenyReason of its request, once the catalog no longer admits the
// workload: its role lost its workloads rules, or they refuse it now.
const ReasonWorkloadRefused = "the catalog no longer admits this workload"

// sweepWorkload ends r, a workload's pending request or active grant, when
// the catalog in force no longer admits its workload: taking a subject
// out of a role's workloads rules takes its access away at the next sweep,
// as deactivating a person in Slack does. A role gone from the catalog
// ends it too. A rule that fails to evaluate changes nothing and is
// reported, like any look-up that fails.
func (s *Service) sweepWorkload(ctx context.Context, r *Request) error {
	role, ok := s.Catalog().Role(r.Role)
	if ok {
		why, err := workloadEligible(role, *r.Workload, r.ruleInput(), s.now())
		if err != nil {
			return fmt.Errorf("check workload of %s: %w", r.ID, err)
		}
		if why == nil {
			return nil
		}
	}
	s.log.InfoContext(ctx, "ending a workload's access the catalog no longer admits", "request_id", r.ID, "role", r.Role, "workload", r.Requester.Name)
	return s.terminate(ctx, r, ReasonWorkloadRefused)
}
