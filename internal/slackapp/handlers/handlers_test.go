package handlers_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/app"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// These tests run the whole bot in process, as internal/app builds it
// (domain, embedded store, Slack layer), against the Slack fake, with a backend that only records,
// so that timing can be shortened: the five-minute warning becomes two
// seconds. The built binary is tested the same way in cmd/jitbot.

const catalog = `defaults:
  max_duration: 1h
  default_duration: 5s
  request_ttl: 30m
roles:
  readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    approvers: [ULEAD1]
    eligible: 'true'
`

// backend issues fake credentials and records what it was asked.
type backend struct {
	mu      sync.Mutex
	granted []grants.Grant
}

func (b *backend) Grant(_ context.Context, g grants.Grant) (grants.Issued, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.granted = append(b.granted, g)
	c := &grants.Credentials{AccessKeyID: "ASIATEST", SecretAccessKey: "secret-" + string(g.RequestID), SessionToken: "token", Expiration: g.Expires}
	return grants.Issued{Credentials: c, CredsExpire: g.Expires}, nil
}

func (b *backend) Revoke(context.Context, grants.Grant) (grants.Revocation, error) {
	return grants.Revocation{}, nil
}

func (b *backend) Cleanup(context.Context, grants.Grant) error { return nil }

type env struct {
	slack   *slackfake.Server
	svc     *grants.Service
	backend *backend
}

func start(t *testing.T) *env {
	t.Helper()
	e := &env{slack: testenv.StartSlack(t), backend: &backend{}}
	e.slack.AddUser(slackfake.User{ID: "UALICE", Name: "alice", Email: "alice@example.com"})
	e.slack.AddUser(slackfake.User{ID: "ULEAD1", Name: "lead1", Email: "lead1@example.com"})
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	a := newApp(t, e.slack, log, catalog, app.Options{
		Backends: map[string]grants.Backend{grants.BackendSTS: e.backend, grants.BackendGroup: e.backend},
		Tune: func(o *grants.Options) {
			o.ExpiryWarning = 2 * time.Second
			o.MaxIdle = 200 * time.Millisecond
		},
	})
	e.svc = a.Service()
	runUntilCleanup(t, a.Run)
	e.slack.WaitFor(t, "connected", 10*time.Second, func() bool { return e.slack.Connections() > 0 })
	return e
}

func (e *env) dm(t *testing.T, user string, want ...string) slackfake.Message {
	t.Helper()
	return e.slack.WaitMessage(t, user+" gets "+strings.Join(want, ", "), 15*time.Second, func(m slackfake.Message) bool {
		if m.Channel != e.slack.DMChannel(user) {
			return false
		}
		all := m.Text + string(m.Blocks)
		for _, w := range want {
			if !strings.Contains(all, w) {
				return false
			}
		}
		return true
	})
}

// TestExpiryWarningExtendButton: the requester is warned before the end,
// clicks Extend, submits the extra time, the approver approves, and the
// extension runs on from the original's expiry.
func TestExpiryWarningExtendButton(t *testing.T) {
	e := start(t)
	e.slack.SlashCommand(t, "UALICE", "request readonly 5s checking replica lag for INC-42")
	approval := e.dm(t, "ULEAD1", "jit_approve")
	id := approval.Text[strings.Index(approval.Text, "JIT-"):][:10]
	e.slack.Click(t, "ULEAD1", approval.Channel, approval.TS, "jit_approve", id)

	warning := e.dm(t, "UALICE", id, "jit_extend")
	e.slack.Click(t, "UALICE", warning.Channel, warning.TS, "jit_extend", id)
	var view slackfake.View
	e.slack.WaitFor(t, "the extend modal opens", 10*time.Second, func() bool {
		v := e.slack.Views("UALICE")
		if len(v) > 0 {
			view = v[len(v)-1]
		}
		return len(v) > 0
	})
	ack := e.slack.SubmitView(t, "UALICE", view.ID, map[string]map[string]any{"duration": {"duration": slackfake.PlainText("30m")}}).Ack(t, 5*time.Second)
	if strings.Contains(string(ack), "errors") {
		t.Fatalf("extend modal refused: %s", ack)
	}

	ext := e.slack.WaitMessage(t, "approval DM for the extension", 10*time.Second, func(m slackfake.Message) bool {
		return m.Channel == e.slack.DMChannel("ULEAD1") && strings.Contains(m.Text+string(m.Blocks), id) && m.TS != approval.TS
	})
	extID := ext.Text[strings.Index(ext.Text, "JIT-"):][:10]
	e.slack.Click(t, "ULEAD1", ext.Channel, ext.TS, "jit_approve", extID)
	e.dm(t, "UALICE", extID, "export AWS_SECRET_ACCESS_KEY=secret-"+extID)

	orig, _ := e.svc.Get(t.Context(), grants.RequestID(id))
	got, _ := e.svc.Get(t.Context(), grants.RequestID(extID))
	if got.Extends != orig.ID || got.State != grants.Active {
		t.Fatalf("extension %s: extends %q, state %s", got.ID, got.Extends, got.State)
	}
	// It runs on from the original's end, or from its own start if the
	// 5 s original had already ended when it was approved.
	want := orig.ExpiresAt.Add(30 * time.Minute)
	if got.GrantedAt.After(orig.ExpiresAt) {
		want = got.GrantedAt.Add(30 * time.Minute).Truncate(time.Second).Add(time.Second)
	}
	if d := got.ExpiresAt.Sub(want); d < -time.Second || d > time.Second {
		t.Errorf("extension expires %v, want %v", got.ExpiresAt, want)
	}
}
