package blockkit

import (
	"fmt"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// window says when a window asked for ahead runs, " from <start>"; "" for
// access asked for now.
func window(r *grants.Request) string {
	if r.Start.IsZero() {
		return ""
	}
	return " from " + date(r.Start)
}

// filedBy names who filed r for its requester, " (filed by <@U…>)"; "" when
// the requester asked themselves.
func filedBy(r *grants.Request) string {
	if r.FiledBy == nil {
		return ""
	}
	return " (filed by " + Mention(r.FiledBy.ID) + ")"
}

// Scheduled is the requester's DM when a window asked for ahead is
// approved: when it starts and ends, and how to call it off.
func Scheduled(r *grants.Request) []slack.Block {
	return markDryRun(r, []slack.Block{
		section(fmt.Sprintf(":calendar: Your request %s is approved. %s; access starts %s and ends %s.",
			label(r), approvedBy(r), date(r.Start), date(r.Start.Add(r.Duration)))),
		note(fmt.Sprintf("jitbot issues it at the start and DMs you then. `/jit revoke %s` cancels it before it starts.", Escape(string(r.ID)))),
	})
}

// FiledForYou is the grantee's DM when someone filed a request for them.
func FiledForYou(r *grants.Request) []slack.Block {
	return markDryRun(r, []slack.Block{
		section(fmt.Sprintf(":inbox_tray: %s asked for %s for you, as %s.%s", Mention(r.FiledBy.ID), what(r), reqID(r.ID), reasonLine(r))),
		note(fmt.Sprintf("Its approvers decide; you get a DM then, and the access is yours alone. `/jit revoke %s` cancels it.", Escape(string(r.ID)))),
	})
}

// Reminder heads the approval DM re-posted to an approver who has not
// answered within the role's remind_after.
func Reminder(r *grants.Request) []slack.Block {
	return append([]slack.Block{section(fmt.Sprintf(":bell: Reminder: %s still waits for a decision (%s so far).", reqID(r.ID), approvals(r)))},
		ApprovalRequest(r)...)
}

// Escalation heads the approval DM of an escalation approver: nobody of
// the role's approvers decided in time.
func Escalation(r *grants.Request) []slack.Block {
	return append([]slack.Block{section(fmt.Sprintf(":rotating_light: Escalated to you: nobody of %s's approvers decided %s in time, so its escalation approvers are asked too.", roleName(r.Role), reqID(r.ID)))},
		ApprovalRequest(r)...)
}

// Superseded is an approver's earlier copy once the approval DM was
// posted again below it: it keeps no buttons.
func Superseded(r *grants.Request) []slack.Block {
	return []slack.Block{section(fmt.Sprintf("%s %s: posted again below, with the buttons.", reqID(r.ID), what(r)))}
}

// noSelfApproval says who cannot approve r.
func noSelfApproval(r *grants.Request) string {
	if r.FiledBy != nil {
		return "neither the person it is for nor who filed it can approve it."
	}
	return "the requester cannot approve their own request."
}
