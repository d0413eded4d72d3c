package rules

// Rule tests pin what a catalog's rules decide, so that a changed rule that
// lets the wrong people in, or locks the right ones out, fails in CI before
// it is deployed. `jitbot rules test FILE` runs them. A test file:
//
//	catalog: roles.yaml        # optional; relative to this file. Default: $JIT_RULES, else rules/roles.yaml
//	now: 2026-11-23T10:00:00Z  # optional; default DefaultTestTime, so results never depend on the clock
//	cases:
//	  - name: sre asks for prod-readonly during an incident
//	    now: 2026-11-23T22:00:00Z    # optional; this case's time, for rules that look at the clock
//	    user: {id: U0ALICE, name: alice, email: alice@example.com, groups: [sre, oncall],
//	           is_guest: false, is_external: false, oncall: true, oncall_schedules: [Primary]}
//	    request: {role: prod-readonly, duration: 1h, reason: "fixing INC-42 replica lag", incident: INC-42,
//	              start: 2026-11-23T22:00:00Z}  # optional; default the case's now
//	    expect: {eligible: true, auto_approve: true}
//
// Decisions:
//   - Every key is checked, as in the catalog: an unknown key, a value of the
//     wrong type, a bad duration or time, a case without a name or with a
//     name used before is a Problem at file:line, and every problem is
//     reported at once. Roles are checked against the catalog by Check,
//     since the file alone cannot know them.
//   - user: every key is optional and a missing one is its zero value, as for
//     a user the directory knows little about; the key itself is required.
//     request: role is required; a missing duration is the role's
//     default_duration, what the bot uses when a request names none, and a
//     missing start (RFC 3339) is the case's now, as for a request that
//     is not scheduled.
//   - A case may give a workload (a CI job or agent) instead of a user; its
//     eligible and auto_approve are then the role's workloads rules (see
//     ruletestworkload.go).
//   - expect gives eligible, auto_approve, may_approve (approver_rule, for
//     the case's approver), may_request_for (request_for_others, for the
//     user filing the request for the case's grantee) or several; one left
//     out is not checked. approver and grantee take the keys of user.
//   - A case tests the role's own rules, exactly what Role.IsEligible and
//     Role.IsAutoApproved return. The fixed checks package grants applies on
//     top are not repeated here (they would drift from the real ones):
//     deactivated users and bots are refused; guests and Slack Connect users
//     get only allow_guests roles, within guest_max_duration, and never
//     automatically; request.duration must lie within JIT_MIN_DURATION and
//     max_duration. So a case can pin a rule's own limit even where
//     max_duration makes it redundant today. auto_approve is evaluated even
//     for an ineligible user, so that each rule is pinned on its own. A role
//     without an auto_approve rule is never auto-approved.
//   - A rule that fails at run time (a CEL error such as an index out of
//     range) fails the case with the error; it never stops the run.
//   - YAML anchors, aliases and merge keys (<<: *alice) work, so a file can
//     describe each user once.

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultTestTime is `now` for a test file that sets none: a fixed Monday,
// 10:00 UTC, inside office hours as rules usually mean them, so that a
// file's results do not change with the time of day it runs.
var DefaultTestTime = time.Date(2026, time.January, 5, 10, 0, 0, 0, time.UTC)

// TestFile is a loaded rule test file.
type TestFile struct {
	Path string
	// Catalog is the catalog the file names, resolved against the file's
	// directory; "" when it names none and the caller picks the default.
	Catalog string
	Now     time.Time
	Cases   []TestCase
}

// TestCase is one request and what the rules must decide about it.
type TestCase struct {
	Name string
	Line int       // where the case starts in the file
	Now  time.Time // the file's now unless the case sets its own
	User User
	// Workload, when not nil, is the requester instead of User: the case
	// tests the role's workloads rules.
	Workload *Workload
	// Approver is who decides, for expect: may_approve (approver_rule).
	Approver User
	// Grantee is who User files the request for, for expect:
	// may_request_for (request_for_others).
	Grantee User
	// Request's Duration 0 means the role's default_duration, and its
	// Start zero the case's Now, as for an immediate request.
	Request Input
	Expect  Expectation

	roleLine     int // where request.role is, for Check
	workloadLine int // where workload is, for Check
}

