package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/internal/rules"
)

// ReasonDeactivated is the RevokeReason of a grant, and the DenyReason of a
// request, ended because its requester's Slack account was deactivated.
const ReasonDeactivated = "requester deactivated in Slack"

// ReasonFilerDeactivated is the DenyReason of a request filed for someone
// else, not yet issued, withdrawn because who filed it was deactivated
// in Slack.
const ReasonFilerDeactivated = "filed by someone whose Slack account was deactivated"

// Deactivated ends what userID holds and asks for once the directory,
// asked now, confirms their Slack account is deactivated: active grants
// are revoked and pending requests denied, each with ReasonDeactivated in
// the audit trail. The Slack layer calls it on a user_change event; the
// directory is asked again so that nothing but Slack's own answer ends a
// grant. It reports whether the user was deactivated.
func (s *Service) Deactivated(ctx context.Context, userID string) (bool, error) {
	u, err := s.dir.User(Fresh(ctx), userID)
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", userID, err)
	}
	if !u.Deleted {
		return false, nil
	}
	var errs []error
	err = s.store.EachOpen(ctx, func(page []*Request) error {
		for _, r := range page {
			switch {
			case r.isGrantee(userID):
				errs = append(errs, s.terminate(ctx, r, ReasonDeactivated))
			case r.filedBy(userID) && (r.State == Pending || r.State == Scheduled):
				// Not yet issued, it would be refused at approval or at its
				// start (filerStillMay); access already issued to an
				// eligible grantee stays theirs.
				errs = append(errs, s.withdraw(ctx, r.ID, ReasonFilerDeactivated))
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("read open requests: %w", err))
	}
	return true, errors.Join(errs...)
}

// Sweep is the periodic lifecycle pass, which catches what a missed Slack
// event left: it looks up the requester of every pending request and
// active grant, once per distinct requester, and ends those of deactivated
// users; and it denies every pending extension whose grant has ended.
// It goes on past failures and returns them joined.
func (s *Service) Sweep(ctx context.Context) error {
	var errs []error
	deleted := s.deactivatedByRoster(ctx)
	err := s.store.EachOpen(ctx, func(page []*Request) error {
		for _, r := range page {
			if err := s.sweepOne(ctx, r, deleted); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("read open requests: %w", err))
	}
	return errors.Join(errs...)
}

// deactivatedByRoster is, for everyone the directory lists at once (a
// Roster), whether they are deactivated, read from the source now; it is
// empty when the directory cannot list everyone, and then each requester
// is asked for on their own.
func (s *Service) deactivatedByRoster(ctx context.Context) map[string]bool {
	deleted := map[string]bool{}
	roster, ok := s.dir.(Roster)
	if !ok {
		return deleted
	}
	everyone, err := roster.Everyone(Fresh(ctx))
	if err != nil {
		s.log.WarnContext(ctx, "lifecycle pass: could not list everyone at once; asking for each requester", "err", err)
		return deleted
	}
	for id, u := range everyone {
		deleted[id] = u.Deleted
	}
	return deleted
}

// sweepOne is Sweep's pass over r; deleted holds the answers known so far
// (deactivatedByRoster's, and each requester asked for on their own), so
// that nobody is asked twice however many records they have.
func (s *Service) sweepOne(ctx context.Context, r *Request, deleted map[string]bool) error {
	if r.State != Pending && r.State != Scheduled && r.State != Active {
		return nil
	}
	if r.ByWorkload() {
		// No Slack account to be deactivated, and no extensions; but
		// the catalog may no longer admit it.
		return s.sweepWorkload(ctx, r)
	}
	id := r.Requester.ID
	gone, seen := deleted[id]
	if !seen {
		u, err := s.dir.User(Fresh(ctx), id)
		if err != nil {
			return fmt.Errorf("look up %s: %w", id, err)
		}
		gone, deleted[id] = u.Deleted, u.Deleted
	}
	if gone {
		return s.terminate(ctx, r, ReasonDeactivated)
	}
	why, err := s.orphaned(ctx, r)
	if err != nil || why == "" {
		return err
	}
	return s.withdraw(ctx, r.ID, why)
}

// terminate takes r away for why: a pending request or a scheduled grant is denied, an active grant
// revoked (and the extensions of it ended with it). A record in another
// state is left: granting becomes active and the next Sweep ends it.
func (s *Service) terminate(ctx context.Context, r *Request, why string) error {
	switch r.State {
	case Pending, Scheduled:
		return s.withdraw(ctx, r.ID, why)
	case Active:
		now := s.now()
		rec, err := s.store.Update(ctx, r.ID, func(r *Request) error {
			return r.Revoke("", why, now, s.opts.Lease)
		})
		if errors.Is(err, ErrDecided) {
			return nil // it moved on meanwhile
		}
		if err != nil {
			return fmt.Errorf("revoke %s: %w", r.ID, err)
		}
		if _, err := s.revoke(ctx, rec); err != nil {
			// Recorded; the scheduler retries it.
			s.log.WarnContext(ctx, "revocation failed; will retry", "request_id", r.ID, "err", err)
		}
		return s.endExtensions(ctx, r.ID)
	}
	return nil
}

// withdraw denies the pending request id on jitbot's behalf.
func (s *Service) withdraw(ctx context.Context, id RequestID, why string) error {
	now := s.now()
	_, err := s.step(ctx, id, nil, func(r *Request) error { return r.Withdraw(why, now) })
	if err != nil && !errors.Is(err, ErrStale) {
		return fmt.Errorf("withdraw %s: %w", id, err)
	}
	return nil
}

// endExtensions ends the extensions of the grant id, which was revoked
// before its time: pending ones are denied, active ones revoked. An
// extension follows its original; it never outlives a revocation.
func (s *Service) endExtensions(ctx context.Context, id RequestID) error {
	var errs []error
	err := s.store.EachOpen(ctx, func(page []*Request) error {
		for _, r := range page {
			if r.Extends == id {
				errs = append(errs, s.terminate(ctx, r, fmt.Sprintf("the grant it extends, %s, was revoked", id)))
			}
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("read extensions of %s: %w", id, err))
	}
	return errors.Join(errs...)
}

// orphaned says why the extension r may no longer be granted: the grant
// it extends is not active. It returns "" for a request that extends
// nothing or whose grant is active.
func (s *Service) orphaned(ctx context.Context, r *Request) (string, error) {
	if r.Extends == "" || r.State != Pending {
		return "", nil
	}
	orig, err := s.store.Get(ctx, r.Extends)
	if errors.Is(err, ErrNotFound) {
		return fmt.Sprintf("the grant it extends, %s, no longer exists", r.Extends), nil
	}
	if err != nil {
		return "", fmt.Errorf("load %s, which %s extends: %w", r.Extends, r.ID, err)
	}
	if orig.State == Active || orig.State == Granting {
		return "", nil
	}
	return fmt.Sprintf("the grant it extends, %s, is no longer active (it is %s)", r.Extends, orig.State), nil
}

// approvableExtension refuses the approval of an extension whose grant
// has ended, and denies it: approved, it would be access of its own that
// nobody asked for.
func (s *Service) approvableExtension(ctx context.Context, r *Request) error {
	why, err := s.orphaned(ctx, r)
	if err != nil || why == "" {
		return err
	}
	if err := s.withdraw(ctx, r.ID, why); err != nil {
		return err
	}
	return userErr(ErrDecided, fmt.Sprintf("%s cannot be approved and has been denied: %s", r.ID, why))
}

// GroupChanged records, in the audit trail, that added and removed changed
// the members of the Slack user group handle, when a role of the catalog
// names it: as an approver, or in its eligible or auto_approve rule. Those
// groups decide who may ask and who may approve. It reports whether the
// catalog names the group.
func (s *Service) GroupChanged(ctx context.Context, handle string, added, removed []string) bool {
	var roles []string
	for role := range s.Catalog().All() {
		if namesGroup(role, handle) {
			roles = append(roles, role.Name)
		}
	}
	if len(roles) == 0 || len(added)+len(removed) == 0 {
		return false
	}
	msg := "@" + handle + ":"
	if len(added) > 0 {
		msg += " added " + strings.Join(added, ", ") + ";"
	}
	if len(removed) > 0 {
		msg += " removed " + strings.Join(removed, ", ") + ";"
	}
	msg += " named by " + strings.Join(roles, ", ")
	s.emit(ctx, Event{Type: EventGroupChanged, Request: Request{Role: strings.Join(roles, ",")}, Err: msg})
	return true
}

// namesGroup reports whether role names the user group handle: among its
// approvers or escalation approvers, or as a quoted string in its
// eligible, auto_approve or request_for_others rule
// (as in '"sre" in user.groups'), in any account.
func namesGroup(role *rules.Role, handle string) bool {
	for _, list := range append(role.ApproverLists(), role.EscalationApprovers) {
		if slices.Contains(rules.GroupHandles(list), handle) {
			return true
		}
	}
	quoted := []string{`"` + handle + `"`, `'` + handle + `'`}
	for _, src := range []string{role.Eligible, role.AutoApprove, role.RequestForOthers} {
		for _, q := range quoted {
			if strings.Contains(src, q) {
				return true
			}
		}
	}
	return false
}
