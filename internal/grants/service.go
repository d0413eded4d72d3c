package grants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/rules"
)

// Limits on what a requester may write, from docs/design.md §2.2.
const (
	MinReason   = 10
	MaxReason   = 500
	MaxIncident = 100
)

// Options configures a Service. Store, Backends, Directory and Catalog are
// required; everything else has a default.
type Options struct {
	Store     Store
	Backends  map[string]Backend // by backend kind: BackendSTS, BackendGroup
	Directory Directory
	Notifier  Notifier // the first subscriber (see Subscribe); may be nil
	Catalog   *rules.Catalog
	Logger    *slog.Logger

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
		opts:  opts,
		store: opts.Store,
		dir:   opts.Directory,
		log:   opts.Logger,
		now:   opts.Now,
		wake:  make(chan struct{}, 1),
	}
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
		return nil, &UserError{Msg: fmt.Sprintf("there is no request %s", id), Err: ErrNotFound}
	}
	return r, err
}

// RequestInput is what a requester asks for.
type RequestInput struct {
	UserID   string
	Role     string
	Duration time.Duration // zero: the role's default_duration
	Reason   string
	Incident string
}

// Request checks a request against the catalog and records it. When the
// role's auto_approve rule holds, access is issued at once (break-glass);
// otherwise the record waits for approvers.
func (s *Service) Request(ctx context.Context, in RequestInput) (*Request, error) {
	return s.request(ctx, in, nil)
}

// Extend asks for d more time on the active grant id, for its requester
// only. It is a new request, decided like any other (approvers, or the
// role's auto_approve rule), with the original's reason and incident;
// approved, its access runs on from the original's expiry. The grant's
// time left plus d may not exceed the role's max_duration.
func (s *Service) Extend(ctx context.Context, id RequestID, userID string, d time.Duration) (*Request, error) {
	orig, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if orig.Requester.ID != userID {
		return nil, userErr(ErrNotAllowed, fmt.Sprintf("only the requester can extend %s", id))
	}
	if orig.State != Active {
		return nil, userErr(ErrDecided, fmt.Sprintf("%s is not active (it is %s); only an active grant can be extended", id, orig.State))
	}
	if d <= 0 {
		return nil, userErr(ErrInvalidInput, fmt.Sprintf("say how much more time you need, as in /jit extend %s 30m", id))
	}
	in := RequestInput{UserID: userID, Role: orig.Role, Duration: d, Reason: orig.Reason, Incident: orig.Incident}
	return s.request(ctx, in, orig)
}

// maxChain bounds how far back checkChain follows extensions.
const maxChain = 100

// checkChain keeps a grant and its extensions within the role's
// max_duration counted from the first grant's start: more time than that
// needs a fresh request, not another extension.
func (s *Service) checkChain(ctx context.Context, role *rules.Role, extends *Request, d time.Duration, now time.Time) error {
	first := extends
	for i := 0; first.Extends != "" && i < maxChain; i++ {
		prev, err := s.store.Get(ctx, first.Extends)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("load %s, extended by %s: %w", first.Extends, first.ID, err)
		}
		first = prev
	}
	end := extends.ExpiresAt
	if end.Before(now) {
		end = now
	}
	end = end.Add(d)
	if total := end.Sub(first.GrantedAt).Round(time.Second); total > role.MaxDuration {
		return userErr(ErrInvalidInput, fmt.Sprintf("%s started %s ago; %s more would make %s in all, over %s's max of %s; ask for a fresh approval with /jit request",
			first.ID, rules.FormatDuration(now.Sub(first.GrantedAt).Round(time.Second)), rules.FormatDuration(d), rules.FormatDuration(total), role.Name, rules.FormatDuration(role.MaxDuration)))
	}
	return nil
}

