package rules

import (
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// The keys about time around a grant rather than its length: reminders
// and escalation while a request waits for a decision, how far ahead a
// scheduled window may start, and whether a grant ends with its incident.

// timingKeys are those of them that the defaults section may set too.
var timingKeys = []string{"remind_after", "escalate_after", "escalation_approvers", "max_lead_time"}

// timingDefault reads key of the defaults section into d; false when key
// is not one of timingKeys.
func (l *loader) timingDefault(d *Defaults, key string, kv *ast.MappingValueNode) bool {
	switch key {
	case "remind_after":
		l.timingDuration(kv, "defaults", true, &d.RemindAfter)
	case "escalate_after":
		l.timingDuration(kv, "defaults", true, &d.EscalateAfter)
	case "escalation_approvers":
		d.EscalationApprovers = l.list(kv, "defaults")
	case "max_lead_time":
		l.timingDuration(kv, "defaults", false, &d.MaxLeadTime)
	default:
		return false
	}
	return true
}

// timingSetting reads key, one of timingKeys or end_with_incident, into
// role r.
func (l *loader) timingSetting(r *Role, key string, kv *ast.MappingValueNode) {
	who := "role " + r.Name
	switch key {
	case "remind_after":
		l.timingDuration(kv, who, true, &r.RemindAfter)
	case "escalate_after":
		l.timingDuration(kv, who, true, &r.EscalateAfter)
	case "escalation_approvers":
		r.EscalationApprovers = l.list(kv, who)
	case "max_lead_time":
		l.timingDuration(kv, who, false, &r.MaxLeadTime)
	case "end_with_incident":
		r.EndWithIncident = l.boolean(kv, r.Name)
	}
}

// timingDuration reads the duration of kv, a key of who (a role or the
// defaults), into d. off says whether 0 is allowed, turning off what the
// key times; a negative duration never is.
func (l *loader) timingDuration(kv *ast.MappingValueNode, who string, off bool, d *time.Duration) {
	v, err := ParseDuration(durationText(unwrap(kv.Value)))
	hint := "e.g. 15m, 1h30m, 1d"
	if off {
		hint += ", or 0 for off"
	} else if err == nil && v == 0 {
		err = errPositive
	}
	if err != nil {
		l.addf(kv.Value, "%s: %s: %q is not a duration (use %s): %v", who, keyOf(kv), strings.TrimSpace(kv.Value.String()), hint, err)
		return
	}
	*d = v
}

// checkDefaultTiming checks the timing keys of the defaults section
// against each other; at is the section, for a problem about a key it
// lacks.
func (l *loader) checkDefaultTiming(d *Defaults, at ast.Node, keys map[string]*ast.MappingValueNode) {
	node := func(key string) ast.Node {
		if kv := keys[key]; kv != nil {
			return kv.Value
		}
		return at
	}
	l.checkEscalation("defaults", d.RemindAfter, d.EscalateAfter, d.EscalationApprovers, node)
	if keys["escalation_approvers"] != nil {
		l.checkApproverEntries("defaults", "escalation_approvers", d.EscalationApprovers, node("escalation_approvers"))
	}
}

// checkTiming checks a role's timing keys once its own values have
// replaced the defaults. What it takes from the defaults alone was
// checked there, so that a mistake there is not reported again for every
// role.
func (l *loader) checkTiming(r *Role, keys map[string]*ast.MappingValueNode, node func(string) ast.Node) {
	own := func(key string) bool { return keys[key] != nil }
	// escalate_after: 0 turns off the escalation the role would inherit,
	// its approvers with it.
	if own("escalate_after") && r.EscalateAfter == 0 && !own("escalation_approvers") {
		r.EscalationApprovers = nil
	}
	who := "role " + r.Name
	if own("remind_after") || own("escalate_after") || own("escalation_approvers") {
		l.checkEscalation(who, r.RemindAfter, r.EscalateAfter, r.EscalationApprovers, node)
	}
	if own("escalation_approvers") {
		l.checkApproverEntries(who, "escalation_approvers", r.EscalationApprovers, node("escalation_approvers"))
	}
}

// checkEscalation checks the reminder and escalation of who (a role or
// the defaults): escalation needs both its delay and its approvers, and
// the reminder must come before it. node finds where a key is.
func (l *loader) checkEscalation(who string, remind, escalate time.Duration, approvers []string, node func(string) ast.Node) {
	switch {
	case escalate > 0 && len(approvers) == 0:
		l.addf(node("escalate_after"), "%s: escalate_after needs escalation_approvers: who is asked when nobody has decided within %s", who, FormatDuration(escalate))
	case escalate == 0 && len(approvers) > 0:
		l.addf(node("escalation_approvers"), "%s: escalation_approvers needs escalate_after: how long a request waits before they are asked", who)
	}
	if remind > 0 && escalate > 0 && remind >= escalate {
		l.addf(node("remind_after"), "%s: remind_after %s must be shorter than escalate_after %s: the approvers are reminded before others are asked",
			who, FormatDuration(remind), FormatDuration(escalate))
	}
}
