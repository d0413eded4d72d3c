// Package rules loads the role catalog (rules/roles.yaml), compiles its CEL
// expressions against typed declarations and evaluates them.
package rules

import "time"

// User is the CEL variable `user`: who asks, as the directory knows them now.
type User struct {
	ID      string   `json:"id" cel:"id"`
	Name    string   `json:"name" cel:"name"`
	Email   string   `json:"email" cel:"email"`
	Groups  []string `json:"groups,omitempty" cel:"groups"` // Slack user-group handles, without @
	IsGuest bool     `json:"is_guest,omitempty" cel:"is_guest"`
	// IsExternal is a user of another organisation reaching this
	// workspace through Slack Connect.
	IsExternal bool `json:"is_external,omitempty" cel:"is_external"`
	// OnCall and OnCallSchedules come from the on-call source (PagerDuty)
	// when one is configured; false and empty otherwise, or when it is
	// unreachable.
	OnCall          bool     `json:"oncall,omitempty" cel:"oncall"`
	OnCallSchedules []string `json:"oncall_schedules,omitempty" cel:"oncall_schedules"`
	// Deleted users and bots are never eligible; not visible to CEL.
	Deleted bool `json:"deleted,omitempty" cel:"-"`
	IsBot   bool `json:"is_bot,omitempty" cel:"-"`

	prepared *preparedUser // set by Prepare
}

// Input is the CEL variable `request`: what is asked for.
type Input struct {
	Role     string        `cel:"role"`
	Duration time.Duration `cel:"duration"`
	Reason   string        `cel:"reason"`
	Incident string        `cel:"incident"`
	Account  string        `cel:"account"` // aws_sso: the account ID asked for
	// Start is when the access is to begin: the time of the request for
	// an immediate one, later for a scheduled window. Zero is taken as
	// now, the start of an immediate request, so that rules never see
	// the year 1 from a caller that schedules nothing.
	Start time.Time `cel:"start"`
}

// toCELRequest is what CEL sees of in at now, the same for the rules of
// people and of workloads.
func toCELRequest(in Input, now time.Time) celRequest {
	start := in.Start
	if start.IsZero() {
		start = now
	}
	return celRequest{Role: in.Role, Duration: in.Duration, Reason: in.Reason, Incident: in.Incident, Account: in.Account, Start: start}
}
