package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jitbot/jitbot/internal/app"
	"github.com/jitbot/jitbot/internal/config"
	"github.com/jitbot/jitbot/internal/rules"
)

// serve runs the bot until ctx is done (SIGINT or SIGTERM), then stops
// taking new work and lets work in flight finish.
func serve(ctx context.Context, stderr io.Writer) error {
	cfg, err := config.Load()
	if err == nil {
		err = cfg.CheckServe()
	}
	if err != nil {
		fmt.Fprintln(stderr, "jitbot:", err)
		return exitError{2}
	}
	return runBot(ctx, cfg, newLogger(stderr, cfg.LogLevel), stderr)
}

// runBot is the bot, configured by cfg, until ctx is done. serve runs it
// with the environment's configuration; jitbot demo with its own, against
// the Slack fake, so the demo shows the wiring that runs in production.
// A configuration the bot cannot run with (a catalog that does not load,
// a token Slack refuses) is printed on stderr and exits with status 2.
func runBot(ctx context.Context, cfg config.Config, log *slog.Logger, stderr io.Writer) error {
	bot, err := app.New(ctx, cfg, log, app.Options{Version: buildVersion()})
	if err == nil {
		defer bot.Close()
		err = bot.Run(ctx)
	}
	var ce *app.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	if le := (*rules.LoadError)(nil); errors.As(ce.Err, &le) {
		printLoadError(stderr, le)
	} else {
		fmt.Fprintln(stderr, "jitbot:", ce.Err)
	}
	return exitError{2}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level))) // checked by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
