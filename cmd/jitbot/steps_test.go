package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The end-to-end test of multi-step approval (approval_steps), through the
// binary: bob, the owner, approves first; then one of @platform-leads.

const stepsRoles = `  stepped:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    eligible: '"sre" in user.groups'
    approval_steps:
      - approvers: [UBOB]
      - approvers: ["@platform-leads"]
`

// waitEphemeral waits for user's next ephemeral message after the first n,
// and returns its text.
func (b *bot) waitEphemeral(t *testing.T, user string, n int, want string) string {
	t.Helper()
	var got string
	b.slack.WaitFor(t, user+" is told "+want, 10*time.Second, func() bool {
		for _, e := range b.slack.Ephemerals(user)[min(n, len(b.slack.Ephemerals(user))):] {
			if strings.Contains(e.Text+string(e.Blocks), want) {
				got = e.Text
				return true
			}
		}
		return false
	})
	return got
}

func TestSlackApprovalSteps(t *testing.T) {
	b := startBotWith(t, stepsRoles)
	if roles := b.command(t, "UALICE", "roles stepped"); !strings.Contains(roles, "2 approvals in 2 steps") {
		t.Errorf("/jit roles: %s", roles)
	}
	id := requestID(t, b.command(t, "UALICE", "request stepped 30m rotate the replication password"))
	owner := b.approvalDM(t, "UBOB", id)
	if v := visible(owner); !strings.Contains(v, "step 1 of 2 (<@UBOB>), 0 of 1") {
		t.Errorf("the owner's DM does not show the step: %s", v)
	}
	// The second step is not asked, and cannot go first.
	for _, lead := range []string{"ULEAD1", "ULEAD2"} {
		if n := b.dmCount(lead, id); n != 0 {
			t.Fatalf("%s was DMed about %s before step 1 was done", lead, id)
		}
	}
	n := len(b.slack.Ephemerals("ULEAD1"))
	b.slack.ForgedClick(t, "ULEAD1", owner.Channel, owner.TS, "jit_approve", id)
	b.waitEphemeral(t, "ULEAD1", n, "it waits on step 1 of 2; you approve step 2, after it")
	if slices.Contains(b.members(t), "alice") {
		t.Fatal("a lead's early click granted the access")
	}

	n = len(b.slack.Ephemerals("UBOB"))
	b.click(t, "UBOB", owner, "jit_approve", id)
	b.waitEphemeral(t, "UBOB", n, "at step 1 of 2; it now goes to step 2, for @platform-leads")
	lead := b.approvalDM(t, "ULEAD1", id)
	if v := visible(lead); !strings.Contains(v, "step 2 of 2 (@platform-leads), 0 of 1; step 1 approved by <@UBOB>") {
		t.Errorf("the lead's DM does not show the step: %s", v)
	}
	b.approvalDM(t, "ULEAD2", id)
	b.slack.WaitFor(t, "the owner's copy loses its buttons", 10*time.Second, func() bool {
		return b.dmCount("UBOB", "Your step is done") == 1 && b.dmCount("UBOB", "jit_approve") == 0
	})
	if slices.Contains(b.members(t), "alice") {
		t.Fatal("alice holds the access after one step of two")
	}

	b.click(t, "ULEAD1", lead, "jit_approve", id)
	b.slack.WaitFor(t, "alice is granted", 15*time.Second, func() bool { return slices.Contains(b.members(t), "alice") })
	b.waitAuditText(t, id, "step 2 approved by <@ULEAD1>")
	b.slack.WaitFor(t, "the other lead's copy shows the outcome", 10*time.Second, func() bool {
		for _, dm := range b.slack.DMs("ULEAD2") {
			if strings.Contains(string(dm.Blocks), id) && strings.Contains(string(dm.Blocks), "jit_approve") {
				return false
			}
		}
		return true
	})
}
