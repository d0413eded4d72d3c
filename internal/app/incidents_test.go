package app_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/app"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

const incidentCatalog = `roles:
  breakglass:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-breakglass
    approvers: [ULEAD1]
    eligible: 'true'
    auto_approve: 'request.incident != ""'
    incident_pattern: '^#?[0-9]+$'
    end_with_incident: true
`

const webhookSecret = "pd-webhook-secret"

// TestPagerDutyWebhookAttacks: whoever can reach /pagerduty/webhook ends
// nothing PagerDuty does not confirm. Unsigned, signed with a guess, over
// the size limit, or signed and saying "resolved" (a replay, or a body
// signed by a leaked secret) of an incident PagerDuty says is open: every
// grant stays. A genuine delivery for one incident ends its grants only,
// whatever the others' references read like.
func TestPagerDutyWebhookAttacks(t *testing.T) {
	pd := pagerdutyfake.Start(t)
	open := pd.AddIncident(42, "database on fire")
	other := pd.AddIncident(43, "cache cold")
	fake := testenv.StartSlack(t)
	fake.AddUser(slackfake.User{ID: "UALICE", Name: "alice", Email: "alice@example.com"})
	fake.AddUser(slackfake.User{ID: "ULEAD1", Name: "lead1", Email: "lead1@example.com"})
	cfg := testConfig(t, fake, incidentCatalog)
	cfg.PagerDutyToken, cfg.PagerDutyAPIURL, cfg.PagerDutyWebhookSecret = pd.Token(), pd.URL(), webhookSecret
	cfg.PagerDutyPollInterval = config.Duration(time.Hour) // the webhook alone acts here
	a, err := app.New(t.Context(), cfg, quiet, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	fake.WaitFor(t, "connected", 10*time.Second, func() bool { return fake.Connections() > 0 })

	svc := a.Service()
	grant := func(incident string) grants.RequestID {
		r, err := svc.Request(t.Context(), grants.RequestInput{UserID: "UALICE", Role: "breakglass", Incident: incident, Reason: "paged: the primary is down"})
		if err != nil || r.State != grants.Active {
			t.Fatalf("break-glass for %s: %v, %+v", incident, err, r)
		}
		return r.ID
	}
	on42, on43, onHash43 := grant("42"), grant("43"), grant("#43")
	state := func(id grants.RequestID) grants.State {
		r, err := svc.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}
	url := "http://" + a.HTTPAddr().String() + "/pagerduty/webhook"
	send := func(sig string, body []byte) int {
		code, err := pagerdutyfake.SendWebhook(t.Context(), url, sig, body)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}

	body, err := pd.EventBody("incident.resolved", open)
	if err != nil {
		t.Fatal(err)
	}
	says := bytes.Replace(body, []byte(`"triggered"`), []byte(`"resolved"`), 1)
	if bytes.Equal(says, body) {
		t.Fatalf("setup: the body does not carry the status: %s", body)
	}
	huge := append(bytes.Clone(says[:len(says)-2]), bytes.Repeat([]byte(" "), 2<<20)...)
	huge = append(huge, says[len(says)-2:]...)
	for _, tc := range []struct {
		name string
		sig  string
		body []byte
		want int
	}{
		{"unsigned", "", says, http.StatusUnauthorized},
		{"signed with a guess", pagerdutyfake.Sign("guess", says), says, http.StatusUnauthorized},
		{"signature of another body", pagerdutyfake.Sign(webhookSecret, body), says, http.StatusUnauthorized},
		{"huge", pagerdutyfake.Sign(webhookSecret, huge), huge, http.StatusRequestEntityTooLarge},
		{"signed, says resolved, PagerDuty says open", pagerdutyfake.Sign(webhookSecret, says), says, http.StatusAccepted},
	} {
		if got := send(tc.sig, tc.body); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
		for _, id := range []grants.RequestID{on42, on43, onHash43} {
			if s := state(id); s != grants.Active {
				t.Fatalf("after %s: %s is %s, want active", tc.name, id, s)
			}
		}
	}

	// Incident 43 is resolved in PagerDuty; its delivery names it by ID.
	if err := pd.Resolve(other); err != nil {
		t.Fatal(err)
	}
	body43, err := pd.EventBody("incident.resolved", other)
	if err != nil {
		t.Fatal(err)
	}
	if got := send(pagerdutyfake.Sign(webhookSecret, body43), body43); got != http.StatusAccepted {
		t.Fatalf("genuine delivery: %d", got)
	}
	for id, want := range map[grants.RequestID]grants.State{on42: grants.Active, on43: grants.Revoked, onHash43: grants.Revoked} {
		if s := state(id); s != want {
			t.Errorf("%s: %s, want %s", id, s, want)
		}
	}
	// The same delivery again (PagerDuty retries, or someone replays it)
	// ends nothing more.
	if got := send(pagerdutyfake.Sign(webhookSecret, body43), body43); got != http.StatusAccepted || state(on42) != grants.Active {
		t.Errorf("replayed delivery: %d, grant on 42 %s", got, state(on42))
	}
}
