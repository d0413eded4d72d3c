package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/testenv"
)

// binary is the jitbot binary built once for the tests that run it from
// the outside, as an operator would.
var binary string

func TestMain(m *testing.M) {
	if log := os.Getenv(awsShimEnv); log != "" {
		os.Exit(runAWSShim(log)) // a stand-in for a pipeline's own program
	}
	dir, err := os.MkdirTemp("", "jitbot-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "jitbot")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v0.0.0-test", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build jitbot: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the environment without any jitbot, Slack or Redis setting
// of the machine running the tests.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SLACK_") || strings.HasPrefix(kv, "JIT_") || strings.HasPrefix(kv, "REDIS_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "JIT_SIGNING_KEY="+testSigningKey), extra...)
}

// testSigningKey is the JIT_SIGNING_KEY of every jitbot the tests start:
// serve requires one with REDIS_URL, and audit verify checks the chain
// with it.
const testSigningKey = "test-signing-key-0123456789abcdef-not-a-secret"

type result struct {
	code           int
	stdout, stderr string
}

func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Env = env
	cmd.Dir = "../.." // so the default JIT_RULES (rules/roles.yaml) is found
	r, err := runCommand(cmd)
	if err != nil {
		t.Fatalf("run jitbot %v: %v", args, err)
	}
	return r
}

// runCommand runs cmd and returns its exit status and output; err is
// for a command that could not run at all.
func runCommand(cmd *exec.Cmd) (result, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	return result{code, stdout.String(), stderr.String()}, err
}

func TestVersionAndUsage(t *testing.T) {
	r := runBinary(t, cleanEnv(), "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "jitbot v0.0.0-test (go") {
		t.Errorf("version: %+v", r)
	}
	r = runBinary(t, cleanEnv())
	if r.code != 2 || !strings.Contains(r.stderr, "usage: jitbot <command>") {
		t.Errorf("no arguments: %+v", r)
	}
	r = runBinary(t, cleanEnv(), "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %+v", r)
	}
}

