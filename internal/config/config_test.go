package config_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/config"
)

// vars lists every variable Load reads, so each test starts from a clean
// environment whatever the machine has set.
var vars = []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "SLACK_API_URL", "JIT_RULES", "JIT_AUDIT_CHANNEL",
	"REDIS_URL", "JIT_REDIS_PREFIX", "JIT_MIN_DURATION", "JIT_HTTP_ADDR", "JIT_LOG_LEVEL",
	"JIT_RECONCILE_INTERVAL", "JIT_PAGERDUTY_TOKEN", "JIT_PAGERDUTY_API_URL", "JIT_SSO_INSTANCE_ARN", "JIT_SSO_START_URL", "JIT_USAGE_LOOKUP", "JIT_USAGE_DELAY",
	"JIT_AUDIT_S3_BUCKET", "JIT_AUDIT_S3_PREFIX", "JIT_AUDIT_S3_INTERVAL", "JIT_REQUEST_LIMIT", "JIT_LEASE", "JIT_DRY_RUN",
	"JIT_SLACK_MODE", "SLACK_SIGNING_SECRET", "JIT_SLACK_ADDR", "JIT_SIGNING_KEY", "JIT_SIGNING_KEY_PREVIOUS", "JIT_AUDIT_ANCHOR_INTERVAL", "JIT_API_ADDR",
	"JIT_PAGERDUTY_POLL_INTERVAL", "JIT_PAGERDUTY_WEBHOOK_SECRET", "JIT_AWS_RATE_LIMITS"}

func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, v := range vars {
		t.Setenv(v, env[v]) // restored when the test ends
		if _, set := env[v]; !set {
			os.Unsetenv(v)
		}
	}
}

func TestDefaults(t *testing.T) {
	setEnv(t, nil)
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{SlackAPIURL: "https://slack.com/api/", Rules: "rules/roles.yaml", RedisPrefix: "jitbot",
		MinDuration: config.Duration(time.Minute), HTTPAddr: ":8080", LogLevel: "info", SlackMode: "socket", SlackAddr: ":3000",
		ReconcileInterval: config.Duration(5 * time.Minute), UsageDelay: config.Duration(20 * time.Minute), PagerDutyPollInterval: config.Duration(time.Minute),
		AuditS3Prefix: "jitbot/audit", AuditS3Interval: config.Duration(time.Minute), RequestLimit: 20, Lease: config.Duration(30 * time.Second),
		AuditAnchorInterval: config.Duration(time.Hour)}
	if c != want {
		t.Errorf("Load() = %+v, want %+v", c, want)
	}
}

