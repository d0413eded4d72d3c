package grants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// RequestInput is what a requester asks for.
type RequestInput struct {
	UserID   string
	Role     string
	Duration time.Duration // zero: the role's default_duration
	Reason   string
	Incident string
	// Account is the account ID or alias asked for (aws_sso roles); empty
	// for a role with one account. Request replaces it with the ID.
	Account string
	// Workload, when set, is the requester instead of a Slack user: a CI
	// job or agent whose OIDC token the caller verified. UserID must then
	// be empty (see workload.go).
	Workload *rules.Workload
	// Start, when set, asks for a window that begins then (--start);
	// zero asks for access now.
	Start time.Time
	// For, when set, is the Slack user the access is for (--for): UserID
	// files the request on their behalf (see onbehalf.go).
	For string
}

// ruleInput is what the role's rules see of the request made at now.
func (in RequestInput) ruleInput(now time.Time) rules.Input {
	start := in.Start
	if start.IsZero() {
		start = now
	}
	return rules.Input{Role: in.Role, Duration: in.Duration, Reason: in.Reason, Incident: in.Incident, Account: in.Account, Start: start}
}

// Request checks a request against the catalog and records it. When the
// role's auto_approve rule holds, access is issued at once (break-glass);
// otherwise the record waits for approvers.
func (s *Service) Request(ctx context.Context, in RequestInput) (*Request, error) {
	if in.Workload != nil {
		return s.requestWorkload(ctx, in)
	}
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
	if orig.ByWorkload() {
		return nil, userErr(ErrNotAllowed, fmt.Sprintf("%s was requested by a workload, and a workload's grant cannot be extended yet; the job can request again", id))
	}
	if !orig.isGrantee(userID) {
		return nil, userErr(ErrNotAllowed, fmt.Sprintf("only the requester can extend %s", id))
	}
	if orig.State != Active {
		return nil, userErr(ErrDecided, fmt.Sprintf("%s is not active (it is %s); only an active grant can be extended", id, orig.State))
	}
	if d <= 0 {
		return nil, userErr(ErrInvalidInput, fmt.Sprintf("say how much more time you need, as in /jit extend %s 30m", id))
	}
	in := RequestInput{UserID: userID, Role: orig.Role, Duration: d, Reason: orig.Reason, Incident: orig.Incident, Account: orig.Account}
	return s.request(ctx, in, orig)
}

// request records a new request, or an extension of the grant extends.
func (s *Service) request(ctx context.Context, in RequestInput, extends *Request) (*Request, error) {
	now := s.now()
	role, user, filer, err := s.admit(ctx, &in, extends, now)
	if err != nil {
		return nil, err
	}
	input := in.ruleInput(now)
	auto, notice := false, ""
	if filer == nil {
		// Break-glass is for the person at the keyboard: a request filed
		// for someone else always goes to the approvers.
		if auto, notice, err = s.breakglass(ctx, role, user, input, now); err != nil {
			return nil, err
		}
	}
	r, err := s.newRecord(role, user, input, now)
	if err != nil {
		return nil, err
	}
	if extends != nil {
		r.Extends = extends.ID
	}
	r.FiledBy = filer
	r.Start = in.Start
	r.schedule(role, now)
	r.Notice = notice
	actor := user.ID
	if filer != nil {
		actor = filer.ID
	}
	r.note(EventRequested, now, actor, "")
	if auto {
		if err := r.AutoApprove(role.AutoApprove, role.ReviewWithin, now, s.opts.Lease); err != nil {
			return nil, err
		}
	}
	return s.file(ctx, r, auto)
}

// file stores the new record r and hands over its events; auto, it is
// issued at once, otherwise it waits for the approvers.
func (s *Service) file(ctx context.Context, r *Request, auto bool) (*Request, error) {
	if err := s.create(ctx, r); err != nil {
		return nil, err
	}
	r = s.publish(ctx, r, r.Journal, nil)
	if !auto || r.State != Granting {
		// Not approved yet, or approved for a window that starts later:
		// the scheduler issues it then, never now.
		s.poke()
		return r, nil
	}
	return s.issue(ctx, r)
}

