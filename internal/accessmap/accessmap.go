// Package accessmap answers, for every role of a catalog, who may approve
// it and who may request it, so that a reviewer sees in one place who can
// get elevated access and who can hand it out, and a diff of two maps shows
// who gained or lost either.
//
// Build decides with the service's own rules for a real request
// (grants.CheckEligible, grants.AutoApproves), so the two cannot disagree:
// bots and deactivated users never request, guests and Slack Connect users
// only where the role sets allow_guests and never by auto-approval, and
// the role's eligible and auto_approve rules decide the rest. What a rule sees of the request is fixed (see Probe), because the
// map is about people, not about one request.
package accessmap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Directory is who is in the workspace. The Slack implementation is Slack;
// tests use a small fake.
type Directory interface {
	// Users returns every user of the workspace, deactivated users and
	// bots included, each with the handles of their user groups.
	Users(ctx context.Context) ([]rules.User, error)
	// GroupMembers returns the user IDs in the user group with this handle
	// (without the @); an unknown handle has no members.
	GroupMembers(ctx context.Context, handle string) ([]string, error)
}

// Map is who may request and who may approve each role of a catalog.
type Map struct {
	CatalogSHA256 string       `json:"catalog_sha256"`
	Generated     time.Time    `json:"generated"`
	Roles         []RoleAccess `json:"roles"` // by role name
}

// RoleAccess is who may approve and who may request one role. The lists
// are never nil, so that JSON shows an empty list as [], and are sorted by
// Person.Name, then Person.ID.
type RoleAccess struct {
	Role string `json:"role"`
	// Account is the AWS account ID of an aws_sso role's entry: such a
	// role has one entry per account, since the rules may admit other
	// people in each (request.account) and account_approvers may name
	// other approvers. AccountAlias is its alias in the catalog, if any.
	Account      string `json:"account,omitempty"`
	AccountAlias string `json:"account_alias,omitempty"`
	Backend      string `json:"backend"`
	// Target is what a grant gives: the role ARN (aws_sts), the IAM group
	// (aws_iam_group), the permission set (aws_sso) or the Identity Center
	// group (aws_sso_group).
	Target string `json:"target"`
	// Approvers are the listed user IDs and the current members of the
	// listed user groups.
	Approvers []Person `json:"approvers"`
	// Requesters are the people the role's eligible rule admits, after the
	// fixed rules (see Build).
	Requesters []Person `json:"requesters"`
	// AutoApproved are the requesters whom the auto_approve rule grants at
	// once, without an approver, for the request described at Probe.
	AutoApproved      []Person `json:"auto_approved"`
	ApprovalsRequired int      `json:"approvals_required"`
	// Errors are what kept the map of this role from being complete: a
	// rule that failed to evaluate for one user (the message starts with
	// the user's ID), or fewer active approvers than approvals_required.
	// Sorted.
	Errors []string `json:"errors,omitempty"`
}

// Person is one Slack user as the map shows them.
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"` // the Slack handle; "" when not in the directory
	Email string `json:"email,omitempty"`
	// Notes are what a reviewer should know about the account, in this
	// order: NoteUnknown, NoteDeactivated, NoteBot, NoteGuest, NoteExternal.
	Notes []string `json:"notes,omitempty"`
}

// What Person.Notes may say.
const (
	NoteUnknown     = "unknown" // a listed approver ID that the directory does not know
	NoteDeactivated = "deactivated"
	NoteBot         = "bot"
	NoteGuest       = "guest"
	NoteExternal    = "external" // Slack Connect: a user of another organisation
)

// Probe describes the request the rules are evaluated against. A rule may
// look at the request as well as the user, but the map asks about people,
// so Build asks each rule about one fixed request: the role's
// default_duration (for guests, no more than guest_max_duration, the most
// they may ask for) and ProbeReason. A user is a requester when the
// eligible rule admits them either without an incident reference or with
// ProbeIncident, so a rule that opens a role during incidents shows its
// incident-time requesters. AutoApproved is evaluated with ProbeIncident
// only, since break-glass rules are about incidents. ProbeIncident is
// checked against no role's incident_pattern: the map shows what the rules
// decide, not whether "INC-0" names a real incident.
const (
	ProbeIncident = "INC-0"
	ProbeReason   = "access-map: who may request this role"
)

