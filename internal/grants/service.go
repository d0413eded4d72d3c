package grants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// Options configures a Service. Store, Backends, Directory and Catalog are
// required; everything else has a default.
type Options struct {
	Store     Store
	Backends  map[string]Backend // by backend kind: BackendSTS, BackendGroup
	Directory Directory
	Notifier  Notifier // the first subscriber (see Subscribe); may be nil
	// Ledger is the durable, keyed record of what was granted (the audit
	// log); may be nil. A tampered record is also revoked by what it says.
	Ledger  Ledger
	Catalog *rules.Catalog
	Logger  *slog.Logger

	MinDuration time.Duration // shortest grant; default 1m (JIT_MIN_DURATION)
	// Lease is how long a worker may hold a record while it calls AWS
	// before another worker takes over; default 30s. AWS calls are given
	// half of it.
	Lease time.Duration
	// RetryBase and RetryMax bound the exponential backoff of failed
	// revocations; defaults 1s and 5m.
	RetryBase, RetryMax time.Duration
	// AlertAfter is how many consecutive revocation failures raise an
	// EventRevokeFailed alert; default 5.
	AlertAfter int
	// MaxIdle caps how long the scheduler sleeps when nothing is due, so it
	// notices work scheduled by another replica; default 10s.
	MaxIdle time.Duration
	// ExpiryWarning is how long before expiry the requester is told the
	// grant ends soon (EventExpiring); default 5m. Grants shorter than
	// twice this get no warning.
	ExpiryWarning time.Duration
	// Limiter counts break-glass grants for the roles' breakglass_limit
	// and requests for RequestLimit; default: in memory, which is right
	// for one replica only.
	Limiter Limiter
	// RequestLimit is how many requests one person may file per hour;
	// default 20. It stops a script or a stuck client from flooding the
	// approvers.
	RequestLimit int
	Workers      int // concurrent scheduler jobs; default DefaultWorkers
	Now          func() time.Time

	// DryRun makes every new request a dry run (Request.DryRun): its
	// access is issued and removed by DryRunBackend, which calls no AWS
	// API, and reconciliation, which would read IAM, is off.
	DryRun bool
	// DryRunBackend finishes dry-run records, also those left from an
	// earlier dry run when DryRun is off; required when DryRun is set.
	DryRunBackend Backend

	// Process names this process in the leases it takes; default a
	// random ID. Liveness is how long its liveness key lives unless
	// renewed (DefaultLiveness): with a LivenessStore, another process
	// takes over its records about that long after it dies, instead of
	// waiting for their leases to lapse.
	Process  string
	Liveness time.Duration

	// Incidents, when set, is where incident references are looked up
	// (PagerDuty): a break-glass request's incident must be open, and
	// the grants of end_with_incident roles end with their incident.
	Incidents Incidents
}

// Service is jitbot's domain API. Every method enforces the invariants of
// docs/design.md §4.3 and returns *UserError for anything the caller did wrong.
type Service struct {
	opts        Options
	store       Store
	dir         Directory
	notify      atomic.Pointer[Notifiers] // copied on Subscribe, so emit never locks
	subscribeMu sync.Mutex
	log         *slog.Logger
	now         func() time.Time
	catalog     atomic.Pointer[rules.Catalog]
	wake        chan struct{}
	live        liveness
	deciderIdx  atomic.Pointer[deciderIndex] // see deciders
}

// New checks opts and fills in defaults.
func New(opts Options) (*Service, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("grants: no store")
	case opts.Directory == nil:
		return nil, errors.New("grants: no directory")
	case opts.Catalog == nil:
		return nil, errors.New("grants: no role catalog")
	}
	for _, kind := range []string{BackendSTS, BackendGroup} {
		if opts.Backends[kind] == nil {
			return nil, fmt.Errorf("grants: no backend for %s", kind)
		}
	}
	if opts.DryRun && opts.DryRunBackend == nil {
		return nil, errors.New("grants: dry run without a dry-run backend")
	}
	setDefault(&opts.MinDuration, time.Minute)
	setDefault(&opts.Lease, 30*time.Second)
	setDefault(&opts.RetryBase, time.Second)
	setDefault(&opts.RetryMax, 5*time.Minute)
	setDefault(&opts.MaxIdle, 10*time.Second)
	setDefault(&opts.Liveness, DefaultLiveness)
	if opts.Process == "" {
		opts.Process = newProcessID()
	}
	setDefault(&opts.ExpiryWarning, 5*time.Minute)
	if opts.RequestLimit <= 0 {
		opts.RequestLimit = 20
	}
	if opts.Limiter == nil {
		opts.Limiter = &memLimiter{uses: map[string][]time.Time{}}
	}
	if opts.AlertAfter <= 0 {
		opts.AlertAfter = 5
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		opts: opts,
		dir:  opts.Directory,
		log:  opts.Logger,
		now:  opts.Now,
		wake: make(chan struct{}, 1),
	}
	s.store = verified{Store: opts.Store, s: s}
	s.live.store, _ = opts.Store.(LivenessStore)
	s.catalog.Store(opts.Catalog)
	s.notify.Store(&Notifiers{})
	if opts.Notifier != nil {
		s.Subscribe(opts.Notifier)
	}
	return s, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Catalog returns the role catalog in force.
func (s *Service) Catalog() *rules.Catalog { return s.catalog.Load() }

// SetCatalog puts a new role catalog in force for decisions made from now
// on. Records already made keep their backend and target.
func (s *Service) SetCatalog(c *rules.Catalog) { s.catalog.Store(c) }

// Get returns the record of a request.
func (s *Service) Get(ctx context.Context, id RequestID) (*Request, error) {
	r, err := s.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(id)
	}
	return r, err
}

func notFound(id RequestID) error {
	return &UserError{Msg: fmt.Sprintf("there is no request %s", id), Err: ErrNotFound}
}

// role returns the role of that name in the catalog in force.
func (s *Service) role(name string) (*rules.Role, error) {
	role, ok := s.Catalog().Role(name)
	if !ok {
		return nil, userErr(ErrUnknownRole, fmt.Sprintf("there is no role %q; /jit roles lists the roles you may request", name))
	}
	return role, nil
}

// storeErr is err from a transition of id as the caller sees it: refusals
// as they are, a record that is not there as a *UserError.
func (s *Service) storeErr(id RequestID, err error) error {
	if errors.Is(err, ErrNotFound) {
		return notFound(id)
	}
	var ue *UserError
	if errors.As(err, &ue) {
		return err
	}
	return fmt.Errorf("update %s: %w", id, err)
}

// poke wakes the scheduler so it can shorten its sleep for new work.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
