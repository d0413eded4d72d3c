package slackfake_test

import (
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// TestEnforcedPostLimitIsPerChannel: with Slack's limits enforced, a
// channel takes a short burst of posts, then answers 429 with a
// Retry-After, while a DM (a channel of its own) is still posted at once;
// after the Retry-After the channel takes a post again.
func TestEnforcedPostLimitIsPerChannel(t *testing.T) {
	s := slackfake.Start(t, slackfake.WithRateLimits())
	addPeople(s)
	api := client(s)
	ctx := t.Context()

	var rl *slack.RateLimitedError
	posted := 0
	for range 10 {
		_, _, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("event", false))
		if errors.As(err, &rl) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		posted++
	}
	if posted < 1 || posted > 5 || rl == nil {
		t.Fatalf("%d posts in a row before a 429 (%v), want a short burst then 429", posted, rl)
	}
	if rl.RetryAfter < time.Second || rl.RetryAfter > 2*time.Second {
		t.Errorf("Retry-After %v, want about a second", rl.RetryAfter)
	}
	for _, user := range []string{"U0ALICE", "U0BOB"} {
		if _, _, err := api.PostMessageContext(ctx, user, slack.MsgOptionText("approve?", false)); err != nil {
			t.Errorf("DM to %s while the audit channel is limited: %v", user, err)
		}
	}
	time.Sleep(rl.RetryAfter)
	if _, _, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("later", false)); err != nil {
		t.Errorf("post after Retry-After: %v", err)
	}
	last := s.Calls("chat.postMessage")
	if c := last[posted]; c.Error != "ratelimited" {
		t.Errorf("the limited call is recorded as %+v", c)
	}
}

// TestEnforcedTierIsPerMethod: chat.update (Tier 3) is limited on its
// own budget, which neither chat.postMessage nor users.info (Tier 4)
// share; exempting the method, or turning enforcement off, lifts it.
func TestEnforcedTierIsPerMethod(t *testing.T) {
	s := slackfake.Start(t)
	addPeople(s)
	api := client(s)
	ctx := t.Context()
	_, ts, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("parent", false))
	if err != nil {
		t.Fatal(err)
	}
	s.EnforceRateLimits(true)
	updates := 0
	for range 60 {
		if _, _, _, err := api.UpdateMessageContext(ctx, "C0AUDIT", ts, slack.MsgOptionText("again", false)); err != nil {
			var rl *slack.RateLimitedError
			if !errors.As(err, &rl) {
				t.Fatal(err)
			}
			break
		}
		updates++
	}
	if updates < 5 || updates >= 50 {
		t.Errorf("%d chat.update calls before a 429, want a Tier 3 burst (10)", updates)
	}
	if _, err := api.GetUserInfoContext(ctx, "U0ALICE"); err != nil {
		t.Errorf("users.info while chat.update is limited: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0OTHER", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("chat.postMessage while chat.update is limited: %v", err)
	}
	s.Unlimit("chat.update")
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0AUDIT", ts, slack.MsgOptionText("exempt", false)); err != nil {
		t.Errorf("chat.update exempted: %v", err)
	}
	s.EnforceRateLimits(false)
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0AUDIT", ts, slack.MsgOptionText("free", false)); err != nil {
		t.Errorf("chat.update with enforcement off: %v", err)
	}
}
