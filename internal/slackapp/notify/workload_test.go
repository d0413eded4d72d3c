package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/notify"
)

// noRecords answers that nothing has approvers: a workload's grant must
// not need them to stay out of Slack.
type noRecords struct{}

func (noRecords) Get(context.Context, grants.RequestID) (*grants.Request, error) {
	return nil, grants.ErrNotFound
}
func (noRecords) Approvers(context.Context, *grants.Request) ([]string, error) { return nil, nil }

// TestWorkloadGrantIsNeverPostedToADM: a workload has no Slack account,
// and its credentials go to it through the API alone: its granted,
// denied and revoked events post no DM and no review DM, credentials or
// not.
func TestWorkloadGrantIsNeverPostedToADM(t *testing.T) {
	p := newNotifierParts(t)
	s, q := p.slack, p.q
	m := notify.NewMessenger(noRecords{}, p.api, q, p.store, p.log)

	r := breakGlass()
	r.Requester = rules.User{Name: "github:repo:acme/infra:ref:refs/heads/main"}
	r.Workload = &rules.Workload{IssuerName: "github", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/infra:ref:refs/heads/main"}
	creds := &grants.Credentials{AccessKeyID: "ASIATEST", SecretAccessKey: "secret-key-never-in-slack", SessionToken: "token-never-in-slack"}
	for _, typ := range []grants.EventType{grants.EventGranted, grants.EventRevoked, grants.EventDenied, grants.EventGrantFailed} {
		m.Notify(t.Context(), grants.Event{Type: typ, At: time.Now(), Request: r, Credentials: creds})
	}
	q.Wait()
	for _, method := range []string{"chat.postMessage", "conversations.open"} {
		if n := len(s.Calls(method)); n != 0 {
			t.Errorf("%d %s calls for a workload's events, want none", n, method)
		}
	}
}