// admit fills in the defaults of in and checks it, the chain of grants it
// extends, the eligibility of who the access is for and the rate of
// requests of who filed it. It returns the role, the grantee as the
// directory knows them now and, for a request filed for someone else,
// the filer (see admitFor); nil when the grantee filed it.
func (s *Service) admit(ctx context.Context, in *RequestInput, extends *Request, now time.Time) (*rules.Role, rules.User, *rules.User, error) {
	role, err := s.role(in.Role)
	if err != nil {
		return nil, rules.User{}, nil, err
	}
	in.Role = role.Name
	if in.Duration == 0 {
		in.Duration = role.DefaultDuration
	}
	in.Reason = strings.TrimSpace(in.Reason)
	in.Incident = strings.TrimSpace(in.Incident)
	if in.Account, err = chooseAccount(role, strings.TrimSpace(in.Account)); err != nil {
		return nil, rules.User{}, nil, err
	}
	if err := s.checkInput(role, *in); err != nil {
		return nil, rules.User{}, nil, err
	}
	if in.Start, err = checkStart(role, in.Start, now); err != nil {
		return nil, rules.User{}, nil, err
	}
	if extends != nil {
		if err := s.checkChain(ctx, role, extends, in.Duration, now); err != nil {
			return nil, rules.User{}, nil, err
		}
	}
	user, err := s.dir.User(ctx, in.UserID)
	if err != nil {
		return nil, rules.User{}, nil, fmt.Errorf("look up requester %s: %w", in.UserID, err)
	}
	filer := user
	var filedBy *rules.User
	if in.For != "" && in.For != in.UserID {
		if user, err = s.admitFor(ctx, role, filer, in.For, in.ruleInput(now), now); err != nil {
			return nil, rules.User{}, nil, err
		}
		filedBy = &filer
	}
	if err := checkEligible(role, user, in.ruleInput(now), now); err != nil {
		if filedBy != nil {
			return nil, rules.User{}, nil, userErr(ErrIneligible, fmt.Sprintf("%s is not eligible for %s themselves: %s", user.Name, role.Name, err.Error()))
		}
		return nil, rules.User{}, nil, err
	}
	ok, err := s.opts.Limiter.Take(ctx, "requests:"+filer.ID, s.opts.RequestLimit, time.Hour, now)
	if err != nil {
		return nil, rules.User{}, nil, fmt.Errorf("count requests of %s: %w", filer.ID, err)
	}
	if !ok {
		return nil, rules.User{}, nil, userErr(ErrRateLimited, fmt.Sprintf("you have filed %d requests in the last hour, the limit; wait a while, or ask the role's owners directly", s.opts.RequestLimit))
	}
	return role, user, filedBy, nil
}

// breakglass reports whether the request is granted at once by the role's
// auto_approve rule, within the role's breakglass_limit and, where its
// incident is looked up, for an open incident. Otherwise it goes to the
// approvers, and notice tells the requester why.
func (s *Service) breakglass(ctx context.Context, role *rules.Role, user rules.User, in rules.Input, now time.Time) (auto bool, notice string, err error) {
	auto, err = AutoApproves(role, user, in, now)
	if err != nil {
		return false, "", fmt.Errorf("evaluate auto_approve of %s: %w", role.Name, err)
	}
	if !auto {
		return false, "", nil
	}
	if in.Start.After(now) {
		// Break-glass is access now, for an emergency now. Auto-approved
		// ahead, a window would be issued hours or days later on nobody's
		// word, whatever became of the incident, with the owners' review
		// due before it even began.
		return false, "break-glass is for access now: a window asked for ahead goes to the approvers", nil
	}
	if notice := s.incidentNotice(ctx, role, in.Incident); notice != "" {
		return false, notice, nil
	}
	if role.BreakglassLimit <= 0 {
		return true, "", nil
	}
	ok, err := s.opts.Limiter.Take(ctx, "breakglass:"+role.Name+":"+user.ID, role.BreakglassLimit, breakglassWindow, now)
	if err != nil {
		return false, "", fmt.Errorf("count break-glass grants of %s: %w", user.ID, err)
	}
	if !ok {
		return false, fmt.Sprintf("you have used break-glass for %s %d times in 24 hours, its limit, so this request goes to the approvers", role.Name, role.BreakglassLimit), nil
	}
	return true, "", nil
}