// request records a new request, or an extension of the grant extends.
func (s *Service) request(ctx context.Context, in RequestInput, extends *Request) (*Request, error) {
	now := s.now()
	role, err := s.role(in.Role)
	if err != nil {
		return nil, err
	}
	if in.Duration == 0 {
		in.Duration = role.DefaultDuration
	}
	in.Reason = strings.TrimSpace(in.Reason)
	in.Incident = strings.TrimSpace(in.Incident)
	if err := s.checkInput(role, in); err != nil {
		return nil, err
	}
	if extends != nil {
		if err := s.checkChain(ctx, role, extends, in.Duration, now); err != nil {
			return nil, err
		}
	}
	user, err := s.dir.User(ctx, in.UserID)
	if err != nil {
		return nil, fmt.Errorf("look up requester %s: %w", in.UserID, err)
	}
	input := rules.Input{Role: role.Name, Duration: in.Duration, Reason: in.Reason, Incident: in.Incident}
	if err := s.checkEligible(role, user, input, now); err != nil {
		return nil, err
	}
	ok, err := s.opts.Limiter.Take(ctx, "requests:"+user.ID, s.opts.RequestLimit, time.Hour, now)
	if err != nil {
		return nil, fmt.Errorf("count requests of %s: %w", user.ID, err)
	}
	if !ok {
		return nil, userErr(ErrRateLimited, fmt.Sprintf("you have filed %d requests in the last hour, the limit; wait a while, or ask the role's owners directly", s.opts.RequestLimit))
	}
	auto, err := role.IsAutoApproved(user, input, now)
	if err != nil {
		return nil, fmt.Errorf("evaluate auto_approve of %s: %w", role.Name, err)
	}
	var notice string
	if auto && thirdParty(user) {
		// Nobody outside the organisation gets access without two people
		// saying yes.
		auto = false
	}
	if auto && role.BreakglassLimit > 0 {
		ok, err := s.opts.Limiter.Take(ctx, "breakglass:"+role.Name+":"+user.ID, role.BreakglassLimit, breakglassWindow, now)
		if err != nil {
			return nil, fmt.Errorf("count break-glass grants of %s: %w", user.ID, err)
		}
		if !ok {
			auto = false
			notice = fmt.Sprintf("you have used break-glass for %s %d times in 24 hours, its limit, so this request goes to the approvers", role.Name, role.BreakglassLimit)
		}
	}
	r := &Request{
		State:             Pending,
		Requester:         user,
		Role:              role.Name,
		Backend:           role.Backend,
		SessionPolicy:     role.SessionPolicy,
		Duration:          in.Duration,
		Reason:            in.Reason,
		Incident:          in.Incident,
		Rule:              role.Eligible,
		ApprovalsRequired: role.ApprovalsRequired,
		CreatedAt:         now,
		Deadline:          now.Add(role.RequestTTL),
		DryRun:            s.opts.DryRun,
	}
	if extends != nil {
		r.Extends = extends.ID
	}
	r.Notice = notice
	if thirdParty(user) {
		r.ApprovalsRequired = max(r.ApprovalsRequired, guestApprovals)
	}
	switch role.Backend {
	case BackendSTS:
		r.Target = role.RoleARN
	case BackendGroup:
		r.Target = role.Group
		r.Principal, err = role.IAMUserName(user, input, now)
		if err != nil {
			return nil, fmt.Errorf("evaluate iam_user of %s: %w", role.Name, err)
		}
		if r.Principal == "" {
			return nil, userErr(ErrIneligible, fmt.Sprintf("%s has no IAM user name for you (its iam_user rule gave an empty name); ask the role's owners", role.Name))
		}
	default:
		return nil, fmt.Errorf("role %s has unknown backend %q", role.Name, role.Backend)
	}
	r.note(EventRequested, now, user.ID, "")
	if auto {
		r.State = Granting
		r.AutoApproved = true
		r.ReviewDue = now.Add(role.ReviewWithin)
		r.Rule = role.AutoApprove
		r.DecidedAt = now
		r.LeaseUntil = now.Add(s.opts.Lease)
		r.note(EventAutoApproved, now, "", "")
	}
	if err := s.create(ctx, r); err != nil {
		return nil, err
	}
	r = s.publish(ctx, r, r.Journal, nil)
	if !auto {
		s.poke()
		return r, nil
	}
	return s.issue(ctx, r)
}