// Expectation is what a case expects; nil means not checked.
type Expectation struct {
	Eligible, AutoApprove *bool
	// MayApprove is whether the case's approver passes approver_rule.
	MayApprove *bool
	// MayRequestFor is whether the case's user may file the request for
	// its grantee: request_for_others.
	MayRequestFor *bool
}

// TestResult is the outcome of one case. Failures say, one per failed
// expectation, what the rule gave, what was expected and what the rule is.
type TestResult struct {
	Name     string
	Pass     bool
	Failures []string
}

// Check reports, as a *LoadError, every case whose role is not in c, so
// that a misspelt role is a mistake in the file rather than a failed case.
func (f *TestFile) Check(c *Catalog) error {
	var problems []Problem
	for _, tc := range f.Cases {
		if _, ok := c.Role(tc.Request.Role); !ok {
			problems = append(problems, Problem{File: f.Path, Line: tc.roleLine,
				Msg: fmt.Sprintf("case %q: unknown role %q (%s has %s)", tc.Name, tc.Request.Role, c.Path, strings.Join(c.Names(), ", "))})
		}
	}
	problems = append(problems, f.workloadCaseProblems(c)...)
	if problems != nil {
		slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
		return &LoadError{Problems: problems}
	}
	return nil
}

// Run evaluates every case against c, in file order. A case whose role is
// not in c, or whose rule fails at run time, is a failure, never a panic.
func (f *TestFile) Run(c *Catalog) []TestResult {
	out := make([]TestResult, 0, len(f.Cases))
	for _, tc := range f.Cases {
		out = append(out, tc.run(c))
	}
	return out
}

func (tc TestCase) run(c *Catalog) TestResult {
	res := TestResult{Name: tc.Name}
	role, ok := c.Role(tc.Request.Role)
	if !ok {
		res.Failures = []string{fmt.Sprintf("role %q is not in %s", tc.Request.Role, c.Path)}
		return res
	}
	in := tc.Request
	if in.Duration == 0 {
		in.Duration = role.DefaultDuration
	}
	if in.Start.IsZero() {
		in.Start = tc.Now
	}
	var checks []ruleCheck
	if tc.Workload != nil {
		checks = tc.workloadChecks(c, role, in)
	} else {
		checks = []ruleCheck{
			{"eligible", role.Eligible, tc.Expect.Eligible, func() (bool, error) { return role.IsEligible(tc.User, in, tc.Now) }},
			{"auto_approve", role.AutoApprove, tc.Expect.AutoApprove, func() (bool, error) { return role.IsAutoApproved(tc.User, in, tc.Now) }},
		}
	}
	checks = append(checks, ruleCheck{"approver_rule", role.ApproverRule, tc.Expect.MayApprove,
		func() (bool, error) { return role.ApproverAllowed(tc.Approver, in, tc.Now) }},
		ruleCheck{"request_for_others", role.RequestForOthers, tc.Expect.MayRequestFor,
			func() (bool, error) { return role.MayRequestFor(tc.User, tc.Grantee, in, tc.Now) }})
	for _, ch := range checks {
		if ch.want == nil {
			continue
		}
		got, err := ch.eval()
		if msg := verdict(ch.key, ch.src, role.Name, got, *ch.want, err); msg != "" {
			res.Failures = append(res.Failures, msg)
		}
	}
	res.Pass = len(res.Failures) == 0
	return res
}

// ruleCheck is one expectation of a case: the rule (its key and source),
// what it must give (nil: not checked) and how to evaluate it.
type ruleCheck struct {
	key, src string
	want     *bool
	eval     func() (bool, error)
}

// verdict describes a failed expectation, or returns "" when it holds.
func verdict(key, src, role string, got, want bool, err error) string {
	if err != nil {
		return fmt.Sprintf("%s: %v", key, err)
	}
	if got == want {
		return ""
	}
	// A rule that spans lines in the file is shown on one line, as it is
	// read: the message must fit the one line of its case.
	rule := strings.Join(strings.Fields(src), " ")
	if rule == "" {
		return fmt.Sprintf("%s = %t, want %t (%s has no %s rule)", key, got, want, role, key)
	}
	return fmt.Sprintf("%s = %t, want %t (%s: '%s')", key, got, want, key, rule)
}
