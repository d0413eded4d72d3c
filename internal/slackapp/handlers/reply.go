package handlers

import (
	"context"

	"github.com/slack-go/slack"
)

// replyTo is where an answer for one person goes: the response URL of
// their command or click when there is one (it works in any channel, even
// ones jitbot is not in), otherwise a DM.
type replyTo struct {
	user        string
	responseURL string
}

// tell answers with mrkdwn text that only the user sees.
func (h *Handler) tell(ctx context.Context, to replyTo, text string) {
	h.show(ctx, to, text, nil)
}

// show answers with blocks (text is the notification fallback).
func (h *Handler) show(ctx context.Context, to replyTo, text string, blocks []slack.Block) {
	var err error
	if to.responseURL != "" {
		msg := &slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: text}
		if len(blocks) > 0 {
			msg.Blocks = &slack.Blocks{BlockSet: blocks}
		}
		err = slack.PostWebhookContext(ctx, to.responseURL, msg)
	} else {
		opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
		if len(blocks) > 0 {
			opts = append(opts, slack.MsgOptionBlocks(blocks...))
		}
		_, _, err = h.api.PostMessageContext(ctx, to.user, opts...)
	}
	if err != nil {
		h.log.ErrorContext(ctx, "answer the user", "user", to.user, "err", err)
	}
}
