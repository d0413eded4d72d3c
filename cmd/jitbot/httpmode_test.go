package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/goccy/go-yaml"

	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

const httpCatalog = `defaults:
  max_duration: 1h
  default_duration: 5m
  request_ttl: 30m
roles:
  admin:
    backend: aws_iam_group
    group: jit-admins
    iam_user: 'user.email.split("@")[0]'
    approvers: [ULEAD1]
    eligible: 'true'
`

// manifestHost is the placeholder host of the HTTP mode manifest.
const manifestHost = "https://jitbot.example.com"

// startHTTPBot runs the binary in HTTP mode, with no app-level token, on
// real Redis and moto (behind the recording proxy), and returns it with
// the fake's side of HTTP mode: posting, signed, to the request URLs of
// deploy/slack-app-manifest-http.yaml on the bot's JIT_SLACK_ADDR. It
// returns once the events URL passes Slack's url_verification.
func startHTTPBot(t *testing.T) (*bot, *slackfake.HTTPMode) {
	t.Helper()
	b := &bot{slack: testenv.StartSlack(t), redis: testenv.StartRedis(t), moto: testenv.StartMoto(t), logs: &lines{}}
	b.proxy = testenv.StartProxy(t, b.moto.URL())
	b.iam = iam.NewFromConfig(testenv.AWSConfig(t, b.moto.URL()))
	(&stack{iam: b.iam}).fixtures(t) // jit-admins and the IAM user alice
	b.slack.AddUser(slackfake.User{ID: "UALICE", Name: "alice", Email: "alice@example.com"})
	b.slack.AddUser(slackfake.User{ID: "ULEAD1", Name: "lead1", Email: "lead1@example.com"})
	b.catalog = filepath.Join(t.TempDir(), "roles.yaml")
	writeFile(t, b.catalog, httpCatalog)

	slackAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	b.env = cleanEnv(
		"JIT_SLACK_MODE=http", "SLACK_SIGNING_SECRET="+slackfake.DefaultSigningSecret, "JIT_SLACK_ADDR="+slackAddr,
		"SLACK_BOT_TOKEN="+b.slack.BotToken(), "SLACK_API_URL="+b.slack.APIURL(),
		"JIT_RULES="+b.catalog, "JIT_AUDIT_CHANNEL="+auditChannel, "REDIS_URL="+b.redis.URL(), "JIT_MIN_DURATION=1s",
		fmt.Sprintf("JIT_HTTP_ADDR=127.0.0.1:%d", testenv.FreePort(t)), "JIT_LOG_LEVEL=debug",
		"AWS_ENDPOINT_URL="+b.proxy.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
	)
	b.cmd = exec.Command(binary, "serve")
	b.cmd.Env = b.env
	b.cmd.Stderr = &lineWriter{l: b.logs}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { b.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			b.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("jitbot log:\n%s", b.logs.text())
		}
	})

	h := b.slack.HTTPMode("http://"+slackAddr, slackfake.DefaultSigningSecret)
	h.CommandsURL, h.InteractivityURL, h.EventsURL = manifestURLs(t, "http://"+slackAddr)
	var err error
	b.slack.WaitFor(t, "jitbot's events URL to pass url_verification", 20*time.Second, func() bool {
		_, err = h.SendURLVerification()
		return err == nil
	})
	return b, h
}

