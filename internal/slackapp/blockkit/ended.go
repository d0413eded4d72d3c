package blockkit

import (
	"fmt"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/slack-go/slack"
)

// GrantEnded replaces the requester's grant DM once the access has ended.
// The secret lines and the End now button are gone, so nothing usable
// stays in the requester's Slack history; what they may still need to
// look back on stays: the role, the request, the session and access key
// ID (which CloudTrail names), and the times. It says when the access
// ended and why.
func GrantEnded(r *grants.Request) []slack.Block {
	lead := fmt.Sprintf(":lock: Your access to %s (%s) ended %s (%s).", roleName(r.Role), reqID(r.ID), date(r.RevokedAt), revokeWhy(r))
	gone := "The credentials that were in this message have been removed; they no longer work."
	if r.Backend == grants.BackendGroup {
		gone = "Your IAM user " + code(r.Principal, 200) + " is out of the IAM group " + code(r.Target, 200) + "."
	}
	return markDryRun(r, []slack.Block{
		section(lead + "\n" + gone),
		fields(
			field("Request", reqID(r.ID)),
			field("Granted", dateIf(r.GrantedAt)),
			field("Was to end", dateIf(r.ExpiresAt)),
			field("Access ended", date(r.RevokedAt)),
			field("Session name", code(r.SessionName, 100)),
			field("Access key ID", code(r.AccessKeyID, 40)),
			field("Role", code(r.Target, 300)),
		),
		note("`/jit request` asks for access again."),
	})
}

// dateIf is date(t), or nothing for a zero t, so the field is left out.
func dateIf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return date(t)
}