// Build maps every role of cat over the users of dir, with now as the
// rules' `now` and as Map.Generated. A rule that fails for one user is
// recorded in that role's Errors and the map goes on; an error of dir
// (Slack unreachable) is returned, since a map without its users would
// mislead.
func Build(ctx context.Context, cat *rules.Catalog, dir Directory, now time.Time) (Map, error) {
	users, err := dir.Users(ctx)
	if err != nil {
		return Map{}, fmt.Errorf("list users: %w", err)
	}
	byID := make(map[string]rules.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	b := builder{dir: dir, users: users, byID: byID, members: map[string][]string{}, now: now}
	m := Map{CatalogSHA256: cat.SHA256, Generated: now.UTC(), Roles: []RoleAccess{}}
	for _, name := range cat.Names() {
		role := cat.Roles[name]
		accounts := []rules.Account{{}}
		if role.Backend == grants.BackendSSO && len(role.Accounts) > 0 {
			accounts = role.Accounts
		}
		for _, account := range accounts {
			if err := ctx.Err(); err != nil {
				return Map{}, err
			}
			ra, err := b.roleAccess(ctx, role, account)
			if err != nil {
				return Map{}, err
			}
			m.Roles = append(m.Roles, ra)
		}
	}
	return m, nil
}

// builder holds what Build has read of the workspace.
type builder struct {
	dir     Directory
	users   []rules.User
	byID    map[string]rules.User
	members map[string][]string // by handle: each group is asked for once, however many roles it approves
	now     time.Time
}

// approvers resolves a list of approvers to user IDs, sorted and without
// repeats: the listed users and the current members of the listed groups.
func (b *builder) approvers(ctx context.Context, list []string) ([]string, error) {
	ids := rules.UserIDs(list)
	for _, h := range rules.GroupHandles(list) {
		got, ok := b.members[h]
		if !ok {
			var err error
			if got, err = b.dir.GroupMembers(ctx, h); err != nil {
				return nil, fmt.Errorf("members of @%s: %w", h, err)
			}
			b.members[h] = got
		}
		ids = append(ids, got...)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// active counts the users of ids who can click: known, not deactivated,
// not bots.
func (b *builder) active(ids []string) int {
	n := 0
	for _, id := range ids {
		if u, ok := b.byID[id]; ok && !u.Deleted && !u.IsBot {
			n++
		}
	}
	return n
}

// roleAccess is who may approve and request role in account (the zero
// Account for roles not granted per account).
func (b *builder) roleAccess(ctx context.Context, role *rules.Role, account rules.Account) (RoleAccess, error) {
	ra := RoleAccess{
		Role: role.Name, Account: account.ID, AccountAlias: account.Alias, Backend: role.Backend, Target: target(role),
		ApprovalsRequired: role.ApprovalsRequired,
		Approvers:         []Person{}, Requesters: []Person{}, AutoApproved: []Person{},
	}
	var all []string
	for step := range role.Steps() {
		ids, err := b.approvers(ctx, role.StepApprovers(account.ID, step))
		if err != nil {
			return RoleAccess{}, err
		}
		all = append(all, ids...)
		need, what := role.ApprovalsRequired, "approvals_required"
		if len(role.ApprovalSteps) > 0 {
			need, what = role.ApprovalSteps[step].ApprovalsRequired, fmt.Sprintf("approvals_required of step %d", step+1)
		}
		if active := b.active(ids); active < need {
			ra.Errors = append(ra.Errors, fmt.Sprintf("%s is %d but only %d approver(s) are active users", what, need, active))
		}
	}
	slices.Sort(all)
	for _, id := range slices.Compact(all) {
		u, ok := b.byID[id]
		ra.Approvers = append(ra.Approvers, person(u, ok, id))
	}
	if role.Backend == grants.BackendSSO && account.ID == "" {
		ra.Errors = append(ra.Errors, fmt.Sprintf("no accounts: those of organizational unit %s were not read; requesters are judged without an account", role.OrganizationalUnit))
	}
	for _, u := range b.users {
		may, auto, errs := evaluate(role, account.ID, u, b.now)
		ra.Errors = append(ra.Errors, errs...)
		if may {
			ra.Requesters = append(ra.Requesters, person(u, true, u.ID))
		}
		if auto {
			ra.AutoApproved = append(ra.AutoApproved, person(u, true, u.ID))
		}
	}
	for _, l := range [][]Person{ra.Approvers, ra.Requesters, ra.AutoApproved} {
		slices.SortFunc(l, func(a, b Person) int { return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID)) })
	}
	slices.Sort(ra.Errors)
	return ra, nil
}

// evaluate decides whether u may request role and whether they would be
// auto-approved in account (an ID, or ""), by the rules grants.Service
// decides a request with
// (grants.CheckEligible, then grants.AutoApproves), so that the map and
// the service cannot disagree. errs are the rules that failed to evaluate,
// each naming u.
func evaluate(role *rules.Role, account string, u rules.User, now time.Time) (may, auto bool, errs []string) {
	in := rules.Input{Role: role.Name, Account: account, Duration: role.DefaultDuration, Reason: ProbeReason}
	if grants.ThirdParty(u) {
		in.Duration = min(in.Duration, role.GuestMaxDuration)
	}
	incident := in
	incident.Incident = ProbeIncident

	fail := func(rule string, err error) {
		errs = append(errs, oneLine(fmt.Sprintf("%s: %s: %v", u.ID, rule, err)))
	}
	ok, err := admitted(grants.CheckEligible(role, u, in, now))
	okIncident, errIncident := admitted(grants.CheckEligible(role, u, incident, now))
	if err != nil && errIncident != nil && err.Error() == errIncident.Error() {
		fail("eligible", err) // once: it failed whatever the request said
	} else {
		if err != nil {
			fail("eligible without an incident", err)
		}
		if errIncident != nil {
			fail("eligible with incident "+ProbeIncident, errIncident)
		}
	}
	may = ok || okIncident
	if !okIncident {
		return may, false, errs
	}
	auto, err = grants.AutoApproves(role, u, incident, now)
	if err != nil {
		fail("auto_approve with incident "+ProbeIncident, err)
	}
	return may, auto, errs
}

// admitted splits grants.CheckEligible's answer: a refusal (the fixed
// rules, or the role's eligible rule) is a no, any other error a rule that
// failed to evaluate.
func admitted(err error) (bool, error) {
	if err == nil {
		return true, nil
	}
	if _, refused := errors.AsType[*grants.UserError](err); refused {
		return false, nil
	}
	return false, err
}

// person is u as the map shows them; known is false for an ID the
// directory does not have.
func person(u rules.User, known bool, id string) Person {
	if !known {
		return Person{ID: id, Notes: []string{NoteUnknown}}
	}
	p := Person{ID: u.ID, Name: oneLine(u.Name), Email: oneLine(u.Email)}
	for _, n := range []struct {
		on   bool
		note string
	}{{u.Deleted, NoteDeactivated}, {u.IsBot, NoteBot}, {u.IsGuest, NoteGuest}, {u.IsExternal, NoteExternal}} {
		if n.on {
			p.Notes = append(p.Notes, n.note)
		}
	}
	return p
}

func target(r *rules.Role) string {
	switch r.Backend {
	case grants.BackendGroup:
		return r.Group
	case grants.BackendSSO:
		return r.PermissionSet
	case grants.BackendSSOGroup:
		return r.SSOGroup
	}
	return r.RoleARN
}

// oneLine replaces control characters, newlines among them, with spaces:
// the text map is one fact per line, and a name or an error message must
// not be able to forge a line of its own.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
