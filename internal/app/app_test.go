package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/app"
	"github.com/jitbot/jitbot/internal/app/apptest"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

const catalog = `roles:
  readonly:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    approvers: [ULEAD1]
    eligible: 'true'
`

// testConfig is a dry run on the embedded store and fake, with catalog.
func testConfig(t *testing.T, fake *slackfake.Server, catalog string) config.Config {
	cfg := apptest.Config(t, fake, catalog)
	cfg.DryRun = true
	return cfg
}

var quiet = slog.New(slog.DiscardHandler)

// TestNewRefusesConfiguration: what the operator must fix comes back as
// a *ConfigError, which jitbot serve turns into exit status 2.
func TestNewRefusesConfiguration(t *testing.T) {
	fake := testenv.StartSlack(t)
	_, err := app.New(t.Context(), testConfig(t, fake, "roles: {}\n"), quiet, app.Options{})
	var ce *app.ConfigError
	var le *rules.LoadError
	if !errors.As(err, &ce) || !errors.As(err, &le) {
		t.Errorf("catalog that does not load: %v, want a *ConfigError with a *rules.LoadError", err)
	}
	cfg := testConfig(t, fake, catalog)
	cfg.SlackBotToken = "xoxb-revoked"
	_, err = app.New(t.Context(), cfg, quiet, app.Options{})
	var cfgErr *config.Error
	if !errors.As(err, &ce) || !errors.As(err, &cfgErr) || cfgErr.Var != "SLACK_BOT_TOKEN" {
		t.Errorf("bot token Slack refuses: %v, want a *ConfigError naming SLACK_BOT_TOKEN", err)
	}
}

// TestRunServesProbesAndStops: a built bot connects, answers its probes
// and returns nil when its context ends.
func TestRunServesProbesAndStops(t *testing.T) {
	fake := testenv.StartSlack(t)
	a, err := app.New(t.Context(), testConfig(t, fake, catalog), quiet, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	fake.WaitFor(t, "connected", 10*time.Second, func() bool { return fake.Connections() > 0 })
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + a.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
