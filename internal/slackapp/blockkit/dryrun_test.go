package blockkit

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// dry makes r a dry run with the calls awsgrant.DryRun reports for it.
func dry(r *grants.Request) *grants.Request {
	r.DryRun = true
	r.AccessKeyID = ""
	switch r.Backend {
	case grants.BackendSTS:
		if r.State != grants.Pending {
			r.DryRunGrant = []string{
				"iam:GetRole RoleName=" + r.Target[strings.LastIndexByte(r.Target, '/')+1:] + " (checks that the role exists and allows 1800 s sessions; in another account of the organisation as its jitbot-member)",
				"sts:AssumeRole RoleArn=" + r.Target + " RoleSessionName=jit-alice-" + string(r.ID) + " DurationSeconds=1800 SourceIdentity=alice@example.com " +
					"Tags=jit-request=" + string(r.ID) + ",jit-approver=U0BOB0002 Policy=(allows what the role allows, and denies everything after 2025-03-14T09:29:00Z)",
			}
		}
		if r.State == grants.Revoked {
			r.DryRunRevoke = []string{"no AWS call: the session policy ended the access at 2025-03-14T09:29:00Z"}
		}
	case grants.BackendGroup:
		if r.State != grants.Pending {
			r.DryRunGrant = []string{"iam:AddUserToGroup GroupName=jit-prod-admin UserName=alice"}
		}
		if r.State == grants.Revoked {
			r.DryRunRevoke = []string{"iam:RemoveUserFromGroup GroupName=jit-prod-admin UserName=alice"}
		}
	}
	return r
}

// New goldens of the dry-run renderings; the renderings of real requests
// are unchanged, and their goldens with them.
func TestGoldenDryRun(t *testing.T) {
	revokedGroup := dry(revokedByApprover())
	messages := []struct {
		name   string
		blocks []slack.Block
	}{
		{"dryrun_approval_request", ApprovalRequest(dry(pendingSTS()))},
		{"dryrun_approval_outcome_granted", ApprovalOutcome(dry(activeGroup()))},
		{"dryrun_granted_sts", Granted(dry(activeSTS()), nil)},
		{"dryrun_granted_group", Granted(dry(activeGroup()), nil)},
		{"dryrun_granted_sts_breakglass", Granted(dry(breakGlassActive()), nil)},
		{"dryrun_revoked_expired", Revoked(dry(expired()))},
		{"dryrun_revoked_by_approver", Revoked(revokedGroup)},
		{"dryrun_denied", Denied(dry(denied()))},
		{"dryrun_expiring", Expiring(dry(activeSTS()), activeSTS().ExpiresAt.Add(-5*time.Minute))},
		{"dryrun_review_request", ReviewRequest(dry(breakGlassActive()))},
	}
	for _, tt := range messages {
		t.Run(tt.name, func(t *testing.T) {
			checkSurface(t, tt.name, tt.blocks)
			golden(t, tt.name, indented(t, tt.blocks))
		})
	}
	t.Run("dryrun_home", func(t *testing.T) {
		l := grants.Listing{Mine: []*grants.Request{dry(activeSTS())}, Awaiting: []*grants.Request{dry(pendingGroup())}}
		v := Home(l, now)
		checkSurface(t, "dryrun_home", v)
		golden(t, "dryrun_home", indented(t, v))
	})
	for _, p := range []struct {
		name string
		r    *grants.Request
	}{
		{"dryrun_audit_parent", dry(activeGroup())},
		{"dryrun_audit_parent_breakglass", dry(breakGlassActive())},
	} {
		t.Run(p.name, func(t *testing.T) {
			text, blocks := AuditParent(p.r)
			checkSurface(t, p.name, blocks)
			golden(t, p.name, indented(t, map[string]any{"text": text, "blocks": blocks}))
		})
	}
	t.Run("dryrun_text", func(t *testing.T) {
		bg := dry(breakGlassActive())
		var b strings.Builder
		for _, e := range []grants.Event{
			{Type: grants.EventRequested, At: now, Request: *dry(pendingGroup()), Actor: alice.ID},
			{Type: grants.EventApproved, At: now, Request: *dry(pendingGroup()), Actor: bob},
			{Type: grants.EventGranted, At: now, Request: *dry(activeSTS())},
			{Type: grants.EventGranted, At: now, Request: *dry(activeGroup())},
			{Type: grants.EventRevoked, At: now, Request: *revokedGroup, Actor: carol},
			{Type: grants.EventRevoked, At: now, Request: *dry(expired())},
			{Type: grants.EventAutoApproved, At: now, Request: *bg},
			{Type: grants.EventGranted, At: now, Request: *bg},
		} {
			b.WriteString("## AuditEvent " + string(e.Type) + "\n" + AuditEvent(e) + "\n\n")
		}
		b.WriteString("## Acknowledgement\n" + Acknowledgement(dry(pendingGroup()), []string{bob, carol}) + "\n\n")
		b.WriteString("## Acknowledgement break-glass\n" + Acknowledgement(bg, nil) + "\n\n")
		b.WriteString("## ApprovalText\n" + ApprovalText(dry(pendingSTS())) + "\n\n")
		b.WriteString("## Text\n" + Text(dry(activeGroup())) + "\n")
		for _, p := range mrkdwnProblems(b.String()) {
			t.Error(p)
		}
		golden(t, "dryrun_text", []byte(b.String()))
	})
}

// TestDryRunSaidEverywhere: every message about a dry run says so, and the
// credentials DM shows no keys even if some were passed in.
func TestDryRunSaidEverywhere(t *testing.T) {
	for state, r := range map[string]*grants.Request{
		"pending":     dry(pendingGroup()),
		"active":      dry(activeSTS()),
		"denied":      dry(denied()),
		"revoked":     dry(revokedByApprover()),
		"failed":      dry(failed()),
		"break-glass": dry(breakGlassActive()),
	} {
		rs := append(renderings(r), rendering{"Granted", Granted(r, &creds)})
		for _, rd := range rs {
			if rd.name == "ExtendModal" || rd.name == "DenyModal" {
				continue // forms the user fills in, not messages
			}
			t.Run(state+"/"+rd.name, func(t *testing.T) {
				got := allText(t, rd.v)
				if !strings.Contains(got, "DRY RUN") {
					t.Errorf("does not say DRY RUN: %s", got)
				}
				for _, secret := range []string{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken} {
					if strings.Contains(got, secret) {
						t.Errorf("a dry run shows a credential: %s", got)
					}
				}
			})
		}
	}
}

// The calls shown come from the catalog and the directory (role ARNs,
// group and user names, emails): they are escaped like any text.
func TestDryRunCallsEscaped(t *testing.T) {
	r := dry(activeGroup())
	r.DryRunGrant = []string{"iam:AddUserToGroup GroupName=<!channel> UserName=a&b ```"}
	for name, v := range map[string]any{
		"Granted":    Granted(r, nil),
		"AuditEvent": AuditEvent(grants.Event{Type: grants.EventGranted, Request: *r}),
	} {
		got := allText(t, v)
		if strings.Contains(got, "<!channel>") || strings.Contains(got, "a&b") || strings.Contains(got, "a&amp;b ```") {
			t.Errorf("%s: call shown unescaped: %s", name, got)
		}
		if !strings.Contains(got, "GroupName=&lt;!channel&gt;") {
			t.Errorf("%s: call not shown: %s", name, got)
		}
	}
}
