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

// approversOf is who approves r under role: while it is pending, the
// approvers of the step it waits on (see approversAt); once decided, those
// of every step, who may all revoke or review it.
func approversOf(role *rules.Role, r *Request) []string {
	if r.State == Pending || len(r.Steps) == 0 {
		return approversAt(role, r, r.CurrentStep())
	}
	var all []string
	for step := range role.Steps() {
		for _, a := range approversAt(role, r, step) {
			if !slices.Contains(all, a) {
				all = append(all, a)
			}
		}
	}
	return all
}

// approversAt is who approves step of r under role: the step's approvers
// in r's account (see rules.Role.StepApprovers) and, once r was
// escalated, the role's escalation_approvers at the step it escalated at.
func approversAt(role *rules.Role, r *Request, step int) []string {
	list := role.StepApprovers(r.Account, step)
	if r.Escalated && step == r.EscalatedStep {
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

// isApprover reports whether userID is among the approvers list gives of
// r's role, now (see approversOf and approversAt).
func (s *Service) isApprover(ctx context.Context, r *Request, userID string, list func(*rules.Role, *Request) []string) (bool, error) {
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return false, nil
	}
	return s.inList(ctx, role, list(role, r), userID)
}

// approves reports whether userID is an approver of role in account now,
// at any of its steps.
func (s *Service) approves(ctx context.Context, role *rules.Role, account, userID string) (bool, error) {
	for step := range role.Steps() {
		if ok, err := s.inList(ctx, role, role.StepApprovers(account, step), userID); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
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
