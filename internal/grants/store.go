package grants

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned for an unknown request ID.
var ErrNotFound = errors.New("request not found")

// ErrExists is returned by Store.Create when the ID is already taken.
var ErrExists = errors.New("request ID already exists")

// ErrConflict is returned by Store.Update when the record kept changing
// under it and it gave up; the caller may retry.
var ErrConflict = errors.New("request changed concurrently")

// Store keeps request records and the scheduler's queues.
//
// Every write also places the record in the queue and at the time that
// Request.Schedule names (or removes it from both queues when it names
// none), in the same atomic step.
type Store interface {
	// Create stores a new record; ErrExists if the ID is taken.
	Create(ctx context.Context, r *Request) error
	// Get returns a copy of the record; ErrNotFound if unknown.
	Get(ctx context.Context, id RequestID) (*Request, error)
	// Update reads the record, applies fn to a copy and writes it back only
	// if nobody wrote in between (compare-and-swap), retrying fn otherwise.
	// fn must be pure: it may run more than once. If fn returns an error,
	// nothing is written and that error is returned. The record as written
	// is returned.
	Update(ctx context.Context, id RequestID, fn func(*Request) error) (*Request, error)
	// Open returns every record that is not finished (not terminal, or
	// terminal with cleanup still due), in no particular order.
	Open(ctx context.Context) ([]*Request, error)
	// EachOpen calls fn with the records Open would return, a page at a
	// time, so that a pass over every open record holds one page in
	// memory, not all of them (at 100,000 open records, Open holds about
	// 200 MB). A record written during the pass may or may not be seen.
	// An error from fn ends the pass and is returned.
	EachOpen(ctx context.Context, fn func(page []*Request) error) error
	// Claim returns up to max IDs whose scheduled time is at or before now,
	// from either queue, and atomically moves each one to now+lease so that
	// no other worker claims it until the lease lapses.
	Claim(ctx context.Context, now time.Time, lease time.Duration, max int) ([]RequestID, error)
	// NextDue returns the earliest scheduled time in either queue, or the
	// zero time when both are empty.
	NextDue(ctx context.Context) (time.Time, error)
	// Holders returns the records that hold, are about to hold or are
	// giving up h (HoldOf: granting, active or revoking), from an index the
	// store keeps in the same write as each record. Callers check each
	// record's state: a record may have moved on since.
	Holders(ctx context.Context, h Hold) ([]*Request, error)
	// OpenOf returns the open records (as Open) whose requester or filer
	// is userID, and those of the named roles, each once, from indexes
	// the store keeps in the same write as each record: a person's view
	// reads only their own records and those of the roles they decide,
	// however many others are open.
	OpenOf(ctx context.Context, userID string, roles []string) ([]*Request, error)
}

// Hold is one thing a grant gives in AWS that several grants can give at
// once: membership of Principal in the IAM or Identity Center group
// Target, or the assignment of a permission set in an account (Target,
// SSOTarget) to the Identity Center user Principal. Revoking it is
// removing it, so a revocation must first know who else holds it.
type Hold struct {
	Backend, Target, Principal string
}

// HoldOf returns what r holds and whether it holds it now (granting,
// active or revoking). Only memberships and assignments are shared; an
// STS session is its grant's alone. A dry run's membership is imaginary,
// so it is a hold of its own kind.
func HoldOf(r *Request) (h Hold, live bool) {
	if !sharedAccess(r.Backend) || r.Principal == "" {
		return Hold{}, false
	}
	h = Hold{Backend: r.Backend, Target: r.Target, Principal: r.Principal}
	if r.DryRun {
		h.Backend += "+dry_run"
	}
	return h, r.State == Granting || r.State == Active || r.State == Revoking
}

// Syncer is implemented by stores that replicate asynchronously. Sync
// returns nil once r, exactly as the store holds it now, is acknowledged by
// a replica. The service calls it before issuing access in AWS: a grant the
// store could forget in a failover would be a standing privilege.
type Syncer interface {
	Sync(ctx context.Context, r *Request) error
}

// sharedAccess reports whether the backend's access is one fact that two
// grants can give the same person (a membership, an account assignment),
// removed only when the last of them ends.
func sharedAccess(backend string) bool {
	switch backend {
	case BackendGroup, BackendSSO, BackendSSOGroup:
		return true
	}
	return false
}

// Gauges are what /metrics reports of the open records, as a store that
// keeps them as the records change (GaugeStore) reads them: without
// reading the records.
type Gauges struct {
	ByState  map[State]int // pending, scheduled, granting, active, revoking
	Retrying int           // revocations whose last attempt failed
	// ActiveByRole counts the active grants of each role that has had an
	// open record; a role without any may be missing or 0.
	ActiveByRole map[string]int
	// EarliestExpiry is the earliest expiry of an active or revoking
	// grant, EarliestStart the earliest start of a scheduled window; zero
	// when there is none. A store may keep them to the millisecond.
	EarliestExpiry, EarliestStart time.Time
}

// GaugeStore is implemented by stores that keep Gauges as records are
// written.
type GaugeStore interface {
	Gauges(ctx context.Context) (Gauges, error)
}
