package rules

import (
	"fmt"
	"iter"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Built-in defaults, used when the catalog's defaults section leaves them out.
const (
	DefaultMaxDuration     = 4 * time.Hour
	DefaultDefaultDuration = time.Hour
	DefaultRequestTTL      = 30 * time.Minute
	// DefaultMaxLeadTime is how far ahead a scheduled window may start:
	// a week covers planned maintenance without letting a request sit
	// for months on a grant nobody remembers asking for.
	DefaultMaxLeadTime = 7 * 24 * time.Hour
)

// Defaults of the optional role settings for break-glass review and
// third-party access.
const (
	DefaultReviewWithin     = 24 * time.Hour
	DefaultGuestMaxDuration = time.Hour
)

// Catalog is a loaded, validated role catalog. It is not changed after
// Parse.
type Catalog struct {
	Path     string
	SHA256   string // hex SHA-256 of the file, recorded as evidence of the rules in force
	Defaults Defaults
	Roles    map[string]*Role

	names []string // sorted once by Parse: /jit roles lists them at every call
	// workloadIssuers are the OIDC issuers of workload_issuers, by name.
	workloadIssuers []WorkloadIssuer
}

// Defaults apply to every role that does not set its own.
type Defaults struct {
	MaxDuration, DefaultDuration, RequestTTL time.Duration
	// RemindAfter, EscalateAfter, EscalationApprovers and MaxLeadTime are
	// those of Role; the zero durations mean off, but for MaxLeadTime,
	// which is DefaultMaxLeadTime unless set.
	RemindAfter, EscalateAfter time.Duration
	EscalationApprovers        []string
	MaxLeadTime                time.Duration
}

// Role is one requestable role.
type Role struct {
	Name, Description string
	Backend           string // "aws_sts", "aws_iam_group", "aws_sso" or "aws_sso_group"
	RoleARN           string // aws_sts
	SessionPolicy     string // aws_sts, optional JSON policy
	// AllowRoleChaining lets an aws_sts grant's session assume further
	// roles (sts:AssumeRole*), which its session policy otherwise denies.
	// The chained sessions carry the jit-request tag as a transitive tag,
	// so an early revocation still reaches them.
	AllowRoleChaining bool
	Group             string // aws_iam_group
	Reconcile         string // "off", "report" or "enforce"; aws_iam_group, aws_sso and aws_sso_group

	// aws_sso: the permission set (name or ARN) assigned in one of
	// Accounts; aws_sso_group: the Identity Center group. SSOUser is CEL
	// giving the Identity Center user name (default user.email).
	// OrganizationalUnit (an OU ID or a root ID) adds the active accounts
	// under it to Accounts, read from AWS Organizations by the app: see
	// Catalog.WithOrganizationalUnits. As parsed, Accounts holds only the
	// accounts the file lists.
	PermissionSet      string
	Accounts           []Account
	OrganizationalUnit string
	SSOGroup           string
	SSOUser            string

	MaxDuration, DefaultDuration, RequestTTL time.Duration

	Approvers []string // Slack user IDs and "@handle" user groups
	// AccountApprovers, of an aws_sso role, replace Approvers for the
	// requests in an account: account ID → approvers.
	AccountApprovers  map[string][]string
	ApprovalsRequired int
	// ApprovalSteps, when set, replace Approvers: a request is approved
	// by each step in order, and ApprovalsRequired is their sum.
	ApprovalSteps []ApprovalStep

	// RemindAfter is how long a request waits for a decision before its
	// approvers are reminded, and EscalateAfter before
	// EscalationApprovers (Slack user IDs and "@handle" user groups) are
	// asked as well; 0 turns either off. Neither is bounded by
	// RequestTTL: a scheduled request waits until its start.
	RemindAfter, EscalateAfter time.Duration
	EscalationApprovers        []string
	// MaxLeadTime is how far ahead of the request a scheduled window may
	// start; DefaultMaxLeadTime unless the catalog says otherwise.
	MaxLeadTime time.Duration
	// EndWithIncident ends a grant that names an incident when that
	// incident is resolved, rather than only at its expiry.
	EndWithIncident bool

	Eligible, AutoApprove, IAMUser string // CEL source ("" when absent)

	IncidentPattern *regexp.Regexp // optional: what an incident reference must look like
	BreakglassLimit int            // optional: auto-approvals per user per 24h; 0 means no limit
	ReviewWithin    time.Duration  // when an unreviewed break-glass grant is escalated; default 24h

	// AllowGuests opens the role to guests and Slack Connect users
	// (third parties), who then need at least two approvers and get at
	// most GuestMaxDuration (default 1h).
	AllowGuests      bool
	GuestMaxDuration time.Duration

	// ApproverRule is CEL over approver (the same fields as user) and
	// request: who among the role's approvers may decide this request.
	// "" lets every approver decide.
	ApproverRule string
	// RequestForOthers is CEL over user (who files the request), grantee
	// (who it is for, the same fields) and request: whether user may ask
	// for the role on grantee's behalf. "" lets nobody do so.
	RequestForOthers string

	// Workloads are the rules for CI jobs and agents that request the
	// role with an OIDC token; nil when the role refuses every workload.
	Workloads *WorkloadRules

	eligible, autoApprove, iamUser, approverRule, ssoUser, requestForOthers *program
}

// Role returns the role with the given name.
func (c *Catalog) Role(name string) (*Role, bool) {
	r, ok := c.Roles[name]
	return r, ok
}

// All yields the roles in name order.
func (c *Catalog) All() iter.Seq[*Role] {
	names := c.names
	if names == nil {
		names = sortedNames(c.Roles)
	}
	return func(yield func(*Role) bool) {
		for _, n := range names {
			if !yield(c.Roles[n]) {
				return
			}
		}
	}
}

// Matching returns the roles whose name or description contains every
// word of query, ignoring case, in their order; roles itself for a blank
// query. /jit roles <words…> finds roles in a large catalog with it.
func Matching(roles []*Role, query string) []*Role {
	words := strings.Fields(strings.ToLower(query))
	if len(words) == 0 {
		return roles
	}
	var out []*Role
	for _, r := range roles {
		text := strings.ToLower(r.Name + "\n" + r.Description)
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(text, w) }) {
			out = append(out, r)
		}
	}
	return out
}

