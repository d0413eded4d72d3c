package slackfake_test

import (
	"fmt"
	"testing"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// TestConversationsHistory: the channel's top-level messages come back
// newest first, a page at a time, without thread replies.
func TestConversationsHistory(t *testing.T) {
	s := slackfake.Start(t)
	api := client(s)
	ctx := t.Context()
	var first string
	for i := range 5 {
		_, ts, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText(fmt.Sprint("post ", i), false))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = ts
		}
	}
	if _, _, err := api.PostMessageContext(ctx, "C0AUDIT", slack.MsgOptionText("a reply", false), slack.MsgOptionTS(first)); err != nil {
		t.Fatal(err)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		h, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C0AUDIT", Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Messages {
			if m.User != slackfake.BotUserID {
				t.Errorf("message %q by %q, want the bot", m.Text, m.User)
			}
			got = append(got, m.Text)
		}
		if cursor = h.ResponseMetaData.NextCursor; cursor == "" || pages > 5 {
			break
		}
	}
	if want := "[post 4 post 3 post 2 post 1 post 0]"; fmt.Sprint(got) != want {
		t.Errorf("history = %v, want %s", got, want)
	}
	if _, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "X1"}); err == nil || err.Error() != "channel_not_found" {
		t.Errorf("history of no channel: %v", err)
	}
}
