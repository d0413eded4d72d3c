package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// TestSlackHoldsUsersInfoAndAGuestStillCannotBeApproved: while Slack holds
// users.info back, an approval takes the copies of people the event
// stream vouches for instead of waiting for Slack. A requester Slack has
// just made a guest, with the user_change that says so, is not vouched
// for: the approval reads them afresh and denies the request. The same
// approval read its approver from the vouched copy, so the test shows the
// hold was in force.
func TestSlackHoldsUsersInfoAndAGuestStillCannotBeApproved(t *testing.T) {
	b := startBot(t)
	b.slack.WaitFor(t, "the bot's copy of the workspace's users", 10*time.Second, func() bool {
		return len(b.slack.Calls("users.list")) > 0
	})
	id := requestID(t, b.command(t, "UALICE", "request ops 1h fixing INC-42 replica lag"))
	dm := b.approvalDM(t, "ULEAD1", id)

	// Slack starts holding users.info back: someone the bot has no copy
	// of is looked up, and Slack answers 429 once.
	b.slack.AddUser(slackfake.User{ID: "UNEW", Name: "newbie", Email: "newbie@example.com"})
	b.slack.RateLimit("users.info", 1, time.Second)
	b.command(t, "UNEW", "roles")
	b.slack.WaitFor(t, "Slack's 429 on users.info", 10*time.Second, func() bool {
		for _, c := range b.slack.Calls("users.info") {
			if c.Error == "ratelimited" {
				return true
			}
		}
		return false
	})

	// Alice is made a guest; Slack says so with a user_change.
	b.slack.AddUser(slackfake.User{ID: "UALICE", Name: "alice", RealName: "Alice Doe", Email: "alice@example.com", IsGuest: true})
	if err := b.slack.SendUserChange("UALICE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the event handled
	before := len(b.slack.Calls("users.info"))
	b.click(t, "ULEAD1", dm, "jit_approve", id)
	b.slack.WaitFor(t, "the request denied: alice no longer qualifies", 15*time.Second, func() bool {
		return strings.Contains(b.auditText(id), "no longer qualifies") || strings.Contains(b.auditText(id), "Denied")
	})
	if m := b.groupMembers(t, "jit-ops"); len(m) != 0 {
		t.Errorf("jit-ops members = %v: a guest was granted on a copy from before Slack changed her", m)
	}
	read := map[string]int{}
	for _, c := range b.slack.Calls("users.info")[before:] {
		read[c.Params.Get("user")]++
	}
	if read["UALICE"] == 0 {
		t.Errorf("the approval did not read alice afresh after her user_change: users.info calls %v", read)
	}
	if read["ULEAD1"] != 0 {
		t.Errorf("the approval read its approver afresh (%v) while Slack held users.info back: the vouched copies were not in use, so this test shows nothing", read)
	}
}
