package notify

import (
	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackapp/blockkit"
)

// approvalRequest is the approver's DM, with the role's usage line when
// there is one.
func (m *Messenger) approvalRequest(r *grants.Request) []slack.Block {
	if m.Usage == nil {
		return blockkit.ApprovalRequest(r)
	}
	return blockkit.WithUsage(blockkit.ApprovalRequest(r), m.Usage.Line(r.Role))
}
