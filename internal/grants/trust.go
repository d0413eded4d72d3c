package grants

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// untrusted says why u, an approver of a role by the catalog, may still not
// decide: only full members of the workspace may. Guests (multi- and
// single-channel), Slack Connect users of another organisation,
// deactivated accounts and bots are refused, whatever group they sit in:
// a group is edited by more people than the catalog is. It returns "" for
// a full member.
func untrusted(u rules.User) string {
	switch {
	case u.Deleted:
		return "deactivated accounts cannot decide requests"
	case u.IsBot:
		return "bots cannot decide requests"
	case u.IsGuest:
		return "guests cannot decide requests"
	case u.IsExternal:
		return "people from other organisations cannot decide requests"
	}
	return ""
}

// mayStillApprove says why userID may not decide r now, or "": they must
// be a current approver of its role, a full member of the workspace, as
// the directory knows them this moment, and pass the role's approver_rule.
func (s *Service) mayStillApprove(ctx context.Context, r *Request, userID string) (string, error) {
	return s.mayStillApproveIn(ctx, r, userID, approversOf)
}

// mayStillApproveAt is mayStillApprove for step of r: an approval is
// checked against the step it was given at.
func (s *Service) mayStillApproveAt(ctx context.Context, r *Request, userID string, step int) (string, error) {
	return s.mayStillApproveIn(ctx, r, userID, func(role *rules.Role, r *Request) []string { return approversAt(role, r, step) })
}

// mayStillApproveIn is mayStillApprove with the approvers of r under its
// role given by list.
func (s *Service) mayStillApproveIn(ctx context.Context, r *Request, userID string, list func(*rules.Role, *Request) []string) (string, error) {
	ok, err := s.isApprover(ctx, r, userID, list)
	if err != nil {
		return "", err
	}
	if !ok {
		return notApproverOf(r.Role), nil
	}
	u, err := s.dir.User(Fresh(ctx), userID)
	if err != nil {
		return "", fmt.Errorf("look up approver %s: %w", userID, err)
	}
	if why := untrusted(u); why != "" {
		return why, nil
	}
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return notApproverOf(r.Role), nil
	}
	allowed, err := role.ApproverAllowed(u, r.ruleInput(), s.now())
	if err != nil {
		return "", fmt.Errorf("evaluate approver_rule of %s: %w", r.Role, err)
	}
	if !allowed {
		return fmt.Sprintf("the approver_rule of %s refuses this approver", r.Role), nil
	}
	return "", nil
}

// mayBeAsked reports whether approver id, as the directory knows them
// (cached answers will do), would be let decide r. Someone the directory
// cannot answer for is asked all the same: their click is checked afresh.
func (s *Service) mayBeAsked(ctx context.Context, role *rules.Role, r *Request, id string) bool {
	u, err := s.dir.User(ctx, id)
	if err != nil {
		return true
	}
	if untrusted(u) != "" || r.triggeredBy(u) {
		return false
	}
	ok, err := role.ApproverAllowed(u, r.ruleInput(), s.now())
	return ok || err != nil
}

func notApproverOf(role string) string { return "not an approver of " + role }

// staleApprovals re-checks the approvals r already has when the one about
// to be recorded would complete it: an approver who has since left the
// role, or become a guest or been deactivated, no longer counts. It
// returns why, by approver; the request then waits for another approver
// instead of being granted on their word.
func (s *Service) staleApprovals(ctx context.Context, r *Request) (map[string]string, error) {
	if r.ApprovalsRequired < 2 || len(r.Approvals)+1 < r.ApprovalsRequired {
		return nil, nil
	}
	stale := map[string]string{}
	for _, a := range r.Approvals {
		why, err := s.mayStillApproveAt(ctx, r, a.Approver, a.Step)
		if err != nil {
			return nil, err
		}
		if why != "" {
			stale[a.Approver] = fmt.Sprintf("the approval of %s no longer counts: %s", a.Approver, why)
		}
	}
	return stale, nil
}

// dropApprovals removes the approvals of a pending request that no longer
// count (why, by approver), each journaled as a refusal so that the audit
// trail says whose word was set aside and why.
func (r *Request) dropApprovals(stale map[string]string, now time.Time) {
	if r.State != Pending {
		return
	}
	for _, a := range slices.Clone(r.Approvals) {
		if why, ok := stale[a.Approver]; ok {
			r.Approvals = slices.DeleteFunc(r.Approvals, func(b Approval) bool { return b.Approver == a.Approver })
			r.note(EventRefused, now, a.Approver, why)
		}
	}
}