// newRecord is the pending record of user's request in, with what the
// role's backend will issue.
func (s *Service) newRecord(role *rules.Role, user rules.User, in rules.Input, now time.Time) (*Request, error) {
	r := &Request{
		State:             Pending,
		Requester:         user,
		Role:              role.Name,
		Backend:           role.Backend,
		SessionPolicy:     role.SessionPolicy,
		AllowRoleChaining: role.AllowRoleChaining,
		Duration:          in.Duration,
		Reason:            in.Reason,
		Incident:          in.Incident,
		Account:           in.Account,
		Rule:              role.Eligible,
		ApprovalsRequired: role.ApprovalsRequired,
		Steps:             stepsOf(role),
		CreatedAt:         now,
		Deadline:          now.Add(role.RequestTTL),
		DryRun:            s.opts.DryRun,
	}
	if ThirdParty(user) {
		r.ApprovalsRequired = max(r.ApprovalsRequired, guestApprovals)
	}
	target, principal, err := catalogGrant(role, user, in, now)
	if err != nil {
		return nil, err
	}
	if pr, named := principalRule[role.Backend]; named && principal == "" {
		return nil, userErr(ErrIneligible, fmt.Sprintf("%s has no %s name for you (its %s rule gave an empty name); ask the role's owners", role.Name, pr.name, pr.key))
	}
	r.Target, r.Principal = target, principal
	return r, nil
}

// chooseAccount returns the ID of the account asked for: the one named by
// ID or alias, or a role's only account when none is named. Only aws_sso
// roles are granted per account.
func chooseAccount(role *rules.Role, asked string) (string, error) {
	if role.Backend != BackendSSO {
		if asked != "" {
			return "", userErr(ErrInvalidInput, fmt.Sprintf("%s is not granted per account: leave out --account", role.Name))
		}
		return "", nil
	}
	if len(role.Accounts) == 0 && role.OrganizationalUnit != "" {
		return "", userErr(ErrInvalidInput, fmt.Sprintf("%s has no accounts yet: its organizational unit %s could not be read from AWS Organizations, or holds no active account; ask jitbot's operators", role.Name, role.OrganizationalUnit))
	}
	if asked == "" && len(role.Accounts) == 1 {
		return role.Accounts[0].ID, nil
	}
	if a, ok := role.FindAccount(asked); ok {
		return a.ID, nil
	}
	names := make([]string, len(role.Accounts))
	for i, a := range role.Accounts {
		names[i] = a.String()
	}
	if asked == "" {
		return "", userErr(ErrInvalidInput, fmt.Sprintf("%s is granted in several accounts; name one with --account: %s", role.Name, strings.Join(names, ", ")))
	}
	if role.OrganizationalUnit != "" {
		return "", userErr(ErrInvalidInput, fmt.Sprintf("%s is not granted in account %q; its accounts (with those of organizational unit %s as last read): %s", role.Name, asked, role.OrganizationalUnit, strings.Join(names, ", ")))
	}
	return "", userErr(ErrInvalidInput, fmt.Sprintf("%s is not granted in account %q; its accounts: %s", role.Name, asked, strings.Join(names, ", ")))
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

// checkInput applies the limits that need no directory: the duration
// between JIT_MIN_DURATION and the role's max_duration, the text limits of
// docs/design.md §2.2, and the role's incident_pattern.
func (s *Service) checkInput(role *rules.Role, in RequestInput) error {
	_, reason := MeasureReason(in.Reason)
	_, incident := MeasureIncident(in.Incident)
	switch {
	case in.Duration < s.opts.MinDuration:
		return userErr(ErrInvalidInput, fmt.Sprintf("duration %s is shorter than the minimum of %s", rules.FormatDuration(in.Duration), rules.FormatDuration(s.opts.MinDuration)))
	case in.Duration > role.MaxDuration:
		return userErr(ErrInvalidInput, fmt.Sprintf("duration %s exceeds %s's max of %s", rules.FormatDuration(in.Duration), role.Name, rules.FormatDuration(role.MaxDuration)))
	case reason == TooShort:
		return userErr(ErrInvalidInput, fmt.Sprintf("the reason needs at least %d characters: say what you will do and why", MinReason))
	case reason == TooLong:
		return userErr(ErrInvalidInput, fmt.Sprintf("the reason is longer than %d characters", MaxReason))
	case incident == TooLong:
		return userErr(ErrInvalidInput, fmt.Sprintf("the incident reference is longer than %d characters", MaxIncident))
	case in.Incident != "" && role.IncidentPattern != nil && !role.IncidentPattern.MatchString(in.Incident):
		return userErr(ErrInvalidInput, fmt.Sprintf("incident reference %q does not look like one of %s's incidents (%s)", in.Incident, role.Name, role.IncidentPattern))
	}
	return nil
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
