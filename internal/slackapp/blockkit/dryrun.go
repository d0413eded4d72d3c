package blockkit

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// A dry run (JIT_DRY_RUN) goes through the whole approval flow in the real
// workspace while AWS is never called. Every message about a dry-run
// request carries this mark, so nobody takes it for real access.
const (
	dryRun     = ":test_tube: *DRY RUN*"
	dryRunNote = dryRun + " — nothing was changed in AWS."
	// dryRunLead starts the notification text of a dry run's messages.
	dryRunLead = "DRY RUN · "
	// maxCallsShown bounds the AWS calls shown in one message.
	maxCallsShown = 2000
)

// markDryRun puts the dry-run mark on top of the blocks of a message
// about r, when r is a dry run.
func markDryRun(r *grants.Request, bs []slack.Block) []slack.Block {
	if !r.DryRun {
		return bs
	}
	return append([]slack.Block{section(dryRunNote)}, bs...)
}

// leadFor is the start of notification text about r.
func leadFor(r *grants.Request) string {
	if r.DryRun {
		return dryRunLead
	}
	return ""
}

// calls shows the AWS calls a dry run would have made as a code block,
// one a line, under title; "" when there are none.
func calls(title string, lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	body := strings.ReplaceAll(Escape(strings.Join(lines, "\n")), "```", "`\u200b``")
	return title + "\n```\n" + cut(body, maxCallsShown) + "\n```"
}

// grantedDryRun is the requester's DM once a dry run is "granted": what
// would now be in force, the calls jitbot would have made, and no
// credentials, since none were issued.
func grantedDryRun(r *grants.Request) []slack.Block {
	bs := []slack.Block{section(dryRunNote)}
	if r.AutoApproved {
		bs = append(bs, section(breakGlass+": granted without approval under the rule "+code(r.Rule, maxRuleShown)+". The role's owners will review it."))
	}
	lead := fmt.Sprintf(":white_check_mark: Your access to %s (%s) is granted until %s, as a dry run: ", roleName(r.Role), reqID(r.ID), date(r.ExpiresAt))
	fs := []string{field("Request", reqID(r.ID)), field("Access ends", date(r.ExpiresAt))}
	if r.Backend == grants.BackendGroup {
		lead += fmt.Sprintf("your IAM user %s was not added to the IAM group %s.", code(r.Principal, 200), code(r.Target, 200))
	} else {
		lead += "no credentials were issued, so there is nothing to paste into your shell."
		fs = append(fs, field("Credentials would expire", date(r.CredsExpire)), field("Role", code(r.Target, 300)))
	}
	bs = append(bs, section(lead))
	if c := calls("What jitbot would have sent to AWS:", r.DryRunGrant); c != "" {
		bs = append(bs, section(c))
	}
	bs = append(bs, fields(fs...), actions(endNow(r)))
	return append(bs, note(fmt.Sprintf("`/jit revoke %[1]s` ends it early; `/jit extend %[1]s 30m` asks for more time.", Escape(string(r.ID)))))
}

// Answer is a short answer to someone who acted on r with a command or a
// click, marked when r is a dry run.
func Answer(r *grants.Request, text string) string {
	if r == nil || !r.DryRun {
		return text
	}
	return dryRunNote + "\n" + text
}
