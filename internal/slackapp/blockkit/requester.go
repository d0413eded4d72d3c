package blockkit

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// maxAsked is how many approvers the acknowledgement names one by one.
const maxAsked = 20

// Acknowledgement is the ephemeral answer to a new request or extension:
// its ID, who was asked (asked are the resolved approvers' user IDs) and
// until when, or, for break-glass, that access is being issued at once
// and that the role's owners will review it.
func Acknowledgement(r *grants.Request, asked []string) string {
	s := acknowledgement(r, asked)
	if r.DryRun {
		s = cut(dryRunNote+"\n"+s, MaxMessageText)
	}
	return s
}

func acknowledgement(r *grants.Request, asked []string) string {
	if r.AutoApproved {
		return breakGlassAck(r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, ":inbox_tray: Requested %s as %s.", what(r), reqID(r.ID))
	if r.FiledBy != nil {
		fmt.Fprintf(&b, " It is for %s, who alone gets the access.", Mention(r.Requester.ID))
	}
	if len(asked) == 0 {
		b.WriteString(" jitbot found nobody to ask, so please tell the role's owners.")
	} else {
		names := make([]string, 0, min(len(asked), maxAsked+1))
		for _, u := range asked[:min(len(asked), maxAsked)] {
			names = append(names, Mention(u))
		}
		if len(asked) > maxAsked {
			names = append(names, plural(len(asked)-maxAsked, "other"))
		}
		fmt.Fprintf(&b, " Asked %s", andList(names))
		if n := required(r); n > 1 {
			fmt.Fprintf(&b, "; %d of them must approve", n)
		}
		b.WriteString(".")
	}
	if r.Start.IsZero() {
		fmt.Fprintf(&b, "\nIf nobody decides by %s, it times out. You get a DM once it is decided; `/jit revoke %s` cancels it.",
			date(r.Deadline), Escape(string(r.ID)))
	} else {
		fmt.Fprintf(&b, "\nUnless approved before it starts, %s, it is cancelled. Approved, it is issued at the start; `/jit revoke %s` cancels it until then.",
			date(r.Start), Escape(string(r.ID)))
	}
	if r.Notice != "" {
		b.WriteString("\n:information_source: " + inline(r.Notice, MaxSectionText))
	}
	return cut(b.String(), MaxMessageText)
}

func breakGlassAck(r *grants.Request) string {
	s := fmt.Sprintf("%s %s: %s is issued at once, without waiting for approval, under the rule %s. "+
		"The role's owners will review it, and the audit channel shows every step.",
		breakGlass, reqID(r.ID), what(r), code(r.Rule, maxRuleShown))
	switch {
	case r.State == grants.Active:
		s += "\nYour access is active until " + date(r.ExpiresAt) + "; "
		if r.Backend == grants.BackendSTS && !r.DryRun {
			s += "the credentials are in your DM from jitbot."
		} else {
			s += "the details are in your DM from jitbot."
		}
	case r.Failure != "":
		s += "\n:x: It could not be issued: " + inline(r.Failure, maxErrorShown)
	}
	return cut(s, MaxMessageText)
}

// Granted is the requester's DM once access is issued. For aws_sts it
// carries the credentials c as shell lines; this is the only rendering in
// jitbot that ever shows a secret. For aws_iam_group it names the group
// and the IAM user. c may be nil for groups.
func Granted(r *grants.Request, c *grants.Credentials) []slack.Block {
	if r.DryRun {
		return grantedDryRun(r)
	}
	var bs []slack.Block
	if r.AutoApproved {
		bs = append(bs, section(breakGlass+": granted without approval under the rule "+code(r.Rule, maxRuleShown)+". The role's owners will review it."))
	}
	lead := fmt.Sprintf(":white_check_mark: Your access to %s (%s) is active until %s.", roleName(r.Role), reqID(r.ID), date(r.ExpiresAt))
	if r.Extends != "" {
		lead += " It extends " + reqID(r.Extends) + "."
	}
	if r.Backend == grants.BackendGroup {
		bs = append(bs, section(fmt.Sprintf("%s\nYour IAM user %s is in the IAM group %s; jitbot takes it out again at %s.",
			lead, code(r.Principal, 200), code(r.Target, 200), date(r.ExpiresAt))))
		bs = append(bs, fields(field("Request", reqID(r.ID)), field("Expires", date(r.ExpiresAt))))
	} else {
		bs = append(bs, section(lead+"\nPaste these lines into your shell:"))
		if c != nil {
			bs = append(bs, exports(c)...)
		} else {
			bs = append(bs, section(":warning: The credentials are not in this message. jitbot never keeps them, so they cannot be shown again; request access again if you lost them."))
		}
		expires := r.CredsExpire
		if c != nil && !c.Expiration.IsZero() {
			expires = c.Expiration
		}
		bs = append(bs, fields(
			field("Request", reqID(r.ID)),
			field("Access ends", date(r.ExpiresAt)),
			field("Credentials expire", date(expires)),
			field("Session name", code(r.SessionName, 100)),
			field("Role", code(r.Target, 300)),
		))
	}
	bs = append(bs, actions(endNow(r)))
	bs = append(bs, note(fmt.Sprintf("Keep the credentials to yourself: never paste them into a channel, ticket or log. "+
		"`/jit revoke %[1]s` ends the access early; `/jit extend %[1]s 30m` asks for more time.", Escape(string(r.ID)))))
	return bs
}

// exports renders the credentials as export lines in a code block. A
// session token too long for one section (Slack's 3,000 characters) is
// split over several, with a note, rather than cut: cut credentials are
// useless.
func exports(c *grants.Credentials) []slack.Block {
	lines := []string{
		"export AWS_ACCESS_KEY_ID=" + Escape(c.AccessKeyID),
		"export AWS_SECRET_ACCESS_KEY=" + Escape(c.SecretAccessKey),
		"export AWS_SESSION_TOKEN=" + Escape(c.SessionToken),
	}
	const fence = "```"
	all := fence + "\n" + strings.Join(lines, "\n") + "\n" + fence
	if utf8.RuneCountInString(all) <= MaxSectionText {
		return []slack.Block{rawSection(all)}
	}
	var bs []slack.Block
	room := MaxSectionText - 2*len(fence) - 2
	for _, l := range lines {
		for _, part := range chunks(l, room) {
			bs = append(bs, rawSection(fence+"\n"+part+"\n"+fence))
		}
	}
	return append(bs, note("The session token is too long for one Slack block, so it is split over several: join the parts without line breaks."))
}

// rawSection is a section whose text must not be cut; the caller makes
// sure it fits.
func rawSection(s string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, s, false, true), nil, nil)
}

