package blockkit

import (
	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// ApprovalRequest is the DM each approver gets for a pending request (docs/design.md
// §2.4): who asks, for what and why, the rule that made them eligible, the
// approvals so far and the deadline, with Approve and Deny buttons whose
// value is r.ID alone. While a request needs more approvals, re-render it
// with this to show the count; once it has moved on, use ApprovalOutcome.
func ApprovalRequest(r *grants.Request) []slack.Block {
	asks := requester(r) + " asks for " + what(r) + "." + reasonLine(r)
	if isThirdParty(r) {
		asks = thirdParty + ": a guest or someone from another organisation.\n" + asks
	}
	bs := []slack.Block{header(approvalTitle(r)), section(asks)}
	bs = append(bs, workloadBlocks(r)...)
	return markDryRun(r, append(bs,
		fields(details(r, true)...),
		actions(
			button("Approve", ActionApprove, string(r.ID), slack.StylePrimary),
			button("Deny", ActionDeny, string(r.ID), slack.StyleDanger),
		),
		note("Requested "+date(r.CreatedAt)+". One click decides; "+noSelfApproval(r)),
	))
}

// ApprovalOutcome is the approver's DM once the request has been decided
// or has moved on: approved (granted, failed, ended), denied with the
// reason, timed out or cancelled, and by whom. It has no buttons.
func ApprovalOutcome(r *grants.Request) []slack.Block {
	bs := []slack.Block{
		header(approvalTitle(r)),
		section(stateEmoji(r.State) + " " + outcome(r)),
		section(requester(r) + " asked for " + what(r) + "." + reasonLine(r)),
	}
	bs = append(bs, workloadBlocks(r)...)
	return markDryRun(r, append(bs, fields(details(r, false)...), note("Requested "+date(r.CreatedAt)+".")))
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
		return fallback(leadFor(r), name, " asks for ", inline(r.Role, 100), " for ", dur(r.Duration), " (", string(r.ID), ")")
	}
	return Text(r)
}

// ReviewRequest is the DM each owner of a role gets when a break-glass
// grant was issued without them: what was granted, to whom, why and under
// which rule, with Acknowledge and Revoke now buttons (value r.ID alone).
func ReviewRequest(r *grants.Request) []slack.Block {
	bs := []slack.Block{
		header("Review break-glass " + string(r.ID)),
		section(breakGlass + ": " + requester(r) + " was granted " + what(r) + " without approval, under the rule " +
			code(r.Rule, maxRuleShown) + "." + reasonLine(r)),
	}
	bs = append(bs, workloadBlocks(r)...)
	return markDryRun(r, append(bs,
		fields(details(r, false)...),
		actions(
			button("Acknowledge", ActionAcknowledge, string(r.ID), slack.StylePrimary),
			button("Revoke now", ActionRevoke, string(r.ID), slack.StyleDanger),
		),
		note("Please review by "+date(r.ReviewDue)+". Acknowledge if the access was right; Revoke now ends it at once."),
	))
}

// ReviewOutcome is the owner's review DM once someone reviewed the grant
// or ended it; it has no buttons.
func ReviewOutcome(r *grants.Request) []slack.Block {
	state := stateEmoji(r.State) + " " + outcome(r)
	if r.ReviewedBy != "" {
		state += "\n:eyes: Reviewed by " + Mention(r.ReviewedBy) + " " + date(r.ReviewedAt) + "."
	}
	bs := []slack.Block{
		header("Review break-glass " + string(r.ID)),
		section(state),
		section(requester(r) + " was granted " + what(r) + " without approval." + reasonLine(r)),
	}
	bs = append(bs, workloadBlocks(r)...)
	return markDryRun(r, append(bs, fields(details(r, false)...)))
}

// ReviewReminder is the DM that escalates a break-glass grant nobody
// reviewed in time.
func ReviewReminder(r *grants.Request) []slack.Block {
	return markDryRun(r, []slack.Block{
		section(":warning: Nobody has reviewed break-glass access " + reqID(r.ID) + " (" + requester(r) + ", " + what(r) +
			") yet. Please review it: the original message has the buttons."),
		actions(
			button("Acknowledge", ActionAcknowledge, string(r.ID), slack.StylePrimary),
			button("Revoke now", ActionRevoke, string(r.ID), slack.StyleDanger),
		),
	})
}
