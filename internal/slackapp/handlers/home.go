package handlers

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
)

// publishHome shows the user their App Home: their grants and requests
// and, for approvers, what awaits them.
func (h *Handler) publishHome(ctx context.Context, userID string) {
	l, err := h.svc.List(ctx, userID)
	if err != nil {
		h.log.ErrorContext(ctx, "list for app home", "user", userID, "err", err)
		return
	}
	if _, err := h.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: userID, View: blockkit.Home(l, h.now())}); err != nil {
		h.log.ErrorContext(ctx, "publish app home", "user", userID, "err", err)
	}
}