// create stores r under a fresh ID, drawing again on the rare collision.
func (s *Service) create(ctx context.Context, r *Request) error {
	for range 5 {
		r.ID = NewRequestID()
		err := s.store.Create(ctx, r)
		if !errors.Is(err, ErrExists) {
			if err != nil {
				return fmt.Errorf("store request: %w", err)
			}
			return nil
		}
	}
	return errors.New("store request: could not draw an unused request ID")
}

func (s *Service) role(name string) (*rules.Role, error) {
	role, ok := s.Catalog().Role(name)
	if !ok {
		return nil, userErr(ErrUnknownRole, fmt.Sprintf("there is no role %q; /jit roles lists the roles you may request", name))
	}
	return role, nil
}

func (s *Service) checkInput(role *rules.Role, in RequestInput) error {
	switch {
	case in.Duration < s.opts.MinDuration:
		return userErr(ErrInvalidInput, fmt.Sprintf("duration %s is shorter than the minimum of %s", rules.FormatDuration(in.Duration), rules.FormatDuration(s.opts.MinDuration)))
	case in.Duration > role.MaxDuration:
		return userErr(ErrInvalidInput, fmt.Sprintf("duration %s exceeds %s's max of %s", rules.FormatDuration(in.Duration), role.Name, rules.FormatDuration(role.MaxDuration)))
	case utf8.RuneCountInString(in.Reason) < MinReason:
		return userErr(ErrInvalidInput, fmt.Sprintf("the reason needs at least %d characters: say what you will do and why", MinReason))
	case utf8.RuneCountInString(in.Reason) > MaxReason:
		return userErr(ErrInvalidInput, fmt.Sprintf("the reason is longer than %d characters", MaxReason))
	case utf8.RuneCountInString(in.Incident) > MaxIncident:
		return userErr(ErrInvalidInput, fmt.Sprintf("the incident reference is longer than %d characters", MaxIncident))
	case in.Incident != "" && role.IncidentPattern != nil && !role.IncidentPattern.MatchString(in.Incident):
		return userErr(ErrInvalidInput, fmt.Sprintf("incident reference %q does not look like one of %s's incidents (%s)", in.Incident, role.Name, role.IncidentPattern))
	}
	return nil
}

// thirdParty is a guest of this workspace or a Slack Connect user of
// another organisation: a contractor or vendor.
func thirdParty(u rules.User) bool { return u.IsGuest || u.IsExternal }

// guestApprovals is how many approvers a third party's request needs at
// least, whatever the role says.
const guestApprovals = 2

// checkEligible applies the fixed rules before the role's own: bots and
// deleted users are never eligible, and third parties only for roles with
// allow_guests, for at most guest_max_duration.
func (s *Service) checkEligible(role *rules.Role, u rules.User, in rules.Input, now time.Time) error {
	if u.Deleted {
		return userErr(ErrIneligible, "deactivated accounts cannot request access")
	}
	if u.IsBot {
		return userErr(ErrIneligible, "bots cannot request access")
	}
	if thirdParty(u) {
		if !role.AllowGuests {
			return userErr(ErrIneligible, fmt.Sprintf("%s is not open to guests or people from other organisations", role.Name))
		}
		if in.Duration > role.GuestMaxDuration {
			return userErr(ErrIneligible, fmt.Sprintf("guests may hold %s for at most %s", role.Name, rules.FormatDuration(role.GuestMaxDuration)))
		}
	}
	ok, err := role.IsEligible(u, in, now)
	if err != nil {
		return fmt.Errorf("evaluate eligible of %s: %w", role.Name, err)
	}
	if !ok {
		return userErr(ErrIneligible, fmt.Sprintf("you are not eligible for %s", role.Name))
	}
	return nil
}

