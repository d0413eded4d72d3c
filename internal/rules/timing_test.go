package rules_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// TestTimingProblems: each of the timing keys, in a role of good (after
// its max_duration, line 15) or in its defaults (after request_ttl, line
// 4), set wrong on its own or against the others.
func TestTimingProblems(t *testing.T) {
	const role, defaults = "    max_duration: 2h\n", "  request_ttl: 30m\n"
	tests := []struct {
		name string
		at   string // role or defaults: where add goes
		add  string
		want string // the problem, as file:line: message; "" for none
	}{
		{"remind_after not a duration", role, "    remind_after: soon", `roles.yaml:16: role prod-admin: remind_after: "soon" is not a duration (use e.g. 15m, 1h30m, 1d, or 0 for off)`},
		{"remind_after negative", role, "    remind_after: -5m", `roles.yaml:16: role prod-admin: remind_after: "-5m" is not a duration`},
		{"escalate_after a list", role, "    escalate_after: [1h]", `roles.yaml:16: role prod-admin: escalate_after: "[1h]" is not a duration`},
		{"escalate_after negative in defaults", defaults, "  escalate_after: -1h", `roles.yaml:5: defaults: escalate_after: "-1h" is not a duration`},
		{"escalate without approvers", role, "    escalate_after: 1h", `roles.yaml:16: role prod-admin: escalate_after needs escalation_approvers: who is asked when nobody has decided within 1h`},
		{"escalate without approvers in defaults", defaults, "  escalate_after: 1h", `roles.yaml:5: defaults: escalate_after needs escalation_approvers`},
		{"approvers without escalate", role, `    escalation_approvers: ["@sre-leads"]`, `roles.yaml:16: role prod-admin: escalation_approvers needs escalate_after: how long a request waits before they are asked`},
		{"approvers without escalate in defaults", defaults, `  escalation_approvers: ["@sre-leads"]`, `roles.yaml:5: defaults: escalation_approvers needs escalate_after`},
		{"approvers with escalate 0", role, "    escalate_after: 0\n    escalation_approvers: [\"@sre-leads\"]", `roles.yaml:17: role prod-admin: escalation_approvers needs escalate_after`},
		{"remind as late as escalate", role, "    remind_after: 1h\n    escalate_after: 1h\n    escalation_approvers: [\"@sre-leads\"]",
			`roles.yaml:16: role prod-admin: remind_after 1h must be shorter than escalate_after 1h: the approvers are reminded before others are asked`},
		{"remind after escalate in defaults", defaults, "  remind_after: 2h\n  escalate_after: 1h\n  escalation_approvers: [\"@sre-leads\"]", `roles.yaml:5: defaults: remind_after 2h must be shorter than escalate_after 1h`},
		{"bad handle", role, "    escalate_after: 1h\n    escalation_approvers: [\"sre-leads\"]",
			`roles.yaml:17: role prod-admin: approver "sre-leads" in escalation_approvers is neither a Slack user ID (U…) nor a user group (@handle)`},
		{"bad handle in defaults", defaults, "  escalate_after: 1h\n  escalation_approvers: [\"@SRE leads\"]",
			`roles.yaml:6: defaults: approver "@SRE leads" in escalation_approvers is neither a Slack user ID (U…) nor a user group (@handle)`},
		{"approver twice", role, "    escalate_after: 1h\n    escalation_approvers: [U0BOSS, U0BOSS]", `roles.yaml:17: role prod-admin: approver U0BOSS is listed twice in escalation_approvers`},
		{"approvers not a list", role, "    escalate_after: 1h\n    escalation_approvers: \"@sre-leads\"", `roles.yaml:17: role prod-admin: escalation_approvers must be a list`},
		{"approvers not a list in defaults", defaults, "  escalate_after: 1h\n  escalation_approvers: \"@sre-leads\"", `roles.yaml:6: defaults: escalation_approvers must be a list`},
		{"approvers empty", role, "    escalate_after: 1h\n    escalation_approvers: []", `roles.yaml:17: role prod-admin: escalation_approvers is empty`},
		{"max_lead_time zero", role, "    max_lead_time: 0", `roles.yaml:16: role prod-admin: max_lead_time: "0" is not a duration (use e.g. 15m, 1h30m, 1d): must be positive`},
		{"max_lead_time negative in defaults", defaults, "  max_lead_time: -1d", `roles.yaml:5: defaults: max_lead_time: "-1d" is not a duration`},
		{"max_lead_time not a duration", role, "    max_lead_time: true", `roles.yaml:16: role prod-admin: max_lead_time: "true" is not a duration`},
		{"end_with_incident not a bool", role, "    end_with_incident: maybe", `roles.yaml:16: role prod-admin: end_with_incident must be true or false, got "maybe"`},
		{"end_with_incident in defaults", defaults, "  end_with_incident: true", `roles.yaml:5: unknown key "end_with_incident" in defaults`},
		{"approval_steps is not a key of defaults", defaults, "  approval_steps: []", `roles.yaml:5: unknown key "approval_steps" in defaults`},
		{"all off", role, "    remind_after: 0\n    escalate_after: 0s", ""},
		{"remind without escalation", role, "    remind_after: 10m", ""},
		{"escalation by fewer users than approvals_required", role, "    escalate_after: 1h\n    escalation_approvers: [U0BOSS]", ""},
		{"everything", role, "    remind_after: 10m\n    escalate_after: 1h\n    escalation_approvers: [U0BOSS, \"@sre-leads\"]\n    max_lead_time: 3d\n    end_with_incident: true", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, strings.Replace(good, tt.at, tt.at+tt.add+"\n", 1), tt.want)
		})
	}
}

