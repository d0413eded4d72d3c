package grants

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/jitbot/jitbot/internal/rules"
)

// eachApprover resolves the approvers of role in account now (see
// rules.Role.ApproversIn), so that somebody who has left an approving user
// group can no longer approve: it calls yield with the listed users, then
// with the current members of each user group, in catalog order, until
// yield returns false. Groups after that are not asked for.
func (s *Service) eachApprover(ctx context.Context, role *rules.Role, account string, yield func(id string) bool) error {
	list := role.ApproversIn(account)
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
	err := s.eachApprover(ctx, role, r.Account, func(id string) bool {
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
// account, now.
func (s *Service) isApprover(ctx context.Context, r *Request, userID string) (bool, error) {
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return false, nil
	}
	return s.approves(ctx, role, r.Account, userID)
}

// approves reports whether userID is an approver of role in account now.
func (s *Service) approves(ctx context.Context, role *rules.Role, account, userID string) (bool, error) {
	found := false
	err := s.eachApprover(ctx, role, account, func(id string) bool {
		found = id == userID
		return !found
	})
	return found, err
}