// manifestURLs returns the request URLs of the HTTP mode manifest, moved
// from its placeholder host to base.
func manifestURLs(t *testing.T, base string) (commands, interactivity, events string) {
	t.Helper()
	data, err := os.ReadFile("../../deploy/slack-app-manifest-http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct {
				URL string `yaml:"url"`
			} `yaml:"slash_commands"`
		}
		Settings struct {
			Events struct {
				RequestURL string `yaml:"request_url"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				RequestURL string `yaml:"request_url"`
			} `yaml:"interactivity"`
		}
	}
	if err := yaml.Unmarshal(data, &m); err != nil || len(m.Features.SlashCommands) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	move := func(u string) string {
		if !strings.HasPrefix(u, manifestHost+"/") {
			t.Fatalf("manifest URL %q is not on %s", u, manifestHost)
		}
		return base + strings.TrimPrefix(u, manifestHost)
	}
	return move(m.Features.SlashCommands[0].URL), move(m.Settings.Interactivity.RequestURL), move(m.Settings.Events.RequestURL)
}

// lineWriter adds what a process writes to lines, a line at a time.
type lineWriter struct {
	l    *lines
	rest []byte // a line not ended yet
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.rest = append(w.rest, p...)
	for {
		line, rest, ok := bytes.Cut(w.rest, []byte("\n"))
		if !ok {
			return len(p), nil
		}
		w.l.add(string(line))
		w.rest = rest
	}
}

// TestHTTPMode: jitbot in HTTP mode, driven as Slack drives it, takes a
// request to an IAM group from /jit to the grant and back out at expiry.
// A click signed with another secret, or replayed 6 minutes later, is
// refused and changes nothing; Slack's retry of a click is ignored.
func TestHTTPMode(t *testing.T) {
	b, h := startHTTPBot(t)

	cmd := h.SlashCommand(t, "UALICE", "request admin 5s fixing INC-42 replica lag")
	if cmd.Status != 200 || cmd.AckDelay() <= 0 {
		t.Fatalf("/jit request: status %d, ack delay %v (Slack allows %v)", cmd.Status, cmd.AckDelay(), slackfake.AckDeadline)
	}
	var ack string
	b.slack.WaitFor(t, "the acknowledgement", 10*time.Second, func() bool {
		if e := b.slack.Ephemerals("UALICE"); len(e) > 0 {
			ack = e[0].Text
			return true
		}
		return false
	})
	id := requestID(t, ack)
	dm := b.approvalDM(t, "ULEAD1", id)

	forged := *h
	forged.SigningSecret = "00000000000000000000000000000bad"
	stale := *h
	stale.Now = func() time.Time { return time.Now().Add(-6 * time.Minute) }
	for _, d := range []slackfake.HTTPDelivery{
		forged.Click(t, "ULEAD1", dm.Channel, dm.TS, "jit_approve", id),
		stale.Click(t, "ULEAD1", dm.Channel, dm.TS, "jit_approve", id),
	} {
		if d.Status != 401 || d.Acked() {
			t.Errorf("a forged or stale click: status %d, acked %v; want 401", d.Status, d.Acked())
		}
	}
	b.slack.WaitFor(t, "both refusals logged", 10*time.Second, func() bool {
		return logCount(b.logs, "Slack request refused", "signature does not match") == 1 &&
			logCount(b.logs, "Slack request refused", "more than 5 minutes") == 1
	})
	if n, m := b.proxy.Count("AddUserToGroup"), b.members(t); n != 0 || len(m) != 0 {
		t.Fatalf("after refused clicks: %d AddUserToGroup calls, members %v", n, m)
	}

	click := h.Click(t, "ULEAD1", dm.Channel, dm.TS, "jit_approve", id)
	if click.Status != 200 || click.AckDelay() <= 0 {
		t.Fatalf("Approve: status %d", click.Status)
	}
	b.dmWith(t, "UALICE", id, "jit-admins")
	if m := b.members(t); !slices.Equal(m, []string{"alice"}) {
		t.Errorf("jit-admins members = %v, want [alice]", m)
	}
	t.Logf("acknowledged in %v (/jit request) and %v (Approve)", cmd.AckDelay(), click.AckDelay())
	h.Retry(t, click)
	b.slack.WaitFor(t, "the retried click ignored", 10*time.Second, func() bool {
		return logCount(b.logs, "redelivered Slack request ignored") == 1
	})

	b.dmWith(t, "UALICE", id, "has ended")
	if m := b.members(t); len(m) != 0 {
		t.Errorf("jit-admins members after expiry = %v", m)
	}
	if a, r := b.proxy.Count("AddUserToGroup"), b.proxy.Count("RemoveUserFromGroup"); a != 1 || r != 1 {
		t.Errorf("AddUserToGroup %d, RemoveUserFromGroup %d; want 1 and 1", a, r)
	}
	if log := b.logs.text(); strings.Contains(log, slackfake.DefaultSigningSecret) {
		t.Errorf("the signing secret is in jitbot's log")
	}
}

// TestHTTPModeRefusesBadConfig: in HTTP mode the signing secret, not the
// app-level token, is what serve needs; a wrong one stops it with one line
// that does not show it.
func TestHTTPModeRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{name: "no tokens", want: "jitbot: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET: required for serve: the bot token (xoxb-…) and the app's signing secret (Basic Information → App Credentials); docs/http-mode.md shows where to find them"},
		{name: "verification token as secret", env: []string{"SLACK_BOT_TOKEN=xoxb-test", "SLACK_SIGNING_SECRET=abcdefghijklmnopqrstuvwx"},
			want: "jitbot: SLACK_SIGNING_SECRET: expected the app's signing secret (Basic Information → App Credentials → Signing Secret, 32 characters), got 24 characters"},
		{name: "slack endpoints on the probes' port", env: []string{"JIT_SLACK_ADDR=:8080"},
			want: "jitbot: JIT_SLACK_ADDR: expected a port other than JIT_HTTP_ADDR's 8080: Slack's endpoints are public, the probes and /metrics are not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, cleanEnv(append([]string{"JIT_SLACK_MODE=http"}, tt.env...)...), "serve")
			if r.code != 2 || strings.TrimSpace(r.stderr) != tt.want {
				t.Errorf("exit %d, stderr %q\nwant exit 2, %q", r.code, r.stderr, tt.want)
			}
		})
	}
}
