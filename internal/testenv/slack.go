package testenv

import (
	"testing"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// StartSlack starts the Slack fake for the test and closes it, with every
// websocket and goroutine it started, when the test ends. Unlike Redis and
// moto it is no separate process: slackfake runs in the test's own process,
// on a free loopback port, and speaks the Web API and Socket Mode over real
// HTTP and websockets, so the real slack-go client in the bot reaches it
// through SLACK_API_URL=s.APIURL(), SLACK_APP_TOKEN=s.AppToken() and
// SLACK_BOT_TOKEN=s.BotToken(). It fails the test when it cannot listen.
func StartSlack(t testing.TB, opts ...slackfake.Option) *slackfake.Server {
	t.Helper()
	return slackfake.Start(t, opts...)
}
