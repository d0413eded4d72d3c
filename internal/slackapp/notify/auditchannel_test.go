package notify_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackapp/notify"
	"github.com/jitbot/jitbot/internal/slackapp/queue"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

const channel = "C0AUDIT001"

// notifierParts are what a notifier is built on in these tests: the
// Slack fake and a client of it, an embedded store, a fast queue, a log.
type notifierParts struct {
	slack *slackfake.Server
	api   *slack.Client
	store *redisstore.Store
	q     *queue.Queue
	log   *slog.Logger
}

func newNotifierParts(t *testing.T) notifierParts {
	t.Helper()
	s := testenv.StartSlack(t)
	store, closeStore, err := redisstore.NewEmbedded(redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeStore() })
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	q := queue.New(log)
	q.InitialInterval = 10 * time.Millisecond
	return notifierParts{slack: s, api: slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL())), store: store, q: q, log: log}
}

func newTrail(t *testing.T) (*notify.AuditChannel, *slackfake.Server, *queue.Queue) {
	t.Helper()
	p := newNotifierParts(t)
	return notify.NewAuditChannel(p.api, channel, p.store, p.q, nil, p.log), p.slack, p.q
}

func breakGlass() grants.Request {
	return grants.Request{
		ID: "JIT-7K3QX2", State: grants.Active, Role: "readonly", Backend: grants.BackendSTS, AutoApproved: true,
		Requester: rules.User{ID: "UBOB", Name: "bob", Email: "bob@example.com"},
		Duration:  time.Hour, Reason: "database on fire <!channel>", Incident: "INC-42",
		CreatedAt: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), GrantedAt: time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC),
		ExpiresAt: time.Date(2026, 11, 23, 11, 0, 1, 0, time.UTC), AccessKeyID: "ASIATEST",
	}
}

// TestOneParentPerRequestAndLoudBreakGlass: the first event posts the
// parent, later ones update it and reply in its thread; break-glass replies
// are broadcast to the channel; credentials never reach Slack.
func TestOneParentPerRequestAndLoudBreakGlass(t *testing.T) {
	trail, s, q := newTrail(t)
	r := breakGlass()
	pending := r
	pending.State = grants.Granting
	creds := &grants.Credentials{AccessKeyID: "ASIATEST", SecretAccessKey: "very-secret", SessionToken: "very-token"}
	ctx := context.Background()
	// One at a time, as events come when Slack keeps up: each updates the
	// parent (TestFloodUpdatesTheParentOnce is the other case).
	trail.Notify(ctx, grants.Event{Type: grants.EventRequested, Request: pending, Actor: "UBOB"})
	q.Wait()
	trail.Notify(ctx, grants.Event{Type: grants.EventAutoApproved, Request: pending})
	q.Wait()
	trail.Notify(ctx, grants.Event{Type: grants.EventGranted, Request: r, Credentials: creds})
	q.Wait()

	msgs := s.Messages(channel)
	var parents, replies []slackfake.Message
	for _, m := range msgs {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			parents = append(parents, m)
		} else {
			replies = append(replies, m)
		}
	}
	if len(parents) != 1 || len(replies) != 3 {
		t.Fatalf("%d parents and %d replies, want 1 and 3: %+v", len(parents), len(replies), msgs)
	}
	if p := parents[0]; p.Updates != 2 || !strings.Contains(p.Text+string(p.Blocks), "BREAK-GLASS") {
		t.Errorf("parent updated %d times (want 2), text %q", p.Updates, p.Text)
	}
	broadcast := 0
	for _, c := range s.Calls("chat.postMessage") {
		if c.Params.Get("reply_broadcast") == "true" {
			broadcast++
		}
	}
	if broadcast != 2 { // auto_approved, and granted of a break-glass request
		t.Errorf("%d replies broadcast to the channel, want 2", broadcast)
	}
	for _, c := range s.Calls("") {
		for _, v := range c.Params {
			if text := strings.Join(v, " "); strings.Contains(text, "very-secret") || strings.Contains(text, "very-token") {
				t.Errorf("credentials sent to Slack in %s", c.Method)
			}
		}
	}
}

// TestFloodFoldsARequestsEvents: when Slack's rate limit holds the audit
// posts back, the events of a request pile up; one thread reply then lists
// them all, in order, and one update brings the parent to the state they
// led to.
func TestFloodFoldsARequestsEvents(t *testing.T) {
	trail, s, q := newTrail(t)
	s.RateLimit("chat.postMessage", 1, time.Second) // the parent's first post waits a second
	r := breakGlass()
	r.AutoApproved = false
	states := []grants.State{grants.Pending, grants.Granting, grants.Active, grants.Active, grants.Revoked}
	types := []grants.EventType{grants.EventRequested, grants.EventApproved, grants.EventGranted, grants.EventExpiring, grants.EventRevoked}
	for i, typ := range types {
		e := grants.Event{Type: typ, Request: r}
		e.Request.State = states[i]
		trail.Notify(context.Background(), e)
	}
	q.Wait()

	var parent slackfake.Message
	var replies []string
	for _, m := range s.Messages(channel) {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			parent = m
		} else {
			replies = append(replies, m.Text)
		}
	}
	if len(replies) == 0 || len(replies) >= len(types) {
		t.Fatalf("%d thread replies for %d events, want them folded into fewer: %q", len(replies), len(types), replies)
	}
	lines := strings.Split(strings.Join(replies, "\n"), "\n• ") // an event's line may have lines of its own
	if len(lines) != len(types) {
		t.Fatalf("%d event lines in the thread, want one per event (%d): %q", len(lines), len(types), lines)
	}
	if !strings.Contains(lines[0], "request") || !strings.Contains(strings.ToLower(lines[len(lines)-1]), "revoked") {
		t.Errorf("events out of order: %q", lines)
	}
	if n := len(s.Calls("chat.update")); n > 1 || parent.Updates > 1 {
		t.Errorf("parent updated %d times (%d chat.update calls); want at most once", parent.Updates, n)
	}
	if got := parent.Text + string(parent.Blocks); !strings.Contains(strings.ToUpper(got), "REVOKED") {
		t.Errorf("parent does not show the last state, revoked: %s", got)
	}
}

func TestNoChannelNoPosts(t *testing.T) {
	s := testenv.StartSlack(t)
	q := queue.New(slog.New(slog.DiscardHandler))
	api := slack.New(s.BotToken(), slack.OptionAPIURL(s.APIURL()))
	trail := notify.NewAuditChannel(api, "", nil, q, nil, slog.New(slog.DiscardHandler))
	trail.Notify(context.Background(), grants.Event{Type: grants.EventRequested, Request: breakGlass()})
	q.Wait()
	if n := len(s.Calls("chat.postMessage")); n != 0 {
		t.Errorf("%d posts without an audit channel", n)
	}
}
