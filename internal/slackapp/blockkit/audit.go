package blockkit

import (
	"fmt"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// AuditParent is the audit channel's one message per request, re-rendered
// on every event so that it always shows the current state (docs/design.md §2.4):
// state, ID, requester, role, duration, reason, incident, approvals and
// expiry. Break-glass requests carry a loud marker. Credentials are never
// shown; the STS access key ID, which is not a secret, is, so CloudTrail
// can be matched.
func AuditParent(r *grants.Request) (text string, blocks []slack.Block) {
	var lead string
	if isThirdParty(r) {
		lead = thirdParty + " "
		blocks = append(blocks, section(thirdParty+": the requester is a guest or from another organisation."))
	}
	if r.DryRun {
		lead += leadFor(r)
		blocks = append(blocks, section(dryRunNote))
	}
	if r.AutoApproved {
		lead += breakGlass + " "
		blocks = append(blocks, section(breakGlass+": access without human approval, under the rule "+
			code(r.Rule, maxRuleShown)+". The role's owners must review it."))
	}
	blocks = append(blocks, section(auditBadge(r)+" "+reqID(r.ID)+" "+requester(r)+" → "+what(r)+reasonLine(r)))
	blocks = append(blocks, workloadBlocks(r)...)
	blocks = append(blocks,
		fields(auditFacts(r)...),
		note(outcome(r)),
	)
	text = fallback(lead, auditBadge(r), " ", reqID(r.ID), " ", requesterMention(r), " → ", what(r))
	return text, blocks
}

// auditBadge is the parent's state badge. A revocation that has failed
// says it is being retried, and how often it failed, right in the badge:
// an auditor scanning the channel must not take it for a grant that ends
// normally.
func auditBadge(r *grants.Request) string {
	if r.State == grants.Revoking && r.Attempts > 0 {
		return fmt.Sprintf("%s *REVOKING — RETRYING* (%s failed)", stateEmoji(r.State), plural(r.Attempts, "attempt"))
	}
	return stateBadge(r.State)
}

// auditFacts are the fields of the audit parent: the approval details
// plus what the grant was in AWS.
func auditFacts(r *grants.Request) []string {
	fs := details(r, true)
	if !r.ExpiresAt.IsZero() {
		label := "Expires"
		if r.State.Terminal() {
			label = "Was to expire"
		}
		fs = append(fs, field(label, date(r.ExpiresAt)))
	}
	if !r.RevokedAt.IsZero() {
		fs = append(fs, field("Ended", date(r.RevokedAt)))
	}
	if r.SessionName != "" {
		fs = append(fs, field("Session", code(r.SessionName, 100)))
	}
	if r.AccessKeyID != "" {
		fs = append(fs, field("Access key ID", code(r.AccessKeyID, 40)))
	}
	if r.AutoApproved {
		review := "pending"
		if r.ReviewedBy != "" {
			review = Mention(r.ReviewedBy) + ", " + date(r.ReviewedAt)
		}
		fs = append(fs, field("Owner review", review))
	}
	return fs
}

// AuditEvent is the audit thread's reply for one event, in mrkdwn. Every
// event type has its own line; events of break-glass requests and alerts
// name the request, since the audit channel may show them outside the
// thread. e.Credentials is never read.
func AuditEvent(e grants.Event) string {
	r := &e.Request
	line, ok := eventLine(e)
	if !ok {
		line = "event " + code(string(e.Type), 40) + " (jitbot has no wording for it yet)"
	}
	switch {
	case r.AutoApproved:
		line = breakGlass + " " + reqID(r.ID) + " · " + line
	case alert(e.Type):
		line = line + " · " + reqID(r.ID)
	}
	if !r.DryRun {
		return cut(line, MaxFallbackText)
	}
	var c string
	switch e.Type {
	case grants.EventGranted:
		c = calls("jitbot would have sent to AWS:", r.DryRunGrant)
	case grants.EventRevoked:
		c = calls("jitbot would have sent to AWS:", r.DryRunRevoke)
	}
	line = cut(dryRun+" · "+line, MaxFallbackText-len(c)-1)
	if c != "" {
		line += "\n" + c
	}
	return line
}

// alert events need someone to look, even without opening the thread.
func alert(t grants.EventType) bool {
	switch t {
	case grants.EventGrantFailed, grants.EventRevokeFailed, grants.EventRefused, grants.EventTampered:
		return true
	}
	return false
}

// eventLine words one event; ok is false for a type it does not know, so
// a new event type cannot pass the tests unnoticed.
func eventLine(e grants.Event) (line string, ok bool) {
	r := &e.Request
	switch e.Type {
	case grants.EventRequested:
		s := fmt.Sprintf("%s requested %s", requesterMention(r), what(r))
		if r.FiledBy != nil {
			s = fmt.Sprintf("%s requested %s for %s", Mention(r.FiledBy.ID), what(r), Mention(r.Requester.ID))
		}
		if r.Incident != "" {
			s += " (incident " + inline(r.Incident, 200) + ")"
		}
		if !r.AutoApproved {
			s += fmt.Sprintf("; %s needed", plural(required(r), "approval"))
		}
		return s + reasonLine(r), true
	case grants.EventApproved:
		s := fmt.Sprintf(":heavy_check_mark: %s approved (%d of %d)", Mention(e.Actor), len(r.Approvals), required(r))
		if r.State == grants.Scheduled {
			s += "; scheduled to start " + date(r.Start)
		}
		return s, true
	case grants.EventReminded:
		return ":bell: nobody has decided yet; the approvers who have not answered were reminded", true
	case grants.EventEscalated:
		return ":rotating_light: nobody decided in time; escalated to the role's escalation approvers, who may now decide it too", true
	case grants.EventDenied:
		return ":no_entry: " + deniedBy(r), true
	case grants.EventCancelled:
		return ":leftwards_arrow_with_hook: " + Mention(actorOr(e.Actor, r.DecidedBy)) + " cancelled the request", true
	case grants.EventAutoApproved:
		return "approved automatically, without a human, under the rule " + code(r.Rule, maxRuleShown) +
			"; the role's owners must review it", true
	case grants.EventGranted:
		s := ":white_check_mark: granted until " + date(r.ExpiresAt) + ": " + access(r)
		if r.SessionName != "" {
			s += ", session " + code(r.SessionName, 100)
		}
		if r.AccessKeyID != "" {
			s += ", access key ID " + code(r.AccessKeyID, 40)
		}
		return s, true
	case grants.EventGrantFailed:
		return ":x: grant failed: " + inline(errOr(e.Err, r.Failure), maxErrorShown) + "; anything half done is being removed", true
	case grants.EventRevoked:
		return ":lock: access ended (" + revokeWhy(r) + ")", true
	case grants.EventRevokeFailed:
		return fmt.Sprintf(":warning: revoke failed %s, still retrying: %s", plural(r.Attempts, "time"),
			inline(errOr(e.Err, r.LastError), maxErrorShown)), true
	case grants.EventRevokeRetrying:
		return fmt.Sprintf(":arrows_counterclockwise: revoking: attempt %d failed, retrying: %s", r.Attempts,
			inline(errOr(e.Err, r.LastError), maxErrorShown)), true
	case grants.EventTampered:
		return ":rotating_light: this record was changed outside jitbot (it failed its integrity check): nothing was granted from it, and whatever it held is being revoked. Find out who can write to jitbot's Redis", true
	case grants.EventTimedOut:
		return ":hourglass: timed out: nobody decided by " + date(r.Deadline), true
	case grants.EventRefused:
		return ":no_entry_sign: refused: " + Mention(e.Actor) + " tried to act on it and may not: " + inline(e.Err, maxErrorShown), true
	case grants.EventReconciled:
		return ":mag: reconciliation of " + roleName(r.Role) + ": " + inline(e.Err, maxErrorShown), true
	case grants.EventGroupChanged:
		return ":busts_in_silhouette: user group change: " + inline(e.Err, maxErrorShown), true
	case grants.EventUsage:
		return ":bar_chart: usage from CloudTrail: " + inline(e.Err, maxErrorShown), true
	case grants.EventReviewed:
		return ":eyes: reviewed by " + Mention(e.Actor) + "; break-glass access acknowledged", true
	case grants.EventReviewOverdue:
		return ":warning: nobody has reviewed this break-glass access in time; the owners were reminded", true
	case grants.EventExpiring:
		s := ":alarm_clock: ends at " + date(r.ExpiresAt)
		if !e.At.IsZero() {
			s += ", in " + timeLeft(r.ExpiresAt.Sub(e.At))
		}
		return s + "; " + requesterMention(r) + " was offered an extension", true
	}
	return "", false
}

func actorOr(actor, fallback string) string {
	if actor != "" {
		return actor
	}
	return fallback
}

func errOr(err, fallback string) string {
	if err != "" {
		return err
	}
	if fallback != "" {
		return fallback
	}
	return "no error text"
}