func TestValues(t *testing.T) {
	setEnv(t, map[string]string{"JIT_MIN_DURATION": "1d", "REDIS_URL": "redis-sentinel://127.0.0.1:26379/mymaster",
		"JIT_AUDIT_CHANNEL": "C0123456789", "SLACK_API_URL": "http://127.0.0.1:9999/api/", "JIT_HTTP_ADDR": "127.0.0.1:0",
		"JIT_AWS_RATE_LIMITS": "iam=5,sts=off"})
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.MinDuration) != 24*time.Hour || c.AuditChannel != "C0123456789" || c.AWSRateLimits != "iam=5,sts=off" {
		t.Errorf("Load() = %+v", c)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name, variable, value, wantErr string
	}{
		{name: "duration", variable: "JIT_MIN_DURATION", value: "soon", wantErr: `JIT_MIN_DURATION: expected a duration such as 90s, 15m, 1h30m or 1d, got "soon"`},
		{name: "zero duration", variable: "JIT_MIN_DURATION", value: "0s", wantErr: "JIT_MIN_DURATION: expected a positive duration, got 0s"},
		{name: "api url without slash", variable: "SLACK_API_URL", value: "https://slack.com/api", wantErr: `SLACK_API_URL: expected an http(s) URL ending in /, such as https://slack.com/api/, got "https://slack.com/api"`},
		{name: "redis scheme", variable: "REDIS_URL", value: "http://localhost:6379", wantErr: `REDIS_URL: expected a redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster:// URL, got scheme "http"`},
		{name: "redis url that does not parse", variable: "REDIS_URL", value: "redis://:s3cret%zz@h:6379", wantErr: "REDIS_URL: expected a URL such as redis://host:6379/0; the value does not parse as a URL"},
		{name: "http addr", variable: "JIT_HTTP_ADDR", value: "8080", wantErr: `JIT_HTTP_ADDR: expected host:port such as :8080, got "8080"`},
		{name: "api addr", variable: "JIT_API_ADDR", value: "8443", wantErr: `JIT_API_ADDR: expected host:port such as :8443, or empty to turn the workload API off, got "8443"`},
		{name: "api addr on the probes' port", variable: "JIT_API_ADDR", value: "0.0.0.0:8080", wantErr: "JIT_API_ADDR: expected a port other than JIT_HTTP_ADDR's 8080: the workload API is reached by CI runners, the probes and /metrics are private"},
		{name: "channel", variable: "JIT_AUDIT_CHANNEL", value: "#audit", wantErr: `JIT_AUDIT_CHANNEL: expected a Slack channel ID such as C0123456789, got "#audit"`},
		{name: "prefix", variable: "JIT_REDIS_PREFIX", value: "a{b}", wantErr: `JIT_REDIS_PREFIX: expected a non-empty key prefix without braces or spaces, got "a{b}"`},
		{name: "log level", variable: "JIT_LOG_LEVEL", value: "loud", wantErr: `JIT_LOG_LEVEL: expected debug, info, warn or error, got "loud"`},
		{name: "reconcile interval", variable: "JIT_RECONCILE_INTERVAL", value: "often", wantErr: `JIT_RECONCILE_INTERVAL: expected a duration such as 5m or 1h, got "often"`},
		{name: "reconcile too often", variable: "JIT_RECONCILE_INTERVAL", value: "1s", wantErr: "JIT_RECONCILE_INTERVAL: expected at least 10s, got 1s"},
		{name: "s3 export without redis", variable: "JIT_AUDIT_S3_BUCKET", value: "evidence", wantErr: "JIT_AUDIT_S3_BUCKET: needs REDIS_URL: the embedded store keeps no audit log across restarts, so there is nothing durable to export"},
		{name: "request limit", variable: "JIT_REQUEST_LIMIT", value: "0", wantErr: "JIT_REQUEST_LIMIT: expected at least 1 request per person per hour, got 0"},
		{name: "short lease", variable: "JIT_LEASE", value: "1s", wantErr: "JIT_LEASE: expected between 2s and 10m (AWS calls get half of it), got 1s"},
		{name: "lease not a duration", variable: "JIT_LEASE", value: "soon", wantErr: "JIT_LEASE: expected a duration such as 30s, got \"soon\""},
		{name: "short signing key", variable: "JIT_SIGNING_KEY", value: "hunter2hunter2", wantErr: "JIT_SIGNING_KEY: expected at least 32 bytes (for example `openssl rand -base64 48`), got 14"},
		{name: "signing key with newline", variable: "JIT_SIGNING_KEY", value: signingKey + "\n", wantErr: "JIT_SIGNING_KEY: starts or ends with white space (a newline from the secret's file?); expected the key alone"},
		{name: "previous key alone", variable: "JIT_SIGNING_KEY_PREVIOUS", value: signingKey, wantErr: "JIT_SIGNING_KEY_PREVIOUS: set without JIT_SIGNING_KEY: during a rotation the new key signs and the previous one only verifies"},
		{name: "anchor interval", variable: "JIT_AUDIT_ANCHOR_INTERVAL", value: "1s", wantErr: "JIT_AUDIT_ANCHOR_INTERVAL: expected at least 10s, got 1s"},
		{name: "usage lookup", variable: "JIT_USAGE_LOOKUP", value: "yes please", wantErr: `JIT_USAGE_LOOKUP: expected true or false, got "yes please"`},
		{name: "sso instance", variable: "JIT_SSO_INSTANCE_ARN", value: "ssoins-1234567890abcdef", wantErr: `JIT_SSO_INSTANCE_ARN: expected an Identity Center instance ARN such as arn:aws:sso:::instance/ssoins-1234567890abcdef, got "ssoins-1234567890abcdef"`},
		{name: "sso start url", variable: "JIT_SSO_START_URL", value: "acme.awsapps.com/start", wantErr: `JIT_SSO_START_URL: expected the AWS access portal URL such as https://acme.awsapps.com/start, got "acme.awsapps.com/start"`},
		{name: "pagerduty poll", variable: "JIT_PAGERDUTY_POLL_INTERVAL", value: "100ms", wantErr: "JIT_PAGERDUTY_POLL_INTERVAL: expected at least 1s, got 100ms"},
		{name: "webhook without token", variable: "JIT_PAGERDUTY_WEBHOOK_SECRET", value: "s3cret", wantErr: "JIT_PAGERDUTY_WEBHOOK_SECRET: needs JIT_PAGERDUTY_TOKEN: the webhook's incidents are looked up in PagerDuty"},
		{name: "aws rate limits form", variable: "JIT_AWS_RATE_LIMITS", value: "iam:10", wantErr: `JIT_AWS_RATE_LIMITS: expected service=rate pairs separated by commas, such as iam=10,sts=50; got "iam:10" in "iam:10"`},
		{name: "aws rate limits service", variable: "JIT_AWS_RATE_LIMITS", value: "iam=10,ec2=5", wantErr: `JIT_AWS_RATE_LIMITS: unknown service "ec2"; expected one of cloudtrail, iam, identitystore, organizations, s3, sso-admin, sts`},
		{name: "aws rate limits rate", variable: "JIT_AWS_RATE_LIMITS", value: "iam=-5", wantErr: `JIT_AWS_RATE_LIMITS: iam: expected requests per second (such as 10 or 0.5), or 0 or off for no limit; got "-5"`},
		{name: "pagerduty url", variable: "JIT_PAGERDUTY_API_URL", value: "api.pagerduty.com", wantErr: `JIT_PAGERDUTY_API_URL: expected an http(s) URL such as https://api.pagerduty.com, got "api.pagerduty.com"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, map[string]string{tt.variable: tt.value})
			_, err := config.Load()
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Var != tt.variable {
				t.Fatalf("err = %v, want a *config.Error for %s", err, tt.variable)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("err = %q\nwant  %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckServe(t *testing.T) {
	tests := []struct {
		name, app, bot, wantVar string
	}{
		{name: "both present", app: "xapp-1", bot: "xoxb-1"},
		{name: "app missing", bot: "xoxb-1", wantVar: "SLACK_APP_TOKEN"},
		{name: "bot missing", app: "xapp-1", wantVar: "SLACK_BOT_TOKEN"},
		{name: "both missing", wantVar: "SLACK_APP_TOKEN, SLACK_BOT_TOKEN"},
		{name: "tokens swapped", app: "xoxb-1", bot: "xapp-1", wantVar: "SLACK_APP_TOKEN"},
		{name: "user token as bot token", app: "xapp-1", bot: "xoxp-1", wantVar: "SLACK_BOT_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, map[string]string{"SLACK_APP_TOKEN": tt.app, "SLACK_BOT_TOKEN": tt.bot})
			c, err := config.Load()
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckServe()
			var ce *config.Error
			switch {
			case tt.wantVar == "" && err != nil:
				t.Errorf("CheckServe() = %v", err)
			case tt.wantVar != "" && (!errors.As(err, &ce) || ce.Var != tt.wantVar):
				t.Errorf("CheckServe() = %v, want an error naming %s", err, tt.wantVar)
			}
		})
	}
}

// signingKey is a JIT_SIGNING_KEY of the shortest length accepted.
const signingKey = "0123456789abcdef0123456789abcdef"

// TestSigningKey: serve with REDIS_URL needs JIT_SIGNING_KEY, and the key
// shows nowhere the configuration is printed.
func TestSigningKey(t *testing.T) {
	env := map[string]string{"SLACK_APP_TOKEN": "xapp-1", "SLACK_BOT_TOKEN": "xoxb-1", "REDIS_URL": "redis://127.0.0.1:6379/0"}
	setEnv(t, env)
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	var ce *config.Error
	if err := c.CheckServe(); !errors.As(err, &ce) || ce.Var != "JIT_SIGNING_KEY" {
		t.Fatalf("CheckServe() without JIT_SIGNING_KEY = %v, want an error naming it", err)
	}
	env["JIT_SIGNING_KEY"], env["JIT_SIGNING_KEY_PREVIOUS"] = signingKey, "previous-"+signingKey
	setEnv(t, env)
	if c, err = config.Load(); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckServe(); err != nil {
		t.Fatalf("CheckServe() = %v", err)
	}
	if string(c.SigningKey.Bytes()) != signingKey {
		t.Errorf("SigningKey.Bytes() = %q", c.SigningKey.Bytes())
	}
	js, _ := json.Marshal(c)
	for _, shown := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(js)} {
		if strings.Contains(shown, "0123456789abcdef") {
			t.Errorf("the signing key is printed: %s", shown)
		}
	}
	env["JIT_SIGNING_KEY_PREVIOUS"] = signingKey
	setEnv(t, env)
	if _, err := config.Load(); !errors.As(err, &ce) || ce.Var != "JIT_SIGNING_KEY_PREVIOUS" {
		t.Errorf("Load() with the same key twice = %v, want an error naming JIT_SIGNING_KEY_PREVIOUS", err)
	}
}

// secret is shaped like a Slack signing secret.
const secret = "8f742231b10e8888abcd99ed1d4c5a6b"

func TestSlackModeMalformed(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "mode", env: map[string]string{"JIT_SLACK_MODE": "webhook"}, wantErr: `JIT_SLACK_MODE: expected socket or http, got "webhook"`},
		{name: "slack addr", env: map[string]string{"JIT_SLACK_MODE": "http", "JIT_SLACK_ADDR": "3000"}, wantErr: `JIT_SLACK_ADDR: expected host:port such as :3000, got "3000"`},
		{name: "slack addr on the probes' port", env: map[string]string{"JIT_SLACK_MODE": "http", "JIT_SLACK_ADDR": "0.0.0.0:8080"},
			wantErr: "JIT_SLACK_ADDR: expected a port other than JIT_HTTP_ADDR's 8080: Slack's endpoints are public, the probes and /metrics are not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			_, err := config.Load()
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("err = %v\nwant  %s", err, tt.wantErr)
			}
		})
	}
	// In socket mode JIT_SLACK_ADDR is not used, so not checked.
	setEnv(t, map[string]string{"JIT_SLACK_ADDR": "nonsense"})
	if _, err := config.Load(); err != nil {
		t.Errorf("socket mode with an unused JIT_SLACK_ADDR: %v", err)
	}
}

func TestCheckServeHTTPMode(t *testing.T) {
	tests := []struct {
		name, app, bot, secret, wantErr string
	}{
		{name: "no app token needed", bot: "xoxb-1", secret: secret},
		{name: "app token ignored", app: "anything", bot: "xoxb-1", secret: secret},
		{name: "secret missing", bot: "xoxb-1",
			wantErr: "SLACK_SIGNING_SECRET: required for serve: the app's signing secret (Basic Information → App Credentials); docs/http-mode.md shows where to find them"},
		{name: "both missing", wantErr: "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET: required for serve: the bot token (xoxb-…) and the app's signing secret (Basic Information → App Credentials); docs/http-mode.md shows where to find them"},
		{name: "verification token instead", bot: "xoxb-1", secret: "abcdefghijklmnopqrstuvwx",
			wantErr: "SLACK_SIGNING_SECRET: expected the app's signing secret (Basic Information → App Credentials → Signing Secret, 32 characters), got 24 characters"},
		{name: "trailing newline", bot: "xoxb-1", secret: secret + "\n",
			wantErr: "SLACK_SIGNING_SECRET: starts or ends with white space (a newline from the secret's file?); expected the signing secret alone"},
		{name: "a token", bot: "xoxb-1", secret: "xoxb-1234567890-1234567890-abcdefghijkl",
			wantErr: "SLACK_SIGNING_SECRET: expected the app's signing secret, got a token (xox…/xapp-…)"},
		{name: "bot token still checked", bot: "xoxp-1", secret: secret, wantErr: "SLACK_BOT_TOKEN: expected a bot token starting with xoxb-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, map[string]string{"JIT_SLACK_MODE": "http", "SLACK_APP_TOKEN": tt.app, "SLACK_BOT_TOKEN": tt.bot, "SLACK_SIGNING_SECRET": tt.secret})
			c, err := config.Load()
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckServe()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CheckServe() = %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("CheckServe() = %v\nwant          %s", err, tt.wantErr)
			}
			if err != nil && tt.secret != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.secret)) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}
