package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// Nothing in the store alone can grant (docs/design.md §4.3). Two checks
// stand between a record and an AWS grant call:
//
//   - verified refuses every record the store reports Tampered (written
//     without jitbot's signing key) and quarantines it: it fails, or is
//     revoked if it may hold access (Request.Quarantine), with an alert.
//   - grantable re-derives, just before the call, what the record may
//     grant from the catalog in force, the directory as it is now and the
//     record's approvals. That also bounds what an old, correctly signed
//     version of a record written back to the store can do.

// verified is the Store the service uses: the one it was given, with
// every record that fails its integrity check taken out of circulation.
type verified struct {
	Store
	s *Service
}

func (v verified) Get(ctx context.Context, id RequestID) (*Request, error) {
	r, err := v.Store.Get(ctx, id)
	if err != nil || !r.Tampered {
		return r, err
	}
	v.s.quarantine(ctx, id)
	return nil, tamperedErr(id)
}

func (v verified) Update(ctx context.Context, id RequestID, fn func(*Request) error) (*Request, error) {
	r, err := v.Store.Update(ctx, id, func(r *Request) error {
		if r.Tampered {
			return ErrTampered
		}
		lease := r.LeaseUntil
		if err := fn(r); err != nil {
			return err
		}
		if !r.LeaseUntil.Equal(lease) {
			v.s.ownLease(r)
		}
		return nil
	})
	if errors.Is(err, ErrTampered) {
		v.s.quarantine(ctx, id)
		return nil, tamperedErr(id)
	}
	return r, err
}

// Create names this process as the owner of a lease the new record takes
// (a break-glass grant is created granting).
func (v verified) Create(ctx context.Context, r *Request) error {
	if !r.LeaseUntil.IsZero() {
		v.s.ownLease(r)
	}
	return v.Store.Create(ctx, r)
}

func (v verified) Open(ctx context.Context) ([]*Request, error) {
	rs, err := v.Store.Open(ctx)
	return v.drop(ctx, rs), err
}

func (v verified) EachOpen(ctx context.Context, fn func([]*Request) error) error {
	return v.Store.EachOpen(ctx, func(page []*Request) error {
		if page = v.drop(ctx, page); len(page) == 0 {
			return nil
		}
		return fn(page)
	})
}

func (v verified) OpenOf(ctx context.Context, userID string, roles []string) ([]*Request, error) {
	rs, err := v.Store.OpenOf(ctx, userID, roles)
	return v.drop(ctx, rs), err
}

func (v verified) Holders(ctx context.Context, h Hold) ([]*Request, error) {
	rs, err := v.Store.Holders(ctx, h)
	return v.drop(ctx, rs), err
}

// Sync passes through to a store that replicates asynchronously.
func (v verified) Sync(ctx context.Context, r *Request) error {
	if sy, ok := v.Store.(Syncer); ok {
		return sy.Sync(ctx, r)
	}
	return nil
}

// drop quarantines the tampered records of rs and returns the others: a
// tampered record never counts as a holder that keeps access alive, nor
// shows in a list.
func (v verified) drop(ctx context.Context, rs []*Request) []*Request {
	return slices.DeleteFunc(rs, func(r *Request) bool {
		if r.Tampered {
			v.s.quarantine(ctx, r.ID)
		}
		return r.Tampered
	})
}

func tamperedErr(id RequestID) error {
	return &UserError{
		Msg: fmt.Sprintf("%s failed its integrity check: it was changed outside jitbot. Nothing was granted from it and the security team has been alerted", id),
		Err: ErrTampered,
	}
}

// quarantine rewrites the tampered record id under jitbot's key, failed or
// being revoked (Request.Quarantine), and raises the alert. It writes to
// the store it was given, the only path that may read a tampered record.
// A record another process quarantined first is left alone.
func (s *Service) quarantine(ctx context.Context, id RequestID) {
	ctx = context.WithoutCancel(ctx)
	now := s.now()
	var access *Hold
	if raw, err := s.opts.Store.Get(ctx, id); err == nil && raw.Tampered {
		access = s.catalogAccess(ctx, raw, now)
	}
	r, err := s.opts.Store.Update(ctx, id, func(r *Request) error {
		if !r.Tampered {
			return ErrStale
		}
		// The record's dry_run flag is not to be trusted, nor is this
		// process's mode a guide: a dry-run process also finishes the live
		// grants made before it (Service.backend). Revoke for real; a
		// membership that was imaginary is removed harmlessly.
		r.Quarantine(false, now)
		if access != nil && r.State == Revoking {
			r.Backend, r.Target, r.Principal = access.Backend, access.Target, access.Principal
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrStale):
		return
	case err != nil:
		s.log.ErrorContext(ctx, "a record failed its integrity check and could not be quarantined", "request_id", id, "err", err)
		return
	}
	s.log.ErrorContext(ctx, "a record failed its integrity check: quarantined", "request_id", id, "state", r.State)
	s.publish(ctx, r, r.Journal, nil)
	s.poke()
}

// catalogAccess is what the catalog in force grants for r's role to r's
// requester: what a tampered record's revocation takes away, rather than
// the backend, target and IAM user the record names, which whoever
// tampered with it chose. It is nil when the role is gone or the requester
// cannot be looked up; the record's own fields are all there is then, and
// reconcile: enforce removes what they miss.
func (s *Service) catalogAccess(ctx context.Context, r *Request, now time.Time) *Hold {
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return nil
	}
	var requester rules.User
	if r.ByWorkload() && role.Backend != BackendSTS {
		// A workload holds only aws_sts credentials; the role's other
		// backend would grant it nothing to take away.
		return nil
	}
	if role.Backend != BackendSTS {
		var err error
		if requester, err = s.dir.User(Fresh(ctx), r.Requester.ID); err != nil {
			s.log.WarnContext(ctx, "a tampered record's requester could not be looked up: revoking what the record names", "request_id", r.ID, "err", err)
			return nil
		}
	}
	target, principal, err := catalogGrant(role, requester, r.ruleInput(), now)
	if _, named := principalRule[role.Backend]; err != nil || (named && principal == "") {
		s.log.WarnContext(ctx, "what the catalog grants a tampered record's requester could not be derived: revoking what the record names", "request_id", r.ID, "err", err)
		return nil
	}
	return &Hold{Backend: role.Backend, Target: target, Principal: principal}
}
