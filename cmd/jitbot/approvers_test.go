package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// TestSlackUntrustedApproversRefused: a hostile insider puts accounts that
// are not full members of the workspace into the approving user group — a
// guest, a Slack Connect vendor who shares a channel (so Slack does not
// call them a stranger), an account deactivated since — and they click
// approve (deny is refused alike: see grants' TestUntrustedApproverRefused). Each click is refused with an ephemeral message,
// audited, and decides nothing.
func TestSlackUntrustedApproversRefused(t *testing.T) {
	b := startBot(t)
	b.slack.AddUser(slackfake.User{ID: "UGLEAD", Name: "glead", Email: "glead@example.com", IsGuest: true})
	b.slack.AddUser(slackfake.User{ID: "UVAL", Name: "val", Email: "val@vendor.example", External: true, SharesChannel: true})
	b.slack.AddUser(slackfake.User{ID: "UDAN", Name: "dan", Email: "dan@example.com"})
	b.slack.SetUserGroupMembers("platform-leads", "ULEAD1", "ULEAD2", "UGLEAD", "UVAL", "UDAN")
	b.slack.AddUser(slackfake.User{ID: "UDAN", Name: "dan", Email: "dan@example.com", Deleted: true})

	id := requestID(t, b.command(t, "UALICE", "request readonly 1h checking replica lag for INC-42"))
	lead2Copy := b.approvalDM(t, "ULEAD2", id)
	for _, c := range []struct{ user, action, want string }{
		{"UGLEAD", "jit_approve", "you cannot approve " + id + ": guests cannot decide requests"},
		{"UVAL", "jit_approve", "you cannot approve " + id + ": people from other organisations cannot decide requests"},
		{"UDAN", "jit_approve", "you cannot approve " + id + ": deactivated accounts cannot decide requests"},
	} {
		b.refusedClick(t, c.user, lead2Copy, c.action, id, c.want)
	}
	if r := b.approvalCopy("ULEAD2", id); !strings.Contains(string(r.Blocks), "jit_approve") {
		t.Errorf("a refused click decided the request: lead2's copy has no buttons")
	}
	if b.proxy.Count("AssumeRole") != 0 {
		t.Errorf("a refused click reached AWS")
	}
}

// TestSlackEarlierApprovalRevalidated: of the two approvals admin needs,
// the first approver is removed from @platform-leads before the second
// approves. The first no longer counts: it is dropped and audited, and the
// request waits for another approver instead of granting.
func TestSlackEarlierApprovalRevalidated(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.slack.WaitFor(t, "first approval recorded", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(id), "1 of 2")
	})
	b.slack.SetUserGroupMembers("platform-leads", "ULEAD2")
	b.click(t, "ULEAD2", b.approvalDM(t, "ULEAD2", id), "jit_approve", id)
	b.slack.WaitFor(t, "the dropped approval audited", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(id), "the approval of ULEAD1 no longer counts: not an approver of admin")
	})
	if got := b.command(t, "UALICE", "list"); !strings.Contains(got, id) || strings.Contains(strings.ToLower(got), "active") {
		t.Logf("alice's list: %s", got)
	}
	if n := b.proxy.Count("AddUserToGroup"); n != 0 {
		t.Errorf("%d AddUserToGroup calls: access was granted on a withdrawn approval", n)
	}
	if m := b.members(t); len(m) != 0 {
		t.Errorf("jit-admins members = %v, want none", m)
	}
}

// TestSlackApproverRuleRefuses: readonly's approver_rule admits only
// approvers in @sre. lead2, in @platform-leads but not in @sre, is not
// DMed, and their click is refused, audited and issues nothing; lead1, in
// both, approves.
func TestSlackApproverRuleRefuses(t *testing.T) {
	b := startBot(t)
	writeFile(t, b.catalog, strings.Replace(slackCatalog, `    approvers: ["@platform-leads"]
`, `    approvers: ["@platform-leads"]
    approver_rule: '!approver.is_guest && "sre" in approver.groups'
`, 1))
	b.slack.WaitFor(t, "the reload is announced", 15*time.Second, func() bool { return b.auditHas("Role catalog reloaded") })
	id := requestID(t, b.command(t, "UALICE", "request readonly 1h checking replica lag for INC-42"))
	lead1Copy := b.approvalDM(t, "ULEAD1", id)
	if c := b.approvalCopy("ULEAD2", id); c.TS != "" {
		t.Errorf("lead2, whom the approver_rule refuses, was DMed to approve")
	}
	// A click is checked all the same, wherever the button was.
	b.refusedClick(t, "ULEAD2", lead1Copy, "jit_approve", id, "the approver_rule of readonly refuses this approver")
	if b.proxy.Count("AssumeRole") != 0 {
		t.Errorf("a refused click reached AWS")
	}
	b.click(t, "ULEAD1", lead1Copy, "jit_approve", id)
	b.dmWith(t, "UALICE", id, "AWS_ACCESS_KEY_ID")
}
