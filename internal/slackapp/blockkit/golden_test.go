package blockkit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

var htmlUnescaper = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/slackapp/blockkit -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run go test ./internal/slackapp/blockkit -update\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// indented is v as indented JSON, with <, > and & left readable.
func indented(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	// slack-go marshals some elements itself, with HTML escaping; undo it
	// so the goldens read as Slack shows them.
	return []byte(htmlUnescaper.Replace(b.String()))
}

func TestGoldenMessages(t *testing.T) {
	twoApprovals := pendingGroup()
	tests := []struct {
		name   string
		blocks []slack.Block
	}{
		{"approval_request", ApprovalRequest(pendingSTS())},
		{"approval_request_two_approvers_one_approval", ApprovalRequest(twoApprovals)},
		{"approval_request_extension", ApprovalRequest(extension())},
		{"approval_outcome_granted", ApprovalOutcome(activeGroup())},
		{"approval_outcome_denied", ApprovalOutcome(denied())},
		{"approval_outcome_timed_out", ApprovalOutcome(timedOut())},
		{"approval_outcome_cancelled", ApprovalOutcome(cancelled())},
		{"approval_outcome_failed", ApprovalOutcome(failed())},
		{"approval_outcome_revoked", ApprovalOutcome(revokedByApprover())},
		{"granted_sts", Granted(activeSTS(), &creds)},
		{"granted_group", Granted(activeGroup(), nil)},
		{"granted_sts_breakglass", Granted(breakGlassActive(), &creds)},
		{"denied", Denied(denied())},
		{"timed_out", TimedOut(timedOut())},
		{"cancelled", Cancelled(cancelled())},
		{"grant_failed", GrantFailed(failed())},
		{"revoked_expired", Revoked(expired())},
		{"revoked_by_approver", Revoked(revokedByApprover())},
		{"expiring", Expiring(activeSTS(), activeSTS().ExpiresAt.Add(-5*time.Minute))},
		{"review_request", ReviewRequest(breakGlassActive())},
		{"review_outcome", ReviewOutcome(reviewed())},
		{"review_reminder", ReviewReminder(breakGlassActive())},
		{"approval_request_third_party", ApprovalRequest(thirdPartyPending())},
		{"roles", Roles(sampleRoles(), "")},
		{"roles_empty", Roles(nil, "")},
		{"roles_matching", Roles(sampleRoles()[1:], " prod  <!channel> `x` ")},
		{"roles_none_matching", Roles(nil, "*nothing* &lt;")},
		{"roles_more", Roles(manyRoles(MaxRolesShown+12), "")},
		{"roles_more_matching", Roles(manyRoles(MaxRolesShown+1), "readonly")},
		{"list", List(sampleListing(), now)},
		{"list_empty", List(grants.Listing{}, now)},
		{"approval_request_window_filed_for_alice", ApprovalRequest(windowForAlice())},
		{"approval_outcome_scheduled", ApprovalOutcome(scheduledForAlice())},
		{"scheduled", Scheduled(scheduledForAlice())},
		{"filed_for_you", FiledForYou(windowForAlice())},
		{"reminder", Reminder(windowForAlice())},
		{"escalation", Escalation(windowForAlice())},
		{"list_scheduled", List(grants.Listing{Mine: []*grants.Request{scheduledForAlice(), windowForAlice()}}, now)},
		{"approval_request_at_step_2", ApprovalRequest(atSecurityStep())},
		{"step_passed", StepPassed(atSecurityStep())},
		{"reminder_at_step_2", Reminder(atSecurityStep())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSurface(t, tt.name, tt.blocks)
			golden(t, tt.name, indented(t, tt.blocks))
		})
	}
}

func sampleListing() grants.Listing {
	mine1, mine2 := activeSTS(), pendingGroup()
	other := pendingSTS()
	other.ID = "JIT-5HR8WN"
	other.Requester.ID = "U0DAVE004"
	other.Requester.Name = "Dave"
	other.Requester.Email = "dave@example.com"
	return grants.Listing{Mine: []*grants.Request{mine1, mine2}, Awaiting: []*grants.Request{other}}
}

func TestGoldenViews(t *testing.T) {
	tests := []struct {
		name string
		view any
	}{
		{"request_modal", RequestModal(sampleRoles())},
		{"deny_modal", DenyModal("JIT-7K3QX2")},
		{"extend_modal", ExtendModal(activeSTS())},
		{"home", Home(sampleListing(), now)},
		{"home_empty", Home(grants.Listing{}, now)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSurface(t, tt.name, tt.view)
			golden(t, tt.name, indented(t, tt.view))
		})
	}
}

