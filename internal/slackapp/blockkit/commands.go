package blockkit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// usage is the /jit grammar of docs/design.md §2.2, one sub-command a line.
var usage = [][2]string{
	{"/jit", "open the request form"},
	{"/jit request <role> [<duration>] [--start <RFC 3339 | HH:MM | +DURATION>] [--for <@user>] [--account <id-or-alias>] [--incident <ref>] <reason…>", "ask for access; the duration is like 90s, 15m, 1h30m, 2h or 1d (the role's default if left out); --start 22:00 (your time) or +2h begins it later; --for @person asks for someone else, picked from the autocomplete; the reason needs 10 to 500 characters"},
	{"/jit roles [<words…>]", "the roles you may request, with their limits; words narrow the list to the roles whose name or description has each of them"},
	{"/jit list", "your pending requests and active grants, and what awaits your approval"},
	{"/jit revoke <id>", "give up your access or cancel your request; approvers of the role may revoke too"},
	{"/jit extend <id> <duration>", "ask for more time; approved like a new request"},
	{"/jit report [<duration>]", "for approvers: requests, approvals, break-glass and elevated hours per role over the last 30 days (or the duration given)"},
	{"/jit help", "this help"},
}

// Help is the answer to /jit help: every sub-command and the examples
// given, as mrkdwn.
func Help(examples []string) string {
	var b strings.Builder
	b.WriteString("*jitbot* gives you short-lived AWS access for one task, approved by the role's owners and taken away again on time.\n")
	for _, u := range usage {
		fmt.Fprintf(&b, "• `%s`: %s\n", Escape(u[0]), Escape(u[1]))
	}
	if len(examples) > 0 {
		b.WriteString("*Examples*\n```")
		for _, e := range examples {
			b.WriteString("\n" + Escape(e))
		}
		b.WriteString("\n```\n")
	}
	b.WriteString("Every step is posted to the audit channel.")
	return cut(b.String(), MaxMessageText)
}

// MaxRolesShown is how many roles /jit roles lists; the rest are counted,
// and /jit roles <words…> finds them. Thirty two-line entries fill a
// screen already; a 1,000-role catalog in one message (50 blocks, 150 KB)
// was read by nobody and took longer to build and send than docs/design.md §6's
// 5 ms allow.
const MaxRolesShown = 30

// Roles is the answer to /jit roles: the roles the caller may request
// (those matching filter when it is not blank), each with its
// description, backend, default and maximum duration and approvals
// required. The first MaxRolesShown are listed, several to a section;
// the rest are counted at the end.
func Roles(roles []*rules.Role, filter string) []slack.Block {
	filter = strings.TrimSpace(filter)
	if len(roles) == 0 {
		if filter != "" {
			return []slack.Block{section(fmt.Sprintf("No role you can request matches %s; `/jit roles` lists them all.", code(filter, maxFilterShown)))}
		}
		return []slack.Block{section("There is no role you can request. The role catalog's owners decide who is eligible; `/jit help` shows how jitbot works.")}
	}
	p := &page{}
	if filter != "" {
		p.add(section(fmt.Sprintf("*Roles you can request matching %s* (%d)", code(filter, maxFilterShown), len(roles))))
	} else {
		p.add(section(fmt.Sprintf("*Roles you can request* (%d)", len(roles))))
	}
	shown := roles[:min(len(roles), MaxRolesShown)]
	// MaxRolesShown lines of at most maxRoleLine characters take fewer
	// sections than a message has blocks, so every shown role fits.
	var cur, line []byte
	size := 0 // characters in cur
	for _, r := range shown {
		line = appendRoleLine(line[:0], r)
		n := runeCount(line)
		if n > maxRoleLine {
			line = append(line[:0], cut(string(line), maxRoleLine)...)
			n = runeCount(line)
		}
		if size > 0 && size+2+n > MaxSectionText {
			p.add(section(string(cur)))
			cur, size = cur[:0], 0
		}
		if size > 0 {
			cur = append(cur, "\n\n"...)
			size += 2
		}
		cur = append(cur, line...)
		size += n
	}
	p.add(section(string(cur)))
	if rest := len(roles) - len(shown); rest > 0 {
		p.add(note(moreRoles(rest, filter != "")))
	}
	return p.blocks
}