// Names returns the role names, sorted.
func (c *Catalog) Names() []string {
	if c.names != nil {
		return slices.Clone(c.names)
	}
	return sortedNames(c.Roles)
}

func sortedNames(roles map[string]*Role) []string {
	names := make([]string, 0, len(roles))
	for n := range roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Users returns the role's approvers that are Slack user IDs.
func (r *Role) Users() []string { return UserIDs(r.Approvers) }

// Groups returns the role's approving user-group handles, without the @.
func (r *Role) Groups() []string { return GroupHandles(r.Approvers) }

// IsEligible evaluates the role's eligible rule.
func (r *Role) IsEligible(u User, in Input, now time.Time) (bool, error) {
	if r.eligible == nil {
		return false, fmt.Errorf("role %s has no eligible rule", r.Name)
	}
	return r.eligible.evalBool(u, in, now)
}

// IsAutoApproved evaluates the role's auto_approve rule; false when the
// role has none.
func (r *Role) IsAutoApproved(u User, in Input, now time.Time) (bool, error) {
	if r.autoApprove == nil {
		return false, nil
	}
	return r.autoApprove.evalBool(u, in, now)
}

// ApproverAllowed evaluates the role's approver_rule for approver deciding
// a request for in; true when the role has none.
func (r *Role) ApproverAllowed(approver User, in Input, now time.Time) (bool, error) {
	if r.approverRule == nil {
		return true, nil
	}
	return r.approverRule.evalBool(approver, in, now)
}

// IAMUserName evaluates the role's iam_user rule.
func (r *Role) IAMUserName(u User, in Input, now time.Time) (string, error) {
	if r.iamUser == nil {
		return "", fmt.Errorf("role %s has no iam_user rule", r.Name)
	}
	return r.iamUser.evalString(u, in, now)
}
