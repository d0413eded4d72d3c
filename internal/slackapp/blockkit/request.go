package blockkit

import (
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Pieces of text that describe a request, shared by the approver DM, the
// requester DMs, the lists and the audit channel, so that a request reads
// the same everywhere.

// who names a person: mention, display name and email.
func who(u rules.User) string {
	var extra []string
	for _, s := range []string{inline(u.Name, maxNameShown), inline(u.Email, maxEmailShown)} {
		if s != "" {
			extra = append(extra, s)
		}
	}
	s := Mention(u.ID)
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// roleName shows a role name in bold. Catalog names are plain, but a
// record may outlive its catalog, so it is escaped like any text.
func roleName(name string) string { return "*" + inline(name, 100) + "*" }

// what says what is asked for: "*prod-admin* for *1h*", or for an
// extension "*prod-admin* (extension of `JIT-…`: *30m* more)".
func what(r *grants.Request) string {
	if r.Extends != "" {
		return fmt.Sprintf("%s (%s)", roleName(r.Role), extensionOf(r))
	}
	return fmt.Sprintf("%s for *%s*", roleName(r.Role), dur(r.Duration)) + window(r)
}

func extensionOf(r *grants.Request) string {
	return fmt.Sprintf("extension of %s: *%s* more", reqID(r.Extends), dur(r.Duration))
}

// label names a request in the requester's own messages:
// "`JIT-…` (*prod-admin*, *1h*)".
func label(r *grants.Request) string {
	if r.Extends != "" {
		return fmt.Sprintf("%s (%s, %s)", reqID(r.ID), roleName(r.Role), extensionOf(r))
	}
	return fmt.Sprintf("%s (%s, *%s*%s)", reqID(r.ID), roleName(r.Role), dur(r.Duration), window(r))
}

// required is how many approvals r needs; records always say, but a
// request never needs fewer than one.
func required(r *grants.Request) int { return max(r.ApprovalsRequired, 1) }

func approverMentions(r *grants.Request) []string {
	out := make([]string, 0, len(r.Approvals))
	for _, a := range r.Approvals {
		out = append(out, Mention(a.Approver))
	}
	return out
}

// approvals shows the count so far, "1 of 2", and who gave them; for a
// request with steps, where it stands (see stepApprovals).
func approvals(r *grants.Request) string {
	if len(r.Steps) > 0 {
		return stepApprovals(r)
	}
	s := fmt.Sprintf("%d of %d", len(r.Approvals), required(r))
	if len(r.Approvals) > 0 {
		s += ": " + andList(approverMentions(r))
	}
	return s
}

// approvedBy says how r came to be approved.
func approvedBy(r *grants.Request) string {
	switch {
	case r.AutoApproved:
		return "Approved automatically (break-glass)"
	case len(r.Approvals) > 0:
		return "Approved by " + andList(approverMentions(r))
	}
	return "Approved"
}

// access names what r grants in AWS.
func access(r *grants.Request) string {
	switch r.Backend {
	case grants.BackendGroup:
		s := "IAM group " + code(r.Target, 200)
		if r.Principal != "" {
			s += " for IAM user " + code(r.Principal, 200)
		}
		return s
	case grants.BackendSTS:
		return "role " + code(r.Target, 300)
	case grants.BackendSSO, grants.BackendSSOGroup:
		return ssoAccess(r)
	}
	return code(r.Backend, 50) + " " + code(r.Target, 300)
}

// stateBadge is the emoji and word of a state, as the audit channel shows
// it at a glance.
func stateBadge(s grants.State) string {
	word := strings.ToUpper(strings.ReplaceAll(string(s), "_", " "))
	return stateEmoji(s) + " *" + inline(word, 30) + "*"
}

func stateEmoji(s grants.State) string {
	emoji := ":grey_question:"
	switch s {
	case grants.Pending:
		emoji = ":hourglass_flowing_sand:"
	case grants.Scheduled:
		emoji = ":calendar:"
	case grants.Granting:
		emoji = ":gear:"
	case grants.Active:
		emoji = ":white_check_mark:"
	case grants.Revoking:
		emoji = ":arrows_counterclockwise:"
	case grants.Revoked:
		emoji = ":lock:"
	case grants.Denied:
		emoji = ":no_entry:"
	case grants.Cancelled:
		emoji = ":leftwards_arrow_with_hook:"
	case grants.TimedOut:
		emoji = ":hourglass:"
	case grants.Failed:
		emoji = ":x:"
	}
	return emoji
}

// breakGlass is the marker of access issued without human approval. It is
// meant to be impossible to miss.
const breakGlass = ":rotating_light: *BREAK-GLASS*"

// thirdParty marks requests of guests and Slack Connect users.
const thirdParty = ":busts_in_silhouette: *THIRD-PARTY*"

func isThirdParty(r *grants.Request) bool { return r.Requester.IsGuest || r.Requester.IsExternal }

// outcome says where r stands now, in one or two sentences.
func outcome(r *grants.Request) string {
	switch r.State {
	case grants.Pending:
		if !r.Start.IsZero() {
			return "Waiting for approval: " + approvals(r) + ". Unless approved before it starts, " + date(r.Start) + ", it is cancelled."
		}
		return "Waiting for approval: " + approvals(r) + ". Times out " + date(r.Deadline) + "."
	case grants.Scheduled:
		return approvedBy(r) + "; access starts " + date(r.Start) + " and ends " + date(r.Start.Add(r.Duration)) + "."
	case grants.Granting:
		return approvedBy(r) + "; access is being issued."
	case grants.Active:
		return approvedBy(r) + "; access granted until " + date(r.ExpiresAt) + "."
	case grants.Revoking:
		s := approvedBy(r) + "; access is being removed (" + revokeWhy(r) + ")."
		if r.Attempts > 0 {
			s += fmt.Sprintf("\n:warning: Removing it failed %s so far; jitbot keeps trying. Last error: %s",
				plural(r.Attempts, "time"), inline(r.LastError, maxErrorShown))
		}
		return s
	case grants.Revoked:
		return approvedBy(r) + "; access ended " + date(r.RevokedAt) + " (" + revokeWhy(r) + ")."
	case grants.Denied:
		return deniedBy(r)
	case grants.Cancelled:
		if r.DecidedBy == "" || r.DecidedBy == r.Requester.ID {
			return "Cancelled by the requester."
		}
		return "Cancelled by " + Mention(r.DecidedBy) + "."
	case grants.TimedOut:
		if !r.Start.IsZero() {
			return "Cancelled: nobody approved it before its window started, " + date(r.Start) + "."
		}
		return "Timed out: nobody decided by " + date(r.Deadline) + "."
	case grants.Failed:
		return approvedBy(r) + ", but access could not be issued: " + inline(r.Failure, maxErrorShown)
	}
	return "State: " + inline(string(r.State), 30) + "."
}

// deniedBy says who denied r and why. A denial without a person was made
// by jitbot itself, e.g. when the requester stopped being eligible.
func deniedBy(r *grants.Request) string {
	s := "Denied"
	if r.DecidedBy != "" {
		s += " by " + Mention(r.DecidedBy)
	} else {
		s += " by jitbot"
	}
	if r.DenyReason == "" {
		return s + "."
	}
	return s + ":\n" + quote(r.DenyReason, maxReasonShown)
}

// defaultRevokeReasons are the reasons the domain writes when nobody gave
// one; they only repeat who did it, so they are not shown again.
var defaultRevokeReasons = map[string]bool{
	"revoked by the requester": true,
	"revoked by an approver":   true,
	"revoked by who filed it":  true,
}

// revokeWhy says why access ended: it expired, or who revoked it and why.
func revokeWhy(r *grants.Request) string {
	switch {
	case r.RevokeReason == grants.ReasonExpired:
		return "expired"
	case r.RevokedBy == "":
		if r.RevokeReason == "" {
			return "revoked"
		}
		return inline(r.RevokeReason, maxReasonShown)
	}
	s := "revoked by " + Mention(r.RevokedBy)
	if r.RevokedBy == r.Requester.ID {
		s = "given up by " + Mention(r.RevokedBy)
	}
	if r.RevokeReason != "" && !defaultRevokeReasons[r.RevokeReason] {
		s += ": " + inline(r.RevokeReason, maxReasonShown)
	}
	return s
}

// details are the facts an approver or auditor checks, as section fields.
func details(r *grants.Request, withDeadline bool) []string {
	fs := []string{field("Request", reqID(r.ID))}
	if r.AutoApproved {
		fs = append(fs, field("Approvals", breakGlass+", none needed"))
	} else {
		fs = append(fs, field("Approvals", approvals(r)))
	}
	if r.FiledBy != nil {
		fs = append(fs, field("Filed by", who(*r.FiledBy)))
	}
	if r.Incident != "" {
		fs = append(fs, field("Incident", inline(r.Incident, 200)))
	}
	if !r.Start.IsZero() {
		fs = append(fs, field("Window", date(r.Start)+" to "+date(r.Start.Add(r.Duration))))
	}
	if withDeadline && r.State == grants.Pending {
		fs = append(fs, field("Decide by", date(r.Deadline)))
	}
	rule := "Eligible under"
	if r.AutoApproved {
		rule = "Break-glass rule"
	}
	fs = append(fs, field(rule, code(r.Rule, maxRuleShown)), field("Access", access(r)))
	return fs
}

// reasonLine is the requester's reason as a quote under its heading.
func reasonLine(r *grants.Request) string {
	if strings.TrimSpace(r.Reason) == "" {
		return ""
	}
	return "\n" + quote(r.Reason, maxReasonShown)
}

// fallback is notification text: short, one line, escaped like any
// mrkdwn, within MaxFallbackText.
func fallback(parts ...string) string {
	return cut(strings.Join(parts, ""), MaxFallbackText)
}

// Text is the fallback (notification) text for any message about r that
// has no helper of its own: its ID, role, requester and current state.
func Text(r *grants.Request) string {
	return fallback(leadFor(r), string(r.ID), ": ", inline(r.Role, 100), " for ", inline(requesterName(r), maxNameShown),
		", ", strings.ReplaceAll(string(r.State), "_", " "))
}

func requesterName(r *grants.Request) string {
	name := r.Requester.Name
	if name == "" {
		name = r.Requester.ID
	}
	if r.FiledBy != nil {
		by := r.FiledBy.Name
		if by == "" {
			by = r.FiledBy.ID
		}
		name += " (filed by " + by + ")"
	}
	return name
}
