package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jitbot/jitbot/internal/rules"
)

// Listing is what /jit list shows a user.
type Listing struct {
	Mine     []*Request // the user's pending requests and current grants
	Awaiting []*Request // pending requests the user may approve
}

// List returns the user's open requests and grants and, for approvers, the
// pending requests they can decide (those they would be asked to: see
// Approvers), oldest first.
func (s *Service) List(ctx context.Context, userID string) (Listing, error) {
	roles, err := s.listedIn(ctx, userID)
	if err != nil {
		return Listing{}, err
	}
	open, err := s.store.OpenOf(ctx, userID, roles)
	if err != nil {
		return Listing{}, fmt.Errorf("list open requests: %w", err)
	}
	slices.SortFunc(open, func(a, b *Request) int { return a.CreatedAt.Compare(b.CreatedAt) })
	var l Listing
	now := s.now()
	type approverKey struct {
		role, account string
		escalated     bool
		step          int
	}
	approverOf := map[approverKey]bool{}
	for _, r := range open {
		if r.State.Terminal() {
			continue
		}
		if r.requestedBy(userID) {
			l.Mine = append(l.Mine, r)
			continue
		}
		if r.decidable(userID, now) != nil {
			continue
		}
		key := approverKey{r.Role, r.Account, r.Escalated, r.CurrentStep()}
		ok, seen := approverOf[key]
		if !seen {
			if ok, err = s.isApprover(ctx, r, userID, approversOf); err != nil {
				return Listing{}, err
			}
			approverOf[key] = ok
		}
		// Who would be refused the click (a guest in an approving group,
		// say) is not shown the request either, as they are not asked.
		if role, found := s.Catalog().Role(r.Role); ok && found && s.mayBeAsked(ctx, role, r, userID) {
			l.Awaiting = append(l.Awaiting, r)
		}
	}
	return l, nil
}

// EligibleRoles returns the roles the user may request now, by name, each
// judged for a request of the role's default duration.
func (s *Service) EligibleRoles(ctx context.Context, userID string) ([]*rules.Role, error) {
	user, err := s.dir.User(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", userID, err)
	}
	// The user is converted to CEL once, a rule that many roles share is
	// evaluated once, and the catalog has one time bound instead of a timer
	// per rule (docs/design.md §6: 5 ms for 1,000 roles).
	user = rules.Prepare(user)
	ctx, cancel := context.WithTimeout(ctx, rules.CallTimeout)
	defer cancel()
	now := s.now()
	c := s.Catalog()
	var out []*rules.Role
	var ue *UserError // outside the loop: errors.As makes it escape
	for role := range c.All() {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("check %s's eligibility for %d roles: %w", userID, len(c.Roles), context.Cause(ctx))
		}
		in := rules.Input{Role: role.Name, Duration: role.DefaultDuration}
		err := checkEligible(role, user, in, now)
		switch {
		case err == nil:
			out = append(out, role)
		case errors.As(err, &ue):
		default:
			s.log.WarnContext(ctx, "eligibility rule failed", "role", role.Name, "user", userID, "err", err)
		}
	}
	return out, nil
}

// listedIn returns the roles whose open requests userID may be asked to
// decide: those where they are named, directly or through a user group
// they are in, at any step, in any account, or among the escalation
// approvers. List reads only these (and the user's own records), and
// checks each request afresh as before; this only narrows what is read.
// Each user group the catalog names is asked for once.
func (s *Service) listedIn(ctx context.Context, userID string) ([]string, error) {
	idx := s.deciders()
	roles := slices.Clone(idx.byUser[userID])
	for g, of := range idx.byGroup {
		members, err := s.dir.GroupMembers(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("members of @%s: %w", g, err)
		}
		if slices.Contains(members, userID) {
			roles = append(roles, of...)
		}
	}
	slices.Sort(roles)
	return slices.Compact(roles), nil
}

// deciderIndex is, for one catalog, the roles each listed user and each
// listed user group may decide in some step, account or escalation.
type deciderIndex struct {
	catalog         *rules.Catalog
	byUser, byGroup map[string][]string
}

// deciders returns the index of the catalog in force, built once per
// catalog: List runs for every /jit list and App Home visit, and a
// catalog of 1,000 roles made walking every approver list the larger part
// of its time.
func (s *Service) deciders() *deciderIndex {
	cat := s.Catalog()
	if idx := s.deciderIdx.Load(); idx != nil && idx.catalog == cat {
		return idx
	}
	idx := &deciderIndex{catalog: cat, byUser: map[string][]string{}, byGroup: map[string][]string{}}
	for role := range cat.All() {
		for _, list := range append(role.ApproverLists(), role.EscalationApprovers) {
			for _, id := range rules.UserIDs(list) {
				idx.byUser[id] = appendOnce(idx.byUser[id], role.Name)
			}
			for _, g := range rules.GroupHandles(list) {
				idx.byGroup[g] = appendOnce(idx.byGroup[g], role.Name)
			}
		}
	}
	s.deciderIdx.Store(idx)
	return idx
}

func appendOnce(list []string, v string) []string {
	if len(list) > 0 && list[len(list)-1] == v {
		return list
	}
	return append(list, v)
}