func moreRoles(n int, filtered bool) string {
	if filtered {
		return fmt.Sprintf("…and %d more. Add words to narrow the list: `/jit roles &lt;words…&gt;` shows the roles whose name or description has every word.", n)
	}
	return fmt.Sprintf("…and %d more. `/jit roles &lt;words…&gt;` shows the roles whose name or description has every word, e.g. `/jit roles prod`.", n)
}

// appendRoleLine appends the description of one role, in two lines, to
// b; the caller cuts it to maxRoleLine. Every piece is appended in place
// because /jit roles writes a line for every role of the catalog.
func appendRoleLine(b []byte, r *rules.Role) []byte {
	b = append(b, '*')
	b = append(b, inline(r.Name, 100)...)
	b = append(b, '*')
	if r.Description != "" {
		b = append(b, ": "...)
		b = append(b, inline(r.Description, 200)...)
	}
	b = append(b, '\n')
	if t, ok := codeText(r.Backend, 30); ok {
		b = append(b, '`')
		b = append(b, t...)
		b = append(b, '`')
	}
	b = append(b, " · default "...)
	b = append(b, dur(r.DefaultDuration)...)
	b = append(b, " · max "...)
	b = append(b, dur(r.MaxDuration)...)
	b = append(b, " · "...)
	n := max(r.ApprovalsRequired, 1)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, " approval"...)
	if n != 1 {
		b = append(b, 's')
	}
	if len(r.ApprovalSteps) > 0 {
		b = append(b, " in "...)
		b = strconv.AppendInt(b, int64(len(r.ApprovalSteps)), 10)
		b = append(b, " steps"...)
	}
	if r.AutoApprove != "" {
		b = append(b, " · :rotating_light: break-glass possible"...)
	}
	if len(r.Accounts) > 0 {
		b = append(b, " · accounts "...)
		for i, a := range r.Accounts {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, inline(a.String(), 80)...)
		}
	} else if r.OrganizationalUnit != "" {
		b = append(b, " · no accounts yet (organizational unit "...)
		b = append(b, inline(r.OrganizationalUnit, 80)...)
		b = append(b, " not read)"...)
	}
	return b
}

// List is the answer to /jit list: the caller's pending requests (with the
// approvals so far) and grants (with time left, Revoke and Extend
// buttons), and the requests awaiting their approval (Approve and Deny).
// Long lists are cut to fit a message, with a count of the rest.
func List(l grants.Listing, now time.Time) []slack.Block {
	if len(l.Mine) == 0 && len(l.Awaiting) == 0 {
		return []slack.Block{section(emptyState)}
	}
	p := &page{}
	addGroups(p, listGroups(l, now), MaxMessageBlocks)
	return p.blocks
}

// listGroups splits a listing into the caller's access, their pending
// requests and what awaits their approval, each with its own title, so
// that a long list of one kind cannot hide the others.
func listGroups(l grants.Listing, now time.Time) []group {
	var active, scheduled, pending []*grants.Request
	for _, r := range l.Mine {
		switch r.State {
		case grants.Pending:
			pending = append(pending, r)
		case grants.Scheduled:
			scheduled = append(scheduled, r)
		default:
			active = append(active, r)
		}
	}
	mine := func(r *grants.Request) []slack.Block { return mineItem(r, now) }
	return []group{
		{title: "*Your access*", items: active, render: mine},
		{title: "*Your scheduled access* (approved; it starts on its own)", items: scheduled, render: mine},
		{title: "*Your pending requests*", items: pending, render: mine},
		{title: "*Waiting for your approval*", items: l.Awaiting, render: func(r *grants.Request) []slack.Block { return awaitingItem(r, now) }},
	}
}

const emptyState = "You have no access, requests or approvals open right now.\n" +
	"To get access, type `/jit` for a form, or `/jit request &lt;role&gt; [&lt;duration&gt;] &lt;reason…&gt;`. " +
	"`/jit roles` lists the roles you may request."

