package blockkit

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// Multi-step approval (a role's approval_steps) as people see it: which
// step a request is at, whose turn it is, and who approved the steps
// before.

// maxApproversShown bounds a step's approver list in a message.
const maxApproversShown = 200

// approverList shows a list of approvers as the catalog names them: user
// mentions and @handles, "a or b".
func approverList(list []string) string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		if h, ok := strings.CutPrefix(a, "@"); ok {
			out = append(out, "@"+inline(h, 80))
			continue
		}
		out = append(out, Mention(a))
	}
	if len(out) < 2 {
		return cut(strings.Join(out, ""), maxApproversShown)
	}
	return cut(strings.Join(out[:len(out)-1], ", ")+" or "+out[len(out)-1], maxApproversShown)
}

// stepApprovals shows the approvals of r, a request with steps, in one
// line: the step it waits on and its count, then who approved each step
// before, "step 2 of 2 (@security), 0 of 1; step 1 approved by <@U…>".
func stepApprovals(r *grants.Request) string {
	cur := r.CurrentStep()
	var parts []string
	if cur < len(r.Steps) {
		s := r.Steps[cur]
		now := fmt.Sprintf("step %d of %d (%s), %d of %d", cur+1, len(r.Steps), approverList(s.Approvers), countAt(r, cur), max(s.Required, 1))
		if who := approversAt(r, cur); len(who) > 0 {
			now += ": " + andList(who)
		}
		parts = append(parts, now)
	}
	for i := range min(cur, len(r.Steps)) {
		if who := approversAt(r, i); len(who) > 0 {
			parts = append(parts, fmt.Sprintf("step %d approved by %s", i+1, andList(who)))
		}
	}
	return strings.Join(parts, "; ")
}

func countAt(r *grants.Request, step int) int { return len(approversAt(r, step)) }

// approversAt mentions who approved step of r.
func approversAt(r *grants.Request, step int) []string {
	var out []string
	for _, a := range r.Approvals {
		if a.Step == step {
			out = append(out, Mention(a.Approver))
		}
	}
	return out
}

// StepPassed is the approval DM of an approver whose step r is past: no
// buttons, and whose turn it is now.
func StepPassed(r *grants.Request) []slack.Block {
	cur := r.CurrentStep()
	next := ""
	if cur < len(r.Steps) {
		next = fmt.Sprintf(" It now waits on step %d of %d, for %s.", cur+1, len(r.Steps), approverList(r.Steps[cur].Approvers))
	}
	bs := []slack.Block{
		header(approvalTitle(r)),
		section(":arrow_right: Your step is done." + next),
		section(requester(r) + " asks for " + what(r) + "." + reasonLine(r)),
	}
	bs = append(bs, workloadBlocks(r)...)
	return markDryRun(r, append(bs, fields(details(r, true)...), note("Requested "+date(r.CreatedAt)+".")))
}

// ApprovedAt is what an approver is told after their click when r still
// waits for more: the count at their step, or the step it went on to.
func ApprovedAt(r *grants.Request, approver string) string {
	if len(r.Steps) == 0 {
		return fmt.Sprintf("You approved %s; it needs %d more approval(s).", reqID(r.ID), r.ApprovalsRequired-len(r.Approvals))
	}
	mine := 0
	for _, a := range r.Approvals {
		if a.Approver == approver {
			mine = a.Step
		}
	}
	cur := r.CurrentStep()
	if cur == mine && cur < len(r.Steps) {
		return fmt.Sprintf("You approved %s at step %d of %d; that step needs %d more approval(s).", reqID(r.ID), cur+1, len(r.Steps), r.Steps[cur].Required-countAt(r, cur))
	}
	if cur < len(r.Steps) {
		return fmt.Sprintf("You approved %s at step %d of %d; it now goes to step %d, for %s.", reqID(r.ID), mine+1, len(r.Steps), cur+1, approverList(r.Steps[cur].Approvers))
	}
	return fmt.Sprintf("You approved %s at step %d of %d.", reqID(r.ID), mine+1, len(r.Steps))
}
