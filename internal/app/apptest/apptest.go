// Package apptest builds the configuration of a bot that the tests run in
// process with internal/app, against the Slack fake.
package apptest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// Config is the default configuration with the fake's tokens and API URL,
// catalog written to a file of the test's own, the embedded store, and
// the probes on a free loopback port. Tests change what they need on it.
func Config(t testing.TB, fake *slackfake.Server, catalog string) config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roles.yaml")
	if err := os.WriteFile(path, []byte(catalog), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	cfg.SlackAppToken, cfg.SlackBotToken, cfg.SlackAPIURL = fake.AppToken(), fake.BotToken(), fake.APIURL()
	cfg.Rules, cfg.HTTPAddr = path, "127.0.0.1:0"
	return cfg
}
