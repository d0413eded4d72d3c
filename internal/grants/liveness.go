package grants

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync/atomic"
	"time"
)

// Takeover. A worker that calls AWS for a record holds it under a lease
// (LeaseUntil), so that no other starts the same call meanwhile; a worker
// that dies lets it lapse. A lease is long (30 s: an AWS call gets half of
// it), so a replica killed mid-grant left its records waiting that long.
// With a LivenessStore, each process also keeps a short-lived liveness key
// alive, every lease names its process (LeaseOwner), and every process
// looks for leases whose process has no liveness key left: their records
// are due at once, and the first process to look takes the lease over
// (TakeOver), compare-and-swap, so one of them does the work.
//
// A process stops calling AWS as soon as it could not renew its key for
// half its lifetime (mayCallAWS), well before another may take over. An
// AWS call it started just before may still be in flight when it is taken
// over; the calls are idempotent (a membership, an assignment) or, for
// STS, the second session's credentials are never recorded nor sent, and
// the grant's revocation denies every session of the request.

// LivenessStore is implemented by stores that let processes see each
// other alive.
type LivenessStore interface {
	// Beat keeps process alive for ttl from now.
	Beat(ctx context.Context, process string, ttl time.Duration) error
	// Alive reports which of processes are alive.
	Alive(ctx context.Context, processes []string) (map[string]bool, error)
	// Leased returns the records whose last write took a lease, with the
	// process that took it; a lease may have lapsed since.
	Leased(ctx context.Context) (map[RequestID]string, error)
	// MakeDue makes the queued records ids due at now, unless they are
	// due earlier already: every live process makes a dead one's records
	// due at each look, and moving them later each time would keep them
	// behind all the work that came due meanwhile.
	MakeDue(ctx context.Context, ids []RequestID, now time.Time) error
}

// DefaultLiveness is how long a process's liveness key lives unless
// renewed: the bound on how late another process takes over its records,
// give or take one look (a quarter of it).
const DefaultLiveness = 2 * time.Second

// newProcessID names this process in the leases it takes.
func newProcessID() string { return "p-" + rand.Text()[:12] }

// liveness is what a Service knows of its own liveness key.
type liveness struct {
	store LivenessStore // nil: leases lapse on their own
	// renewed is when the key was last renewed, unix nanoseconds.
	renewed atomic.Int64
}

// errNotLive refuses an AWS call of a process that could not renew its
// liveness key: another process may be taking over its records.
var errNotLive = errors.New("this process could not renew its liveness key in time; another process may take over its records")

// mayCallAWS says whether this process may still start an AWS call for a
// record it holds.
func (s *Service) mayCallAWS() error {
	if s.live.store == nil {
		return nil
	}
	renewed := s.live.renewed.Load()
	if renewed == 0 {
		// Not running the scheduler (a command of the CLI): it takes
		// part in no takeover.
		return nil
	}
	if time.Since(time.Unix(0, renewed)) >= s.opts.Liveness/2 {
		return errNotLive
	}
	return nil
}

// keepAlive renews this process's liveness key and takes over the records
// of dead processes, every quarter of its lifetime, until ctx is done.
func (s *Service) keepAlive(ctx context.Context) {
	if s.live.store == nil {
		return
	}
	tick := time.NewTicker(s.opts.Liveness / 4)
	defer tick.Stop()
	for {
		if err := s.live.store.Beat(ctx, s.opts.Process, s.opts.Liveness); err == nil {
			s.live.renewed.Store(time.Now().UnixNano())
		} else if ctx.Err() == nil {
			s.log.WarnContext(ctx, "liveness key not renewed", "process", s.opts.Process, "err", err)
		}
		if err := s.takeOverDead(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "look for the records of dead processes failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// takeOverDead makes the records leased by dead processes due now, and
// wakes the scheduler for them.
func (s *Service) takeOverDead(ctx context.Context) error {
	leased, err := s.live.store.Leased(ctx)
	if err != nil || len(leased) == 0 {
		return err
	}
	var owners []string
	for _, owner := range leased {
		if owner != s.opts.Process && !slices.Contains(owners, owner) {
			owners = append(owners, owner)
		}
	}
	if len(owners) == 0 {
		return nil
	}
	alive, err := s.live.store.Alive(ctx, owners)
	if err != nil {
		return err
	}
	var due []RequestID
	for id, owner := range leased {
		if owner != s.opts.Process && !alive[owner] {
			due = append(due, id)
		}
	}
	if len(due) == 0 {
		return nil
	}
	if err := s.live.store.MakeDue(ctx, due, s.now()); err != nil {
		return err
	}
	s.poke()
	return nil
}

// abandoned reports whether r's lease, still running, belongs to a process
// that is dead: then it is taken over, not waited for.
func (s *Service) abandoned(ctx context.Context, r *Request) bool {
	if s.live.store == nil || r.LeaseOwner == "" || r.LeaseOwner == s.opts.Process || !s.now().Before(r.LeaseUntil) {
		return false
	}
	alive, err := s.live.store.Alive(ctx, []string{r.LeaseOwner})
	return err == nil && !alive[r.LeaseOwner]
}

// ownLease names this process as the owner of r's lease, or nobody when
// r holds none.
func (s *Service) ownLease(r *Request) {
	r.LeaseOwner = ""
	if !r.LeaseUntil.IsZero() {
		r.LeaseOwner = s.opts.Process
	}
}

// claimLease is how long a claimed record waits for this process before
// another may claim it: the lease, or, with liveness keys, their
// lifetime. A claim only keeps two workers from starting on one record at
// once; every change is compare-and-swap, and every AWS call is made under
// the record's own lease, so a claim can be short, and a dead process's
// claims come due again as soon as its records would be taken over.
func (s *Service) claimLease() time.Duration {
	if s.live.store == nil {
		return s.opts.Lease
	}
	return s.opts.Liveness
}
