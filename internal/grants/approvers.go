package grants

import (
	"context"
	"fmt"
	"slices"

	"github.com/jitbot/jitbot/internal/rules"
)

// eachApprover resolves the approvers of role now, so that somebody who
// has left an approving user group can no longer approve: it calls yield
// with the role's listed users, then with the current members of each of
// its user groups, in catalog order, until yield returns false. Groups
// after that are not asked for.
func (s *Service) eachApprover(ctx context.Context, role *rules.Role, yield func(id string) bool) error {
	for _, id := range role.Users() {
		if !yield(id) {
			return nil
		}
	}
	for _, g := range role.Groups() {
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

// Approvers returns who may decide r now: the role's listed users and the
// current members of its user groups, in catalog order, without the
// requester and without repeats, and without those a click would refuse:
// people who are not full members of the workspace or whom the role's
// approver_rule does not admit. They are not asked (nor DMed).
func (s *Service) Approvers(ctx context.Context, r *Request) ([]string, error) {
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return nil, nil
	}
	var out []string
	err := s.eachApprover(ctx, role, func(id string) bool {
		if id != r.Requester.ID && !slices.Contains(out, id) && s.mayBeAsked(ctx, role, r, id) {
			out = append(out, id)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ApproverOf returns the roles userID may approve now, by name.
func (s *Service) ApproverOf(ctx context.Context, userID string) ([]string, error) {
	var out []string
	for _, name := range s.Catalog().Names() {
		ok, err := s.isApprover(ctx, name, userID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, name)
		}
	}
	return out, nil
}

// isApprover reports whether userID is an approver of the role now.
func (s *Service) isApprover(ctx context.Context, roleName, userID string) (bool, error) {
	role, ok := s.Catalog().Role(roleName)
	if !ok {
		return false, nil
	}
	found := false
	err := s.eachApprover(ctx, role, func(id string) bool {
		found = id == userID
		return !found
	})
	return found, err
}