// Approve records approverID's approval. When the role's approvals_required
// distinct approvers have approved, access is issued before Approve returns.
// The approver must be a current approver of the role (user groups are
// resolved now), must not be the requester, and the requester must still be
// eligible; otherwise the request is denied.
func (s *Service) Approve(ctx context.Context, id RequestID, approverID string) (*Request, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.mayDecide(ctx, r, approverID, "approve"); err != nil {
		return r, err
	}
	requester, err := s.dir.User(Fresh(ctx), r.Requester.ID)
	if err != nil {
		return r, fmt.Errorf("look up requester %s: %w", r.Requester.ID, err)
	}
	now := s.now()
	var stillEligible error
	if role, err := s.role(r.Role); err != nil {
		stillEligible = err
	} else {
		stillEligible = s.checkEligible(role, requester, inputOf(r), now)
	}
	var ue *UserError
	if stillEligible != nil && !errors.As(stillEligible, &ue) {
		return r, stillEligible
	}
	// What this approval did decides what comes next, not the record as it
	// is after its events are handed over: a second approver may have moved
	// it on meanwhile, and then issuing is theirs to do.
	var denied, granting bool
	updated, err := s.step(ctx, id, nil, func(r *Request) error {
		if err := decidable(r, approverID, now); err != nil {
			return err
		}
		defer func() { denied, granting = r.State == Denied, r.State == Granting }()
		if stillEligible != nil {
			r.State = Denied
			r.DecidedAt = now
			r.DenyReason = "the requester is no longer eligible: " + ue.Msg
			r.note(EventDenied, now, "", "")
			return nil
		}
		r.Approvals = append(r.Approvals, Approval{Approver: approverID, At: now})
		if len(r.Approvals) >= r.ApprovalsRequired {
			r.State = Granting
			r.DecidedAt = now
			r.LeaseUntil = now.Add(s.opts.Lease)
		}
		r.note(EventApproved, now, approverID, "")
		return nil
	})
	if err != nil {
		return s.refused(ctx, r, id, approverID, err)
	}
	r = updated
	if denied {
		return r, userErr(ErrIneligible, fmt.Sprintf("%s was denied: %s no longer qualifies for %s", id, r.Requester.Name, r.Role))
	}
	if !granting {
		return r, nil
	}
	return s.issue(ctx, r)
}

// Deny closes a pending request. Only a current approver may deny; a
// requester who denies their own request cancels it.
func (s *Service) Deny(ctx context.Context, id RequestID, approverID, reason string) (*Request, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if approverID == r.Requester.ID {
		return s.Cancel(ctx, id, approverID)
	}
	if err := s.mayDecide(ctx, r, approverID, "deny"); err != nil {
		return r, err
	}
	reason = truncate(strings.TrimSpace(reason), MaxReason)
	now := s.now()
	updated, err := s.step(ctx, id, nil, func(r *Request) error {
		if err := decidable(r, approverID, now); err != nil && !errors.Is(err, ErrAlreadyApproved) {
			return err
		}
		r.State = Denied
		r.DecidedBy = approverID
		r.DecidedAt = now
		r.DenyReason = reason
		r.note(EventDenied, now, approverID, "")
		return nil
	})
	if err != nil {
		return s.refused(ctx, r, id, approverID, err)
	}
	return updated, nil
}

// Cancel withdraws a pending request; only its requester may.
func (s *Service) Cancel(ctx context.Context, id RequestID, userID string) (*Request, error) {
	now := s.now()
	r, err := s.step(ctx, id, nil, func(r *Request) error {
		if r.Requester.ID != userID {
			return userErr(ErrNotAllowed, fmt.Sprintf("only the requester can cancel %s", r.ID))
		}
		if r.State != Pending {
			return decidedErr(r)
		}
		r.State = Cancelled
		r.DecidedBy = userID
		r.DecidedAt = now
		r.note(EventCancelled, now, userID, "")
		return nil
	})
	if err != nil {
		return nil, s.storeErr(id, err)
	}
	return r, nil
}

