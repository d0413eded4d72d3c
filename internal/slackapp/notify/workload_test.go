package notify_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/notify"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
	"github.com/jitbot/jitbot/internal/testenv"
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
	s := testenv.StartSlack(t)
	store, closeStore, err := redisstore.NewEmbedded(redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeStore() })
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	q := queue.New(log)
	q.InitialInterval = 10 * time.Millisecond
	m := notify.NewMessenger(noRecords{}, slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL())), q, store, log)

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
