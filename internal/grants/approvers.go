package grants

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/jitbot/jitbot/internal/rules"
)

// eachApprover resolves the approver list (see approversOf) now, so that
// somebody who has left an approving user group can no longer approve:
// it calls yield with the listed users, then with the current members of
// each user group, in catalog order, until yield returns false. Groups
// after that are not asked for.
func (s *Service) eachApprover(ctx context.Context, role *rules.Role, list []string, yield func(id string) bool) error {
	for _, id := range rules.UserIDs(list) {
		if !yield(id) {
			return nil
		}
	}
	for _, g := range rules.GroupHandles(list) {
		members, err := s.dir.GroupMembers(ctx, g)
		if err != nil {
			return fmt.Errorf("resolve approvers of %s in @%s: %w", role.Name, g, err)
		}
		for _, id := range members {
			if !yield(id) {
				return nil
			}
		}
	}
	return nil
}

// approversOf is who approves r under role: its approvers in r's account
// (see rules.Role.ApproversIn) and, once r was escalated, the role's
// escalation_approvers.
func approversOf(role *rules.Role, r *Request) []string {
	list := role.ApproversIn(r.Account)
	if r.Escalated {
		list = append(slices.Clone(list), role.EscalationApprovers...)
	}
	return list
}

// Approvers returns who may decide r now: the listed users and the
// current members of the user groups of its role (in its account), in catalog order, without the
// requester and without repeats, and without those a click would refuse:
// people who are not full members of the workspace or whom the role's
// approver_rule does not admit, or who triggered the run of a workload's
// request (see triggeredBy). They are not asked (nor DMed).
func (s *Service) Approvers(ctx context.Context, r *Request) ([]string, error) {
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return nil, nil
	}
	var out []string
	err := s.eachApprover(ctx, role, approversOf(role, r), func(id string) bool {
		if !r.requestedBy(id) && !slices.Contains(out, id) && s.mayBeAsked(ctx, role, r, id) {
			out = append(out, id)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ApproverOf returns the roles userID may approve now, in some account or
// in all, by name. The role's own approvers count only while some account
// of it is left to them: where account_approvers names every account,
// they approve nothing. Someone who may decide nothing (a guest, a
// deactivated account: see untrusted) approves no role, whatever group
// they sit in.
func (s *Service) ApproverOf(ctx context.Context, userID string) ([]string, error) {
	u, err := s.dir.User(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", userID, err)
	}
	if untrusted(u) != "" {
		return nil, nil
	}
	var out []string
	for role := range s.Catalog().All() {
		accounts := slices.Sorted(maps.Keys(role.AccountApprovers))
		if len(role.Accounts) == 0 || slices.ContainsFunc(role.Accounts, func(a rules.Account) bool {
			_, own := role.AccountApprovers[a.ID]
			return !own
		}) {
			accounts = append([]string{""}, accounts...)
		}
		for _, account := range accounts {
			ok, err := s.approves(ctx, role, account, userID)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, role.Name)
				break
			}
		}
	}
	return out, nil
}

// isApprover reports whether userID is an approver of r's role, in r's
// account, now: or one of its escalation approvers, once r was escalated.
func (s *Service) isApprover(ctx context.Context, r *Request, userID string) (bool, error) {
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return false, nil
	}
	return s.inList(ctx, role, approversOf(role, r), userID)
}

// approves reports whether userID is an approver of role in account now.
func (s *Service) approves(ctx context.Context, role *rules.Role, account, userID string) (bool, error) {
	return s.inList(ctx, role, role.ApproversIn(account), userID)
}

// inList reports whether userID is among the approver list of role now.
func (s *Service) inList(ctx context.Context, role *rules.Role, list []string, userID string) (bool, error) {
	found := false
	err := s.eachApprover(ctx, role, list, func(id string) bool {
		found = id == userID
		return !found
	})
	return found, err
}