// Revoke ends an active grant early. The requester may relinquish it and
// any current approver of the role may take it away; a pending request is
// cancelled when its requester revokes it. Revoke returns once access is
// gone or, if AWS is failing, once the revocation is recorded: the
// scheduler retries it until it succeeds.
func (s *Service) Revoke(ctx context.Context, id RequestID, userID, reason string) (*Request, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State == Pending && r.Requester.ID == userID {
		return s.Cancel(ctx, id, userID)
	}
	if r.Requester.ID != userID {
		if err := s.mayDecide(ctx, r, userID, "revoke"); err != nil {
			return r, err
		}
	}
	if reason = truncate(strings.TrimSpace(reason), MaxReason); reason == "" {
		reason = "revoked by the requester"
		if userID != r.Requester.ID {
			reason = "revoked by an approver"
		}
	}
	now := s.now()
	r, err = s.store.Update(ctx, id, func(r *Request) error {
		switch r.State {
		case Active:
		case Pending:
			return userErr(ErrDecided, fmt.Sprintf("%s is still pending; deny it instead", r.ID))
		case Granting:
			return userErr(ErrDecided, fmt.Sprintf("%s is being granted right now; try again in a moment", r.ID))
		default:
			return userErr(ErrDecided, fmt.Sprintf("%s is not active (it is %s)", r.ID, r.State))
		}
		r.State = Revoking
		r.RevokedBy = userID
		r.RevokeReason = reason
		if r.AutoApproved && r.ReviewedBy == "" && userID != r.Requester.ID {
			// An owner who ends a break-glass grant has reviewed it.
			r.ReviewedBy, r.ReviewedAt, r.ReviewDue = userID, now, time.Time{}
		}
		r.NextAttempt = now
		r.LeaseUntil = now.Add(s.opts.Lease)
		return nil
	})
	if err != nil {
		return nil, s.storeErr(id, err)
	}
	done, err := s.revoke(ctx, r)
	if err != nil {
		// Recorded and retried by the scheduler; the caller sees the
		// record still in Revoking.
		s.log.WarnContext(ctx, "revocation failed; will retry", "request_id", id, "err", err)
	}
	return done, nil
}

// Acknowledge records that a current approver of the role has reviewed a
// break-glass grant, which nobody approved before it was issued. It stops
// the escalation. The requester cannot review their own grant.
func (s *Service) Acknowledge(ctx context.Context, id RequestID, userID string) (*Request, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !r.AutoApproved {
		return r, userErr(ErrNotAllowed, fmt.Sprintf("%s was approved by people before it was granted; there is nothing to review", id))
	}
	if userID == r.Requester.ID {
		err := userErr(ErrSelfApproval, fmt.Sprintf("you cannot review your own break-glass access %s", id))
		s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: userID, Err: err.Error()})
		return r, err
	}
	if err := s.mayDecide(ctx, r, userID, "review"); err != nil {
		return r, err
	}
	now := s.now()
	r, err = s.step(ctx, id, nil, func(r *Request) error {
		if r.ReviewedBy != "" {
			return userErr(ErrDecided, fmt.Sprintf("%s was already reviewed by %s", r.ID, r.ReviewedBy))
		}
		r.ReviewedBy, r.ReviewedAt, r.ReviewDue = userID, now, time.Time{}
		r.note(EventReviewed, now, userID, "")
		return nil
	})
	if err != nil {
		return r, s.storeErr(id, err)
	}
	return r, nil
}

// mayDecide refuses, and reports as an event, a decision by someone who is
// not a current approver of the request's role.
func (s *Service) mayDecide(ctx context.Context, r *Request, userID, verb string) error {
	if userID == r.Requester.ID && verb == "approve" {
		err := userErr(ErrSelfApproval, fmt.Sprintf("you cannot approve your own request %s", r.ID))
		s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: userID, Err: err.Error()})
		return err
	}
	ok, err := s.isApprover(ctx, r.Role, userID)
	if err != nil {
		return err
	}
	if !ok {
		err := userErr(ErrNotApprover, fmt.Sprintf("you are not an approver of %s, so you cannot %s %s", r.Role, verb, r.ID))
		s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: userID, Err: err.Error()})
		return err
	}
	return nil
}

