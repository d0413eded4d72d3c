package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jitbot/jitbot/internal/rules"
)

// Lister is what a backend offers for reconciliation: who holds a target
// right now, by the principal names grants use (IAM user names).
type Lister interface {
	Members(ctx context.Context, target string) ([]string, error)
}

// Reconcile compares the members of every aws_iam_group role with
// `reconcile: report` or `enforce` against the grants jitbot holds for it.
// Each member without a live grant, in the group before and after the
// store was read, is reported (EventReconciled) and, for enforce, removed. A member whose grant is being issued at that instant is
// never removed by mistake: the store is read again right before removal,
// and again after it, putting the member back if a grant went live in
// between. Reconcile goes on through the roles when one fails and returns
// the errors joined. In a dry run it does nothing: it would read IAM, and
// a dry run calls no AWS API.
func (s *Service) Reconcile(ctx context.Context) error {
	if s.opts.DryRun {
		return nil
	}
	var errs []error
	c := s.Catalog()
	for _, name := range c.Names() {
		role, _ := c.Role(name)
		if role.Backend != BackendGroup || (role.Reconcile != "report" && role.Reconcile != "enforce") {
			continue
		}
		if err := s.reconcile(ctx, role); err != nil {
			errs = append(errs, fmt.Errorf("reconcile %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) reconcile(ctx context.Context, role *rules.Role) error {
	backend, ok := s.opts.Backends[BackendGroup]
	if !ok {
		return errors.New("no aws_iam_group backend")
	}
	lister, ok := backend.(Lister)
	if !ok {
		return errors.New("the aws_iam_group backend cannot list members")
	}
	members, err := lister.Members(ctx, role.Group)
	if err != nil {
		return err
	}
	strays, err := s.withoutGrant(ctx, role.Group, members)
	if err != nil || len(strays) == 0 {
		return err
	}
	// A grant revoked between the listing and the reading of the store
	// looks like a stray: its member was in the group then, and its
	// record has ended now. Only a member still in the group after the
	// store said they hold nothing is one; the store is read again for
	// them, for a grant that went live in between.
	still, err := lister.Members(ctx, role.Group)
	if err != nil {
		return err
	}
	strays = slices.DeleteFunc(strays, func(m string) bool { return !slices.Contains(still, m) })
	if strays, err = s.withoutGrant(ctx, role.Group, strays); err != nil {
		return err
	}
	for _, m := range strays {
		r := Request{Role: role.Name, Backend: BackendGroup, Target: role.Group, Principal: m}
		if role.Reconcile == "report" {
			s.emit(ctx, Event{Type: EventReconciled, Request: r,
				Err: fmt.Sprintf("IAM user %s is in %s without a grant from jitbot (reconcile: report)", m, role.Group)})
			continue
		}
		if err := s.removeStray(ctx, backend, role, m); err != nil {
			return err
		}
		s.emit(ctx, Event{Type: EventReconciled, Request: r,
			Err: fmt.Sprintf("IAM user %s was in %s without a grant from jitbot and has been removed (reconcile: enforce)", m, role.Group)})
	}
	return nil
}

// withoutGrant returns the members who have no live grant for group.
func (s *Service) withoutGrant(ctx context.Context, group string, members []string) ([]string, error) {
	var out []string
	for _, m := range members {
		live, err := s.liveGrant(ctx, group, m)
		if err != nil {
			return nil, err
		}
		if live == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// removeStray takes member out of the role's group, unless a grant for
// them went live meanwhile; if one did during the removal, the membership
// is put back.
func (s *Service) removeStray(ctx context.Context, backend Backend, role *rules.Role, member string) error {
	stray := Grant{Backend: BackendGroup, Target: role.Group, Principal: member, RequestID: "reconcile"}
	if _, err := backend.Revoke(ctx, stray); err != nil {
		return fmt.Errorf("remove %s from %s: %w", member, role.Group, err)
	}
	// Only a grant that may hold the membership now puts it back; one
	// being revoked or overdue would have it removed again.
	live, err := s.holderOf(ctx, role.Group, member, s.mayHold)
	if err != nil || live == nil {
		return err
	}
	s.log.WarnContext(ctx, "a grant went live while reconciling; putting the member back", "request_id", live.ID, "principal", member, "group", role.Group)
	if _, err := backend.Grant(ctx, grantOf(live)); err != nil {
		return fmt.Errorf("put %s back in %s for %s: %w", member, role.Group, live.ID, err)
	}
	return nil
}

// liveGrant returns a record that gives member the group now or is about
// to (granting), or whose access jitbot is taking away (revoking, or active
// and overdue by less than approvalsGoodFor: a revocation a killed process
// left to the scheduler). Active and granting records count only while
// they may hold (mayHold), and an overdue one only briefly, so an old
// signed version written back to the store cannot shelter a stray.
func (s *Service) liveGrant(ctx context.Context, group, member string) (*Request, error) {
	now := s.now()
	return s.holderOf(ctx, group, member, func(r *Request) bool {
		overdue := r.State == Active && now.Sub(r.ExpiresAt) < s.approvalsGoodFor()
		return r.State == Revoking || overdue || s.mayHold(r)
	})
}

// holderOf returns the first record holding member's membership of group
// that counts.
func (s *Service) holderOf(ctx context.Context, group, member string, counts func(*Request) bool) (*Request, error) {
	h := Hold{Backend: BackendGroup, Target: group, Principal: member}
	holders, err := s.store.Holders(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("read grants of %s: %w", group, err)
	}
	i := slices.IndexFunc(holders, func(r *Request) bool {
		rh, live := HoldOf(r)
		return live && rh == h && counts(r)
	})
	if i < 0 {
		return nil, nil
	}
	return holders[i], nil
}