// chunks splits s into pieces of at most n characters. Credentials hold
// no entities or <…> sequences, so any boundary is safe.
func chunks(s string, n int) []string {
	var out []string
	count, start := 0, 0
	for i := range s {
		if count == n {
			out = append(out, s[start:i])
			start, count = i, 0
		}
		count++
	}
	return append(out, s[start:])
}

// Denied is the requester's DM when their request is denied: by whom, and
// the reason if one was given.
func Denied(r *grants.Request) []slack.Block {
	return markDryRun(r, []slack.Block{
		section(fmt.Sprintf(":no_entry: Your request %s was not approved.\n%s", label(r), deniedBy(r))),
		note("Ask the approver if anything is unclear; a new `/jit request` starts over."),
	})
}

// TimedOut is the requester's DM when nobody decided in time.
func TimedOut(r *grants.Request) []slack.Block {
	return markDryRun(r, []slack.Block{
		section(fmt.Sprintf(":hourglass: Nobody decided on your request %s by %s, so it timed out.", label(r), date(r.Deadline))),
		note("Reach the role's owners directly, then ask again with `/jit request`."),
	})
}

// Cancelled is the requester's DM when their request was withdrawn.
func Cancelled(r *grants.Request) []slack.Block {
	by := "You cancelled"
	if r.DecidedBy != "" && r.DecidedBy != r.Requester.ID {
		by = Mention(r.DecidedBy) + " cancelled"
	}
	return markDryRun(r, []slack.Block{
		section(fmt.Sprintf(":leftwards_arrow_with_hook: %s your request %s. Nothing was granted.", by, label(r))),
	})
}

// GrantFailed is the requester's DM when access was approved but could not
// be issued; r.Failure says why.
func GrantFailed(r *grants.Request) []slack.Block {
	return markDryRun(r, []slack.Block{
		section(fmt.Sprintf(":x: Your request %s was approved, but access could not be issued:\n%s",
			label(r), quote(r.Failure, maxErrorShown))),
		note("Anything half done is removed again. The audit channel has the details; the role's owners can fix the catalog or the AWS side."),
	})
}

// Revoked is the requester's DM when access has ended: it expired, or
// someone revoked it (with their reason).
func Revoked(r *grants.Request) []slack.Block {
	var s string
	switch {
	case r.RevokeReason == grants.ReasonExpired:
		s = fmt.Sprintf(":lock: Your access to %s (%s) has ended: its time was up at %s.", roleName(r.Role), reqID(r.ID), date(r.ExpiresAt))
	case r.RevokedBy == r.Requester.ID:
		s = fmt.Sprintf(":lock: You gave up your access to %s (%s). Thank you for not keeping it longer than needed.", roleName(r.Role), reqID(r.ID))
	default:
		s = fmt.Sprintf(":lock: Your access to %s (%s) has ended early: %s.", roleName(r.Role), reqID(r.ID), revokeWhy(r))
	}
	gone := "The credentials no longer work."
	switch r.Backend {
	case grants.BackendGroup:
		gone = "Your IAM user " + code(r.Principal, 200) + " is out of the group " + code(r.Target, 200) + "."
	case grants.BackendSSO, grants.BackendSSOGroup:
		gone = "jitbot has removed the " + ssoAccess(r) + "."
	}
	if r.DryRun {
		bs := []slack.Block{section(s)}
		if c := calls("What jitbot would have sent to AWS to end it:", r.DryRunRevoke); c != "" {
			bs = append(bs, section(c))
		}
		return markDryRun(r, bs)
	}
	return []slack.Block{section(s + "\n" + gone)}
}

// Expiring is the requester's DM shortly before a grant ends, with an
// Extend button (value r.ID).
func Expiring(r *grants.Request, now time.Time) []slack.Block {
	when := "ends in " + timeLeft(r.ExpiresAt.Sub(now))
	if !r.ExpiresAt.After(now) {
		when = "ends now"
	}
	return markDryRun(r, []slack.Block{
		section(fmt.Sprintf(":alarm_clock: Your access to %s (%s) %s, at %s.",
			roleName(r.Role), reqID(r.ID), when, date(r.ExpiresAt))),
		actions(button("Extend", ActionExtend, string(r.ID), slack.StylePrimary)),
		note("An extension is approved like a new request. Done already? `/jit revoke " + Escape(string(r.ID)) + "` ends it now."),
	})
}

// endNow is the requester's button to give access back early.
func endNow(r *grants.Request) *slack.ButtonBlockElement {
	b := button("End access now", ActionRevoke, string(r.ID), slack.StyleDanger)
	b.Confirm = confirm("End access now?", "Your access to "+r.Role+" ends at once.", "End it")
	return b
}