// Approvers returns who may decide r now: the role's listed users and the
// current members of its user groups, in catalog order, without the
// requester and without repeats.
func (s *Service) Approvers(ctx context.Context, r *Request) ([]string, error) {
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return nil, nil
	}
	ids := slices.Clone(role.Users())
	for _, g := range role.Groups() {
		members, err := s.dir.GroupMembers(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("resolve approvers of %s in @%s: %w", r.Role, g, err)
		}
		ids = append(ids, members...)
	}
	var out []string
	for _, id := range ids {
		if id != r.Requester.ID && !slices.Contains(out, id) {
			out = append(out, id)
		}
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

// isApprover resolves the role's approvers now, so that somebody who has
// left an approving user group can no longer approve.
func (s *Service) isApprover(ctx context.Context, roleName, userID string) (bool, error) {
	role, ok := s.Catalog().Role(roleName)
	if !ok {
		return false, nil
	}
	if slices.Contains(role.Users(), userID) {
		return true, nil
	}
	for _, g := range role.Groups() {
		members, err := s.dir.GroupMembers(ctx, g)
		if err != nil {
			return false, fmt.Errorf("resolve approvers of %s in @%s: %w", roleName, g, err)
		}
		if slices.Contains(members, userID) {
			return true, nil
		}
	}
	return false, nil
}

// decidable is the pure part of a decision, checked again inside the
// compare-and-swap so that a concurrent decision is never overwritten.
func decidable(r *Request, approverID string, now time.Time) error {
	if r.State != Pending {
		return decidedErr(r)
	}
	if !now.Before(r.Deadline) {
		// The scheduler records the timeout when it next looks; the
		// deadline holds from the moment it passes.
		return userErr(ErrDecided, fmt.Sprintf("%s timed out before anyone decided", r.ID))
	}
	if approverID == r.Requester.ID {
		return userErr(ErrSelfApproval, fmt.Sprintf("you cannot approve your own request %s", r.ID))
	}
	for _, a := range r.Approvals {
		if a.Approver == approverID {
			return userErr(ErrAlreadyApproved, fmt.Sprintf("you have already approved %s; it needs %d more approval(s)", r.ID, r.ApprovalsRequired-len(r.Approvals)))
		}
	}
	return nil
}

func decidedErr(r *Request) error {
	switch r.State {
	case Granting, Active, Revoking, Revoked, Failed:
		if r.AutoApproved {
			return userErr(ErrDecided, fmt.Sprintf("%s was already approved automatically", r.ID))
		}
		return userErr(ErrDecided, fmt.Sprintf("%s was already approved by %s", r.ID, strings.Join(approvers(r), ", ")))
	case Denied:
		if r.DecidedBy == "" {
			return userErr(ErrDecided, fmt.Sprintf("%s was already denied", r.ID))
		}
		return userErr(ErrDecided, fmt.Sprintf("%s was already denied by %s", r.ID, r.DecidedBy))
	case TimedOut:
		return userErr(ErrDecided, fmt.Sprintf("%s timed out before anyone decided", r.ID))
	case Cancelled:
		return userErr(ErrDecided, fmt.Sprintf("%s was cancelled by its requester", r.ID))
	}
	return userErr(ErrDecided, fmt.Sprintf("%s is %s", r.ID, r.State))
}

// refused reports a decision the store rejected: a refusal is an event the
// audit trail records; other errors pass through.
func (s *Service) refused(ctx context.Context, r *Request, id RequestID, actor string, err error) (*Request, error) {
	err = s.storeErr(id, err)
	var ue *UserError
	if errors.As(err, &ue) && !errors.Is(err, ErrDecided) && !errors.Is(err, ErrNotFound) {
		s.emit(ctx, Event{Type: EventRefused, Request: *r, Actor: actor, Err: ue.Msg})
	}
	return r, err
}

func (s *Service) storeErr(id RequestID, err error) error {
	if errors.Is(err, ErrNotFound) {
		return &UserError{Msg: fmt.Sprintf("there is no request %s", id), Err: ErrNotFound}
	}
	var ue *UserError
	if errors.As(err, &ue) {
		return err
	}
	return fmt.Errorf("update %s: %w", id, err)
}

// Listing is what /jit list shows a user.
type Listing struct {
	Mine     []*Request // the user's pending requests and current grants
	Awaiting []*Request // pending requests the user may approve
}

// List returns the user's open requests and grants and, for approvers, the
// pending requests they can decide, oldest first.
func (s *Service) List(ctx context.Context, userID string) (Listing, error) {
	open, err := s.store.Open(ctx)
	if err != nil {
		return Listing{}, fmt.Errorf("list open requests: %w", err)
	}
	slices.SortFunc(open, func(a, b *Request) int { return a.CreatedAt.Compare(b.CreatedAt) })
	var l Listing
	approverOf := map[string]bool{}
	for _, r := range open {
		if r.State.Terminal() {
			continue
		}
		if r.Requester.ID == userID {
			l.Mine = append(l.Mine, r)
			continue
		}
		if r.State != Pending || decidable(r, userID, s.now()) != nil {
			continue
		}
		ok, seen := approverOf[r.Role]
		if !seen {
			if ok, err = s.isApprover(ctx, r.Role, userID); err != nil {
				return Listing{}, err
			}
			approverOf[r.Role] = ok
		}
		if ok {
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
		err := s.checkEligible(role, user, in, now)
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

func (s *Service) emit(ctx context.Context, e Event) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if c := s.Catalog(); c != nil {
		e.CatalogSHA256 = c.SHA256
	}
	s.notify.Load().Notify(ctx, e)
}

// step applies fn to the record like Store.Update and hands the events fn
// journaled, this caller's own, to the notifiers (creds go with a granted
// event). It returns the record as it is after.
func (s *Service) step(ctx context.Context, id RequestID, creds *Credentials, fn func(*Request) error) (*Request, error) {
	var before int
	r, err := s.store.Update(ctx, id, func(r *Request) error {
		before = r.Notes
		return fn(r)
	})
	if err != nil {
		return nil, err
	}
	own := slices.DeleteFunc(slices.Clone(r.Journal), func(n Note) bool { return n.Seq <= before })
	return s.publish(ctx, r, own, creds), nil
}

// publish hands the journaled events notes of r to the notifiers (the
// audit log first), then drops them from the record. Each process hands
// over the events of its own transitions; one that dies in between leaves
// them to the scheduler, which hands them over after JournalGrace. The
// audit log keeps one entry per event (Event.Note names it); Slack may
// then hear of it twice. creds go with a granted event and nowhere else:
// they are never stored, so an event handed over again has none.
// publish returns the record as it is after, for display.
func (s *Service) publish(ctx context.Context, r *Request, notes []Note, creds *Credentials) *Request {
	if len(notes) == 0 {
		return r
	}
	view := *r
	view.Journal = nil
	for _, n := range notes {
		e := Event{Type: n.Type, At: n.At, Request: view, Actor: n.Actor, Err: n.Err, Note: n.Seq}
		if n.Type == EventGranted {
			e.Credentials = creds
		}
		s.emit(ctx, e)
	}
	done, err := s.store.Update(context.WithoutCancel(ctx), r.ID, func(r *Request) error {
		n := len(r.Journal)
		r.Journal = slices.DeleteFunc(r.Journal, func(j Note) bool {
			return slices.ContainsFunc(notes, func(n Note) bool { return n.Seq == j.Seq })
		})
		if len(r.Journal) == n {
			return errStale // handed over and dropped by the scheduler already
		}
		return nil
	})
	switch {
	case err == nil:
		return done
	case !errors.Is(err, errStale):
		s.log.WarnContext(ctx, "events handed over but still in the journal; the scheduler will hand them over again", "request_id", r.ID, "err", err)
	}
	return &view
}

// poke wakes the scheduler so it can shorten its sleep for new work.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func inputOf(r *Request) rules.Input {
	return rules.Input{Role: r.Role, Duration: r.Duration, Reason: r.Reason, Incident: r.Incident}
}

func approvers(r *Request) []string {
	ids := make([]string, len(r.Approvals))
	for i, a := range r.Approvals {
		ids[i] = a.Approver
	}
	return ids
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
