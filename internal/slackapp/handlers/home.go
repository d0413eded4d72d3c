package handlers

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
	"github.com/jitbot/jitbot/internal/slackapp/directory"
)

// publishHome shows the user their App Home: their grants and requests
// and, for approvers, what awaits them. Who may approve comes from the
// directory's listing cache: the buttons it shows decide afresh.
func (h *Handler) publishHome(ctx context.Context, userID string) {
	l, err := h.svc.List(directory.Listing(ctx), userID)
	if err != nil {
		h.log.ErrorContext(ctx, "list for app home", "user", userID, "err", err)
		return
	}
	if _, err := h.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: userID, View: blockkit.Home(l, h.now())}); err != nil {
		h.log.ErrorContext(ctx, "publish app home", "user", userID, "err", err)
	}
}
