package handlers

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// The end-to-end tests are in package handlers_test: they build the bot
// with internal/app, which imports this package. These hand them the
// handler below dispatch, because a forged payload (a button value Slack
// would never send) can only be handed to the handler directly: the fake
// delivers only buttons that exist.

// Interaction handles cb as dispatch does a block action.
func (h *Handler) Interaction(ctx context.Context, cb slack.InteractionCallback) {
	h.interaction(ctx, cb)
}

// Submission handles cb as dispatch does a view submission.
func (h *Handler) Submission(cb slack.InteractionCallback) (payload any, then func(context.Context)) {
	return h.submission(cb)
}

// RequestForm reads the request modal's fields.
func (h *Handler) RequestForm(user string, st *slack.ViewState) (grants.RequestInput, map[string]string) {
	return h.requestForm(user, st)
}

// Value and Selected read a modal's text field and its selected option.
var (
	Value    = value
	Selected = selected
)
