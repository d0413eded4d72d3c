package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
)

const incidentRoles = `  firefight:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    approvers: [ULEAD1]
    eligible: '"sre" in user.groups'
    auto_approve: 'request.incident != "" && "oncall" in user.groups'
    incident_pattern: '^#?[0-9]+$'
    end_with_incident: true
`

// httpAddr is the address of the bot's JIT_HTTP_ADDR listener.
func (b *bot) httpAddr(t *testing.T) string {
	t.Helper()
	for _, kv := range slices.Backward(b.env) {
		if v, ok := strings.CutPrefix(kv, "JIT_HTTP_ADDR="); ok {
			return v
		}
	}
	t.Fatal("no JIT_HTTP_ADDR")
	return ""
}

// TestSlackIncidentBoundGrants: break-glass needs the incident open in
// PagerDuty; a grant of an end_with_incident role ends when its incident
// is resolved, at once through the signed webhook, and by polling when
// the webhook is not delivered; a forged webhook ends nothing.
func TestSlackIncidentBoundGrants(t *testing.T) {
	pd := pagerdutyfake.Start(t)
	const secret = "whsec-test-0123456789"
	b := startBotWith(t, incidentRoles,
		"JIT_PAGERDUTY_TOKEN="+pd.Token(), "JIT_PAGERDUTY_API_URL="+pd.URL(),
		"JIT_PAGERDUTY_WEBHOOK_SECRET="+secret, "JIT_PAGERDUTY_POLL_INTERVAL=2s")
	webhook := "http://" + b.httpAddr(t) + "/pagerduty/webhook"
	pd.SetWebhook(webhook, secret)
	open := pd.AddIncident(4242, "primary database down")
	pd.AddIncident(4243, "replica lag")
	pd.AddIncident(4244, "already over")
	if err := pd.Resolve("4244"); err != nil {
		t.Fatal(err)
	}

	// A resolved or unknown incident is not break-glass.
	for ref, want := range map[string]string{"4244": "is resolved in PagerDuty", "9999": "not known to PagerDuty"} {
		got := b.command(t, "UBOB", "request firefight 30m --incident "+ref+" the primary is down again")
		if strings.Contains(got, "BREAK-GLASS") || !strings.Contains(got, want) {
			t.Errorf("incident %s: %s; want the approvers and %q", ref, got, want)
		}
	}

	got := b.command(t, "UBOB", "request firefight 30m --incident #4242 the primary is down")
	id := requestID(t, got)
	b.slack.WaitFor(t, "bob is granted at once", 15*time.Second, func() bool { return slices.Contains(b.members(t), "bob") })

	// A forged delivery, and a replayed one for an incident still open,
	// end nothing.
	body, err := pd.EventBody("incident.resolved", open)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := pagerdutyfake.SendWebhook(t.Context(), webhook, pagerdutyfake.Sign("not-the-secret", body), body); err != nil || code != http.StatusUnauthorized {
		t.Errorf("forged webhook: %d, %v; want 401", code, err)
	}
	if code, err := pagerdutyfake.SendWebhook(t.Context(), webhook, pagerdutyfake.Sign(secret, body), body); err != nil || code/100 != 2 {
		t.Errorf("signed webhook for an open incident: %d, %v", code, err)
	}
	time.Sleep(3 * time.Second)
	if !slices.Contains(b.members(t), "bob") {
		t.Fatal("a webhook for an incident PagerDuty says is open ended the grant")
	}

	resolved := time.Now()
	if err := pd.Resolve(open); err != nil {
		t.Fatalf("webhook delivery: %v", err)
	}
	b.slack.WaitFor(t, "bob's access ends with the incident", 10*time.Second, func() bool { return !slices.Contains(b.members(t), "bob") })
	t.Logf("resolved to revoked through the webhook: %s", time.Since(resolved).Round(time.Millisecond))
	b.dmWith(t, "UBOB", id, "incident #4242 was resolved")
	b.waitAuditText(t, id, "incident #4242 was resolved")

	// Without the webhook, the poller finds it.
	pd.SetWebhook("", "")
	id2 := requestID(t, b.command(t, "UBOB", "request firefight 30m --incident 4243 replica lag again"))
	b.slack.WaitFor(t, "bob is granted at once", 15*time.Second, func() bool { return slices.Contains(b.members(t), "bob") })
	if err := pd.Resolve("4243"); err != nil {
		t.Fatal(err)
	}
	b.slack.WaitFor(t, "the poller ends bob's access", 15*time.Second, func() bool { return !slices.Contains(b.members(t), "bob") })
	b.waitAuditText(t, id2, "incident 4243 was resolved")
}