func TestGoldenAudit(t *testing.T) {
	parents := []struct {
		name string
		r    *grants.Request
	}{
		{"audit_parent", activeGroup()},
		{"audit_parent_pending", pendingGroup()},
		{"audit_parent_breakglass", breakGlassActive()},
		{"audit_parent_revoke_failing", revokingStuck()},
		{"audit_parent_denied", denied()},
	}
	for _, tt := range parents {
		t.Run(tt.name, func(t *testing.T) {
			text, blocks := AuditParent(tt.r)
			checkSurface(t, tt.name, blocks)
			golden(t, tt.name, indented(t, map[string]any{"text": text, "blocks": blocks}))
		})
	}
	t.Run("audit_events", func(t *testing.T) {
		var b strings.Builder
		for _, e := range sampleEvents() {
			b.WriteString("## " + string(e.Type))
			if e.Request.AutoApproved {
				b.WriteString(" (break-glass)")
			}
			b.WriteString("\n" + AuditEvent(e) + "\n\n")
		}
		golden(t, "audit_events", []byte(b.String()))
	})
}

// sampleEvents has one event of every type, as the domain emits them, plus
// the loud break-glass variants.
func sampleEvents() []grants.Event {
	approved := pendingGroup()
	granted := activeSTS()
	revokeFailed := revokingStuck()
	expiring := activeSTS()
	return []grants.Event{
		{Type: grants.EventRequested, At: now, Request: *pendingGroup(), Actor: alice.ID},
		{Type: grants.EventRequested, At: now, Request: *extension(), Actor: alice.ID},
		{Type: grants.EventApproved, At: now, Request: *approved, Actor: bob},
		{Type: grants.EventDenied, At: now, Request: *denied(), Actor: carol},
		{Type: grants.EventCancelled, At: now, Request: *cancelled(), Actor: alice.ID},
		{Type: grants.EventTimedOut, At: now, Request: *timedOut()},
		{Type: grants.EventGranted, At: now, Request: *granted, Credentials: &creds},
		{Type: grants.EventGranted, At: now, Request: *activeGroup()},
		{Type: grants.EventGrantFailed, At: now, Request: *failed(), Err: failed().Failure},
		{Type: grants.EventRevoked, At: now, Request: *expired()},
		{Type: grants.EventRevoked, At: now, Request: *revokedByApprover(), Actor: carol},
		{Type: grants.EventRevokeFailed, At: now, Request: *revokeFailed, Err: revokeFailed.LastError},
		{Type: grants.EventRefused, At: now, Request: *pendingGroup(), Actor: "U0MALLORY", Err: "you are not an approver of prod-admin, so you cannot approve JIT-7K3QX2"},
		{Type: grants.EventExpiring, At: expiring.ExpiresAt.Add(-5 * time.Minute), Request: *expiring},
		{Type: grants.EventRequested, At: now, Request: *breakGlassActive(), Actor: alice.ID},
		{Type: grants.EventAutoApproved, At: now, Request: *breakGlassActive()},
		{Type: grants.EventGranted, At: now, Request: *breakGlassActive(), Credentials: &creds},
	}
}

func TestGoldenText(t *testing.T) {
	autoFailed := breakGlassActive()
	autoFailed.State = grants.Failed
	autoFailed.Failure = `role "prod-admin" does not exist in account 111111111111`
	many := make([]string, 25)
	for i := range many {
		many[i] = "U0APPR" + string(rune('A'+i)) + "X"
	}
	tests := []struct{ name, text string }{
		{"acknowledgement", Acknowledgement(pendingGroup(), []string{bob, carol, "U0DAVE004"})},
		{"acknowledgement_nobody_asked", Acknowledgement(pendingSTS(), nil)},
		{"acknowledgement_many_asked", Acknowledgement(pendingSTS(), many)},
		{"acknowledgement_extension", Acknowledgement(extension(), []string{bob})},
		{"acknowledgement_breakglass", Acknowledgement(breakGlassActive(), nil)},
		{"acknowledgement_breakglass_failed", Acknowledgement(autoFailed, nil)},
		{"help", Help(examples)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range mrkdwnProblems(tt.text) {
				t.Errorf("%s: %s", tt.name, p)
			}
			golden(t, tt.name, []byte(tt.text+"\n"))
		})
	}
	t.Run("fallback_text", func(t *testing.T) {
		var b strings.Builder
		for _, r := range []*grants.Request{pendingSTS(), pendingGroup(), extension(), activeGroup(), denied(), breakGlassActive()} {
			text, _ := AuditParent(r)
			b.WriteString("ApprovalText: " + ApprovalText(r) + "\nText:         " + Text(r) + "\nAuditParent:  " + text + "\n\n")
		}
		golden(t, "fallback_text", []byte(b.String()))
	})
}