func TestRulesCheck(t *testing.T) {
	r := runBinary(t, cleanEnv(), "rules", "check")
	if r.code != 0 || !strings.Contains(r.stdout, "rules/roles.yaml: 5 roles, no problems (sha256 ") {
		t.Errorf("example catalog: %+v", r)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, bad, `roles:
  prod-admin:
    backend: aws_iam_group
    group: jit-prod-admin
    iam_user: 'user.email'
    approvers: ["@platform-leads"]
    approvals_required: 0
    eligible: 'user.emial.endsWith("@example.com")'
  prod-ro:
    backend: aws_ssm
    approvers: [U0AAA]
    eligible: 'true'
`)
	r = runBinary(t, cleanEnv(), "rules", "check", bad)
	want := []string{
		bad + ":7: role prod-admin: approvals_required must be at least 1, got 0",
		bad + ":8: role prod-admin: eligible: undefined field 'emial' (column 5 of the expression)",
		bad + `:10: role prod-ro: unknown backend "aws_ssm" (known: aws_sts, aws_iam_group, aws_sso, aws_sso_group)`,
		"3 problems",
	}
	if r.code != 1 || strings.TrimSpace(r.stderr) != strings.Join(want, "\n") {
		t.Errorf("bad catalog: exit %d\n%s\nwant exit 1\n%s", r.code, r.stderr, strings.Join(want, "\n"))
	}
	r = runBinary(t, cleanEnv("JIT_RULES="+bad), "rules", "check")
	if r.code != 1 {
		t.Errorf("JIT_RULES not honoured: %+v", r)
	}
	r = runBinary(t, cleanEnv(), "rules", "check", filepath.Join(t.TempDir(), "missing.yaml"))
	if r.code != 1 || !strings.Contains(r.stderr, "cannot read the role catalog") {
		t.Errorf("missing file: %+v", r)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	tokens := []string{"SLACK_APP_TOKEN=xapp-1-test", "SLACK_BOT_TOKEN=xoxb-test"}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{name: "no tokens", want: `jitbot: SLACK_APP_TOKEN, SLACK_BOT_TOKEN: required for serve: the app-level token (xapp-…, with connections:write) and the bot token (xoxb-…); README.md, "Create the Slack app", shows where to find them`},
		{name: "no bot token", env: []string{"SLACK_APP_TOKEN=xapp-1"}, want: `jitbot: SLACK_BOT_TOKEN: required for serve: the bot token (xoxb-…); README.md, "Create the Slack app", shows where to find them`},
		{name: "bad duration", env: append([]string{"JIT_MIN_DURATION=5 minutes"}, tokens...), want: `jitbot: JIT_MIN_DURATION: expected a duration such as 90s, 15m, 1h30m or 1d, got "5 minutes"`},
		{name: "bad redis url", env: append([]string{"REDIS_URL=localhost:6379"}, tokens...), want: `jitbot: REDIS_URL: expected a redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster:// URL, got scheme "localhost"`},
		{name: "redis without signing key", env: append([]string{"REDIS_URL=redis://127.0.0.1:6379/0", "JIT_SIGNING_KEY="}, tokens...), want: "jitbot: JIT_SIGNING_KEY: required for serve with REDIS_URL: a secret of at least 32 bytes that MACs records and the audit chain (for example `openssl rand -base64 48`); keep it out of Redis"},
		{name: "short signing key", env: append([]string{"JIT_SIGNING_KEY=short"}, tokens...), want: "jitbot: JIT_SIGNING_KEY: expected at least 32 bytes (for example `openssl rand -base64 48`), got 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, cleanEnv(tt.env...), "serve")
			if r.code != 2 || strings.TrimSpace(r.stderr) != tt.want {
				t.Errorf("exit %d, stderr %q\nwant exit 2, %q", r.code, r.stderr, tt.want)
			}
		})
	}
	t.Run("token Slack refuses", func(t *testing.T) {
		slack := testenv.StartSlack(t)
		catalog, err := filepath.Abs("../../rules/roles.yaml")
		if err != nil {
			t.Fatal(err)
		}
		r := runBinary(t, cleanEnv("SLACK_APP_TOKEN="+slack.AppToken(), "SLACK_BOT_TOKEN=xoxb-revoked", "SLACK_API_URL="+slack.APIURL(),
			"JIT_RULES="+catalog, "JIT_HTTP_ADDR=127.0.0.1:0"), "serve")
		if want := "jitbot: SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)"; r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr %q\nwant exit 2 and %q", r.code, r.stderr, want)
		}
	})
	// The app token is only used to open the socket, after start: jitbot
	// must not run on, looking healthy, without a connection.
	t.Run("app token Slack refuses", func(t *testing.T) {
		slack := testenv.StartSlack(t)
		catalog, err := filepath.Abs("../../rules/roles.yaml")
		if err != nil {
			t.Fatal(err)
		}
		r := runBinary(t, cleanEnv("SLACK_APP_TOKEN=xapp-1-revoked", "SLACK_BOT_TOKEN="+slack.BotToken(), "SLACK_API_URL="+slack.APIURL(),
			"JIT_RULES="+catalog, "JIT_HTTP_ADDR=127.0.0.1:0", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_ENDPOINT_URL=http://127.0.0.1:9"), "serve")
		if want := "jitbot: SLACK_APP_TOKEN: Slack refused the app token (invalid_auth)"; r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr %q\nwant exit 2 and %q", r.code, r.stderr, want)
		}
	})
	t.Run("bad catalog", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		writeFile(t, bad, "roles: {}\n")
		r := runBinary(t, cleanEnv(append(tokens, "JIT_RULES="+bad)...), "serve")
		if r.code != 2 || !strings.Contains(r.stderr, bad+":1: roles is empty") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// TestServeStartsAndStops runs the binary as an operator would, with the
// embedded store and moto as AWS: it warns that state is not kept, answers
// /healthz, /readyz and /metrics, and exits cleanly on SIGTERM.
func TestServeStartsAndStops(t *testing.T) {
	moto := testenv.StartMoto(t)
	slack := testenv.StartSlack(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cmd := exec.Command(binary, "serve")
	cmd.Dir = "../.."
	cmd.Env = cleanEnv("SLACK_APP_TOKEN="+slack.AppToken(), "SLACK_BOT_TOKEN="+slack.BotToken(), "SLACK_API_URL="+slack.APIURL(), "JIT_HTTP_ADDR="+addr,
		"AWS_ENDPOINT_URL="+moto.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	logs := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			logs <- s.Text()
		}
		close(logs)
	}()
	waitLog(t, logs, "REDIS_URL is empty: using an embedded in-memory store")
	waitLog(t, logs, `"msg":"jitbot started"`)
	waitLog(t, logs, `"msg":"connected to Slack"`)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "go_goroutines"} {
		body := httpGet(t, "http://"+addr+path)
		if !strings.Contains(body, want) {
			t.Errorf("%s = %q, want %q in it", path, body, want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, `"msg":"jitbot stopped"`)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("jitbot did not exit after SIGTERM")
	}
}

func waitLog(t *testing.T, logs <-chan string, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-logs:
			if !ok {
				t.Fatalf("jitbot exited before logging %q", want)
			}
			if strings.Contains(line, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line with %q", want)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