// group is one titled list of requests on a page.
type group struct {
	title  string
	items  []*grants.Request
	render func(*grants.Request) []slack.Block
}

// addGroups adds the non-empty groups to p, sharing the blocks left under
// limit fairly among them.
func addGroups(p *page, gs []group, limit int) {
	var live []group
	for _, g := range gs {
		if len(g.items) > 0 {
			live = append(live, g)
		}
	}
	needs := make([]int, len(live))
	for i, g := range live {
		for _, r := range g.items {
			needs[i] += len(g.render(r))
			if needs[i] > limit {
				break // more than can ever be shown
			}
		}
	}
	budgets := share(limit-len(p.blocks)-len(live), needs)
	for i, g := range live {
		p.add(section(g.title))
		p.items(len(g.items), budgets[i], func(k int) []slack.Block { return g.render(g.items[k]) },
			func(left int) string { return fmt.Sprintf("…and %d more not shown here.", left) })
	}
}

// mineItem shows one of the caller's own requests or grants.
func mineItem(r *grants.Request, now time.Time) []slack.Block {
	s := stateBadge(r.State) + " " + reqID(r.ID) + " " + what(r)
	if r.DryRun {
		s = dryRun + " " + s
	}
	switch r.State {
	case grants.Pending:
		s += fmt.Sprintf("\nApprovals %s; times out in %s.", approvals(r), timeLeft(r.Deadline.Sub(now)))
	case grants.Scheduled:
		s += fmt.Sprintf("\nApproved; starts in %s, %s.", timeLeft(r.Start.Sub(now)), date(r.Start))
	case grants.Granting:
		s += "\nBeing issued now."
	case grants.Active:
		s += fmt.Sprintf("\n*%s left*, until %s.", timeLeft(r.ExpiresAt.Sub(now)), date(r.ExpiresAt))
	case grants.Revoking:
		s += "\nBeing removed now."
	}
	if r.FiledBy != nil {
		s += "\nFor " + Mention(r.Requester.ID) + filedBy(r) + "."
	}
	if r.Reason != "" {
		s += "\n" + quote(oneLine(r.Reason), maxListReason)
	}
	switch r.State {
	case grants.Pending, grants.Scheduled:
		return []slack.Block{sectionWith(s, button("Cancel", ActionRevoke, string(r.ID), ""))}
	case grants.Active:
		revoke := button("Revoke", ActionRevoke, string(r.ID), slack.StyleDanger)
		revoke.Confirm = confirm("Revoke "+string(r.ID)+"?", "Your access to "+r.Role+" ends now.", "Revoke")
		return []slack.Block{section(s), actions(button("Extend", ActionExtend, string(r.ID), ""), revoke)}
	}
	return []slack.Block{section(s)}
}

// awaitingItem shows a request the caller may decide.
func awaitingItem(r *grants.Request, now time.Time) []slack.Block {
	s := ":raising_hand: " + requester(r) + " asks for " + what(r) + "."
	if w := workloadLine(r); w != "" {
		s += "\n" + w
	}
	if r.DryRun {
		s = dryRun + " " + s
	}
	if r.Reason != "" {
		s += "\n" + quote(oneLine(r.Reason), maxListReason)
	}
	s += "\n" + reqID(r.ID) + " · approvals " + fmt.Sprintf("%d of %d", len(r.Approvals), required(r))
	if r.Incident != "" {
		s += " · incident " + inline(r.Incident, 100)
	}
	s += " · times out in " + timeLeft(r.Deadline.Sub(now))
	return []slack.Block{
		section(s),
		actions(
			button("Approve", ActionApprove, string(r.ID), slack.StylePrimary),
			button("Deny", ActionDeny, string(r.ID), slack.StyleDanger),
		),
	}
}

// Preformatted shows plain text (a report) in a code block, escaped and
// cut to Slack's message limit. Backtick fences in the text are broken up
// so they cannot end the block early.
func Preformatted(text string) string {
	const fence = "```"
	body := strings.ReplaceAll(Escape(text), fence, "`\u200b``")
	return fence + "\n" + cut(body, MaxMessageText-2*len(fence)-2) + "\n" + fence
}
