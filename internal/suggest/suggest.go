package suggest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Call is one API call a grant made, from CloudTrail.
type Call struct {
	Action Action
	// Resources are what the event named; only ARNs can go in a policy.
	Resources []string
	At        time.Time
	// Denied: the call was refused for want of permission. The grant did
	// not have the action, so a session policy (which can only narrow)
	// need not allow it; it still counts as activity.
	Denied bool
}

// Grant is one past grant of the role and its calls.
type Grant struct {
	ID         string
	Start, End time.Time // when it was granted and when it ended
	Calls      []Call
	// Truncated: CloudTrail had more calls than were read.
	Truncated bool
	// Skipped counts events that named no IAM action (ParseAction
	// refused them), left out of Calls.
	Skipped int
}

// MinHistory is how many grants with usage a suggestion needs before it
// proposes a duration or is shown to approvers: fewer say little.
const MinHistory = 5

// Suggestion is what the grants of a role say about it.
type Suggestion struct {
	Role     string
	Grants   int // grants considered
	Used     int // of which made at least one call
	ReadOnly int // of the used, how many made no write call (see ReadOnly)
	Actions  []Use
	Policy   Policy
	// UsedP90 is the 90th percentile of first-to-last call over the used
	// grants; GrantedMedian the median of how long grants ran.
	UsedP90, GrantedMedian time.Duration
	// Default is the role's default_duration; Duration the shorter one
	// suggested, or 0 when the data does not call for one (see
	// suggestDuration).
	Default, Duration time.Duration
	Truncated         bool // some grant had more calls than were read
	Skipped           int  // events that named no IAM action, over all grants
}

// Use is one action the grants were allowed and used.
type Use struct {
	Action Action
	Calls  int
	Grants int // how many grants used it
	// Resources are the ARNs the calls named; nil when any call named
	// none, and the policy then allows "*".
	Resources []string
}

// Build makes the suggestion for role from its grants. def is the role's
// default_duration.
func Build(role string, def time.Duration, grants []Grant) Suggestion {
	s := Suggestion{Role: role, Grants: len(grants), Default: def}
	uses := map[Action]*Use{}
	anywhere := map[Action]bool{} // some call named no ARN
	var used, granted []time.Duration
	for _, g := range grants {
		granted = append(granted, g.End.Sub(g.Start))
		s.Truncated = s.Truncated || g.Truncated
		s.Skipped += g.Skipped
		if len(g.Calls) == 0 {
			continue
		}
		s.Used++
		used = append(used, span(g.Calls))
		wrote, seen := false, map[Action]bool{}
		for _, c := range g.Calls {
			if c.Denied {
				continue
			}
			wrote = wrote || !c.Action.ReadOnly()
			u := uses[c.Action]
			if u == nil {
				u = &Use{Action: c.Action}
				uses[c.Action] = u
			}
			u.Calls++
			if !seen[c.Action] {
				seen[c.Action] = true
				u.Grants++
			}
			arns := arnsOf(c.Resources)
			if len(arns) == 0 {
				anywhere[c.Action] = true
			}
			u.Resources = append(u.Resources, arns...)
		}
		if !wrote {
			s.ReadOnly++
		}
	}
	for a, u := range uses {
		u.Resources = compact(u.Resources)
		if anywhere[a] {
			u.Resources = nil
		}
		s.Actions = append(s.Actions, *u)
	}
	slices.SortFunc(s.Actions, func(a, b Use) int { return cmp.Compare(a.Action.String(), b.Action.String()) })
	s.Policy = policyFor(s.Actions)
	s.UsedP90, s.GrantedMedian = percentile(used, 90), percentile(granted, 50)
	if len(used) >= MinHistory {
		s.Duration = suggestDuration(s.UsedP90, def)
	}
	return s
}

// span is first call to last.
func span(calls []Call) time.Duration {
	byTime := func(a, b Call) int { return a.At.Compare(b.At) }
	return slices.MaxFunc(calls, byTime).At.Sub(slices.MinFunc(calls, byTime).At)
}

// arnsOf keeps the resources that are ARNs (arn:partition:service:region:
// account:resource); CloudTrail also gives bare names and IDs, which a
// policy cannot use.
func arnsOf(rs []string) []string {
	var out []string
	for _, r := range rs {
		if strings.HasPrefix(r, "arn:") && strings.Count(r, ":") >= 5 && utf8.ValidString(r) && !strings.ContainsFunc(r, unicode.IsControl) {
			out = append(out, r)
		}
	}
	return out
}

func compact(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// percentile is the nearest-rank p-th percentile of ds; 0 for none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	rank := (p*len(s) + 99) / 100 // ceil(p/100 * n)
	return s[max(rank, 1)-1]
}

// Step is what suggested durations are rounded up to.
const Step = 15 * time.Minute

// suggestDuration is the rule for a shorter default_duration: the 90th
// percentile of used time rounded up to the next Step (at least one Step),
// suggested only when it is at most three quarters of the current default,
// so that a suggestion always cuts a clear margin and never nags about a
// few minutes. 0 means keep the default.
func suggestDuration(p90, def time.Duration) time.Duration {
	d := max(Step, (p90+Step-1)/Step*Step)
	if def <= 0 || d*4 > def*3 {
		return 0
	}
	return d
}

// Line is the one line approvers see, e.g. "the last 20 grants used only
// s3:Get*, ec2:Describe*". It is empty when fewer than MinHistory grants
// made calls. Its text comes only from parsed actions, which hold no
// character Slack treats specially; callers still escape it.
func (s Suggestion) Line() string {
	if s.Used < MinHistory {
		return ""
	}
	groups := Groups(s.Actions)
	const shown = 6
	more := ""
	if len(groups) > shown {
		more = fmt.Sprintf(" and %d more", len(groups)-shown)
		groups = groups[:shown]
	}
	line := fmt.Sprintf("the last %d grants used only %s%s", s.Grants, strings.Join(groups, ", "), more)
	if s.ReadOnly == s.Used {
		line += " (read-only)"
	}
	return line
}

// Groups collapses actions to service:Verb*, most called first: s3:Get*
// stands for every s3:Get… action used. A verb used by one action only
// keeps the action's full name.
func Groups(uses []Use) []string {
	type group struct {
		name    string
		calls   int
		actions int
	}
	byKey := map[string]*group{}
	var order []*group
	for _, u := range uses {
		key := u.Action.Service + ":" + u.Action.Verb()
		g := byKey[key]
		if g == nil {
			g = &group{name: u.Action.String()}
			byKey[key] = g
			order = append(order, g)
		}
		g.calls += u.Calls
		g.actions++
		if g.actions > 1 {
			g.name = key + "*"
		}
	}
	slices.SortStableFunc(order, func(a, b *group) int { return cmp.Compare(b.calls, a.calls) })
	out := make([]string, len(order))
	for i, g := range order {
		out[i] = g.name
	}
	return out
}
