package slackmsg

import (
	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// ApprovalRequest is the DM each approver gets for a pending request (DESIGN
// §2.4): who asks, for what and why, the rule that made them eligible, the
// approvals so far and the deadline, with Approve and Deny buttons whose
// value is r.ID alone. While a request needs more approvals, re-render it
// with this to show the count; once it has moved on, use ApprovalOutcome.
func ApprovalRequest(r *grants.Request) []slack.Block {
	return []slack.Block{
		header(approvalTitle(r)),
		section(who(r.Requester) + " asks for " + what(r) + "." + reasonLine(r)),
		fields(details(r, true)...),
		actions(
			button("Approve", ActionApprove, string(r.ID), slack.StylePrimary),
			button("Deny", ActionDeny, string(r.ID), slack.StyleDanger),
		),
		note("Requested " + date(r.CreatedAt) + ". One click decides; the requester cannot approve their own request."),
	}
}

// ApprovalOutcome is the approver's DM once the request has been decided
// or has moved on: approved (granted, failed, ended), denied with the
// reason, timed out or cancelled, and by whom. It has no buttons.
func ApprovalOutcome(r *grants.Request) []slack.Block {
	return []slack.Block{
		header(approvalTitle(r)),
		section(stateEmoji(r.State) + " " + outcome(r)),
		section(who(r.Requester) + " asked for " + what(r) + "." + reasonLine(r)),
		fields(details(r, false)...),
		note("Requested " + date(r.CreatedAt) + "."),
	}
}

func approvalTitle(r *grants.Request) string {
	if r.Extends != "" {
		return "Extension request " + string(r.ID)
	}
	return "Access request " + string(r.ID)
}

// ApprovalText is the fallback text of the approver DM, in both of its
// forms.
func ApprovalText(r *grants.Request) string {
	name := inline(requesterName(r), maxNameShown)
	if r.State == grants.Pending {
		return fallback(name, " asks for ", inline(r.Role, 100), " for ", dur(r.Duration), " (", string(r.ID), ")")
	}
	return Text(r)
}
