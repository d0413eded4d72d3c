package handlers_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/app"
	"github.com/jitbot/jitbot/internal/app/apptest"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// newApp builds the bot as jitbot serve builds it (internal/app: embedded
// store, durable audit log, audit channel C0AUDIT001, messenger, Slack
// directory with its production cache times) on the Slack fake, with
// catalog and the backends of opts in place of AWS. It is closed when the
// test ends.
func newApp(t testing.TB, fake *slackfake.Server, log *slog.Logger, catalog string, opts app.Options) *app.App {
	t.Helper()
	cfg := apptest.Config(t, fake, catalog)
	cfg.AuditChannel = "C0AUDIT001"
	cfg.MinDuration = config.Duration(time.Second)
	a, err := app.New(t.Context(), cfg, log, opts)
	if err != nil {
		t.Fatalf("build the bot: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// runUntilCleanup runs run in the background until the test ends, and
// waits for it to return before the clean-ups registered earlier (the
// app's Close) run.
func runUntilCleanup(t testing.TB, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := run(ctx); err != nil {
			t.Errorf("the bot stopped: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}
