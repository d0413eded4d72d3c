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

// Reconcile compares the members of every aws_iam_group, aws_sso_group
// and aws_sso role with `reconcile: report` or `enforce` against the
// grants jitbot holds for it (for aws_sso, the users assigned the
// permission set in each of the role's accounts). Each member without a
// live grant, there before and after the store was read, is reported
// (EventReconciled) and, for enforce, removed. A member whose grant is
// being issued at that instant is never removed by mistake: the store is
// read again right before removal, and again after it, putting the member
// back if a grant went live in between. Reconcile goes on through the
// roles when one fails and returns the errors joined. In a dry run it does
// nothing: it would read AWS, and a dry run calls no AWS API.
func (s *Service) Reconcile(ctx context.Context) error {
	if s.opts.DryRun {
		return nil
	}
	var errs []error
	c := s.Catalog()
	for _, name := range c.Names() {
		role, _ := c.Role(name)
		if !sharedAccess(role.Backend) || (role.Reconcile != "report" && role.Reconcile != "enforce") {
			continue
		}
		for _, target := range reconcileTargets(role) {
			if err := s.reconcile(ctx, role, target); err != nil {
				errs = append(errs, fmt.Errorf("reconcile %s (%s): %w", name, target, err))
			}
		}
	}
	return errors.Join(errs...)
}

// reconcileTargets are the groups or assignments a role's grants give.
func reconcileTargets(role *rules.Role) []string {
	switch role.Backend {
	case BackendGroup:
		return []string{role.Group}
	case BackendSSOGroup:
		return []string{role.SSOGroup}
	}
	targets := make([]string, len(role.Accounts))
	for i, a := range role.Accounts {
		targets[i] = SSOTarget(a.ID, role.PermissionSet)
	}
	return targets
}

func (s *Service) reconcile(ctx context.Context, role *rules.Role, target string) error {
	backend, ok := s.opts.Backends[role.Backend]
	if !ok {
		return fmt.Errorf("no %s backend", role.Backend)
	}
	lister, ok := backend.(Lister)
	if !ok {
		return fmt.Errorf("the %s backend cannot list members", role.Backend)
	}
	h := Hold{Backend: role.Backend, Target: target}
	members, err := lister.Members(ctx, target)
	if err != nil {
		return err
	}
	strays, err := s.withoutGrant(ctx, h, members)
	if err != nil || len(strays) == 0 {
		return err
	}
	// A grant revoked between the listing and the reading of the store
	// looks like a stray: its member was there then, and its record has
	// ended now. Only a member still there after the store said they
	// hold nothing is one; the store is read again for them, for a grant
	// that went live in between.
	still, err := lister.Members(ctx, target)
	if err != nil {
		return err
	}
	strays = slices.DeleteFunc(strays, func(m string) bool { return !slices.Contains(still, m) })
	if strays, err = s.withoutGrant(ctx, h, strays); err != nil {
		return err
	}
	for _, m := range strays {
		h.Principal = m
		r := Request{Role: role.Name, Backend: role.Backend, Target: target, Principal: m}
		if role.Reconcile == "report" {
			s.emit(ctx, Event{Type: EventReconciled, Request: r, Err: strayText(h, "is") + " (reconcile: report)"})
			continue
		}
		if err := s.removeStray(ctx, backend, h); err != nil {
			return err
		}
		s.emit(ctx, Event{Type: EventReconciled, Request: r, Err: strayText(h, "was") + " and has been removed (reconcile: enforce)"})
	}
	return nil
}

// strayText says what a member without a grant has, or had ("is" or
// "was").
func strayText(h Hold, is string) string {
	switch h.Backend {
	case BackendSSO:
		account, ps, _ := ParseSSOTarget(h.Target)
		return fmt.Sprintf("Identity Center user %s %s assigned %s in account %s without a grant from jitbot", h.Principal, is, ps, account)
	case BackendSSOGroup:
		return fmt.Sprintf("Identity Center user %s %s in group %s without a grant from jitbot", h.Principal, is, h.Target)
	}
	return fmt.Sprintf("IAM user %s %s in %s without a grant from jitbot", h.Principal, is, h.Target)
}

// withoutGrant returns the members who have no live grant of h's target.
func (s *Service) withoutGrant(ctx context.Context, h Hold, members []string) ([]string, error) {
	var out []string
	for _, m := range members {
		h.Principal = m
		live, err := s.liveGrant(ctx, h)
		if err != nil {
			return nil, err
		}
		if live == nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// removeStray takes the member h.Principal out of h.Target, unless a grant
// for them went live meanwhile; if one did during the removal, the
// membership is put back.
func (s *Service) removeStray(ctx context.Context, backend Backend, h Hold) error {
	stray := Grant{Backend: h.Backend, Target: h.Target, Principal: h.Principal, RequestID: "reconcile"}
	if _, err := backend.Revoke(ctx, stray); err != nil {
		return fmt.Errorf("remove %s from %s: %w", h.Principal, h.Target, err)
	}
	// Only a grant that may hold the membership now puts it back; one
	// being revoked or overdue would have it removed again.
	live, err := s.holderOf(ctx, h, s.mayHold)
	if err != nil || live == nil {
		return err
	}
	s.log.WarnContext(ctx, "a grant went live while reconciling; putting the member back", "request_id", live.ID, "principal", h.Principal, "target", h.Target)
	if _, err := backend.Grant(ctx, s.grantOf(live)); err != nil {
		return fmt.Errorf("put %s back in %s for %s: %w", h.Principal, h.Target, live.ID, err)
	}
	return nil
}

// liveGrant returns a record that gives member the group now or is about
// to (granting), or whose access jitbot is taking away (revoking, or active
// and overdue by less than approvalsGoodFor: a revocation a killed process
// left to the scheduler). Active and granting records count only while
// they may hold (mayHold), and an overdue one only briefly, so an old
// signed version written back to the store cannot shelter a stray.
func (s *Service) liveGrant(ctx context.Context, h Hold) (*Request, error) {
	now := s.now()
	return s.holderOf(ctx, h, func(r *Request) bool {
		overdue := r.State == Active && now.Sub(r.ExpiresAt) < s.approvalsGoodFor()
		return r.State == Revoking || overdue || s.mayHold(r)
	})
}

// holderOf returns the first record holding h that counts.
func (s *Service) holderOf(ctx context.Context, h Hold, counts func(*Request) bool) (*Request, error) {
	holders, err := s.store.Holders(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("read grants of %s: %w", h.Target, err)
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