// TestTimingAgainstDefaults: a role's own escalate_after is checked
// against the remind_after it takes from the defaults, and the problem is
// the role's, at its name.
func TestTimingAgainstDefaults(t *testing.T) {
	src := strings.NewReplacer("  request_ttl: 30m\n", "  request_ttl: 30m\n  remind_after: 2h\n",
		"  prod-admin:\n", "  prod-admin:\n    escalate_after: 1h\n    escalation_approvers: [U0BOSS]\n").Replace(good)
	wantProblem(t, src, `roles.yaml:12: role prod-admin: remind_after 2h must be shorter than escalate_after 1h`)
	_, err := rules.Parse("roles.yaml", []byte(src))
	if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
		t.Errorf("%d problems, want only prod-admin's:\n%v", n, err)
	}
}

// TestTimingDefaults: a role takes each timing key it does not set from
// the defaults section, and escalate_after: 0 turns off the escalation it
// would take, approvers and all.
func TestTimingDefaults(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(`defaults:
  remind_after: 15m
  escalate_after: 1h
  escalation_approvers: ["@sre-leads"]
  max_lead_time: 3d
roles:
  inherits:
    backend: aws_iam_group
    group: g
    iam_user: 'user.id'
    approvers: ['@leads']
    eligible: 'true'
  overrides:
    backend: aws_iam_group
    group: g
    iam_user: 'user.id'
    approvers: ['@leads']
    eligible: 'true'
    remind_after: 0
    escalate_after: 2h
    escalation_approvers: [U0BOSS]
    max_lead_time: 1d
    end_with_incident: true
  no-escalation:
    backend: aws_iam_group
    group: g
    iam_user: 'user.id'
    approvers: ['@leads']
    eligible: 'true'
    escalate_after: 0
`))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Defaults
	if d.RemindAfter != 15*time.Minute || d.EscalateAfter != time.Hour || !slices.Equal(d.EscalationApprovers, []string{"@sre-leads"}) || d.MaxLeadTime != 72*time.Hour {
		t.Errorf("Defaults = %+v", d)
	}
	for _, tt := range []struct {
		role                   string
		remind, escalate, lead time.Duration
		escalationApprovers    []string
		endWithIncident        bool
	}{
		{"inherits", 15 * time.Minute, time.Hour, 72 * time.Hour, []string{"@sre-leads"}, false},
		{"overrides", 0, 2 * time.Hour, 24 * time.Hour, []string{"U0BOSS"}, true},
		{"no-escalation", 15 * time.Minute, 0, 72 * time.Hour, nil, false},
	} {
		r := c.Roles[tt.role]
		if r.RemindAfter != tt.remind || r.EscalateAfter != tt.escalate || r.MaxLeadTime != tt.lead ||
			!slices.Equal(r.EscalationApprovers, tt.escalationApprovers) || r.EndWithIncident != tt.endWithIncident {
			t.Errorf("%s: remind_after %v, escalate_after %v, max_lead_time %v, escalation_approvers %v, end_with_incident %v; want %v, %v, %v, %v, %v",
				tt.role, r.RemindAfter, r.EscalateAfter, r.MaxLeadTime, r.EscalationApprovers, r.EndWithIncident,
				tt.remind, tt.escalate, tt.lead, tt.escalationApprovers, tt.endWithIncident)
		}
	}
}

// TestTimingBuiltInDefaults: without the keys, reminders and escalation
// are off, a window may start up to DefaultMaxLeadTime ahead, and a grant
// does not end with its incident.
func TestTimingBuiltInDefaults(t *testing.T) {
	c, err := rules.Parse("roles.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if rules.DefaultMaxLeadTime != 7*24*time.Hour || c.Defaults.MaxLeadTime != rules.DefaultMaxLeadTime {
		t.Errorf("DefaultMaxLeadTime %v, Defaults.MaxLeadTime %v; want 168h", rules.DefaultMaxLeadTime, c.Defaults.MaxLeadTime)
	}
	for r := range c.All() {
		if r.RemindAfter != 0 || r.EscalateAfter != 0 || r.EscalationApprovers != nil || r.MaxLeadTime != rules.DefaultMaxLeadTime || r.EndWithIncident {
			t.Errorf("%s: %v %v %v %v %v", r.Name, r.RemindAfter, r.EscalateAfter, r.EscalationApprovers, r.MaxLeadTime, r.EndWithIncident)
		}
	}
}
