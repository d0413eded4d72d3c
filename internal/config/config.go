// Package config reads jitbot's configuration from the environment
// (docs/design.md §2.1) through envconfig and checks it before anything connects.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/jitbot/jitbot/internal/awslimit"
	"github.com/jitbot/jitbot/internal/rules"
)

// Config is every variable of docs/design.md §2.1. AWS settings are not here: the
// SDK reads AWS_REGION, AWS_ENDPOINT_URL and credentials itself.
type Config struct {
	SlackAppToken string   `envconfig:"SLACK_APP_TOKEN"`
	SlackBotToken string   `envconfig:"SLACK_BOT_TOKEN"`
	SlackAPIURL   string   `envconfig:"SLACK_API_URL" default:"https://slack.com/api/"`
	Rules         string   `envconfig:"JIT_RULES" default:"rules/roles.yaml"`
	AuditChannel  string   `envconfig:"JIT_AUDIT_CHANNEL"`
	RedisURL      string   `envconfig:"REDIS_URL"`
	RedisPrefix   string   `envconfig:"JIT_REDIS_PREFIX" default:"jitbot"`
	MinDuration   Duration `envconfig:"JIT_MIN_DURATION" default:"1m"`
	HTTPAddr      string   `envconfig:"JIT_HTTP_ADDR" default:":8080"`
	// APIAddr is the workload API's address; empty (the default) turns
	// the API off.
	APIAddr  string `envconfig:"JIT_API_ADDR"`
	LogLevel string `envconfig:"JIT_LOG_LEVEL" default:"info"`

	// SlackMode is how Slack reaches jitbot: socket (Socket Mode: jitbot
	// dials out and needs no public endpoint) or http (Slack posts
	// requests signed with SlackSigningSecret to SlackAddr, for
	// workspaces that cannot use Socket Mode).
	SlackMode          string `envconfig:"JIT_SLACK_MODE" default:"socket"`
	SlackSigningSecret string `envconfig:"SLACK_SIGNING_SECRET"`
	SlackAddr          string `envconfig:"JIT_SLACK_ADDR" default:":3000"`

	// ReconcileInterval is how often aws_iam_group roles with reconcile
	// set are compared with their IAM groups (and once at start).
	ReconcileInterval Duration `envconfig:"JIT_RECONCILE_INTERVAL" default:"5m"`
	// PagerDutyToken turns on PagerDuty as the source of user.oncall and
	// user.oncall_schedules; a read-only REST API key is enough.
	PagerDutyToken  string `envconfig:"JIT_PAGERDUTY_TOKEN"`
	PagerDutyAPIURL string `envconfig:"JIT_PAGERDUTY_API_URL"`
	// PagerDutyPollInterval is how often the grants of end_with_incident
	// roles look at their incident in PagerDuty. PagerDutyWebhookSecret
	// turns on PagerDuty's webhook at /pagerduty/webhook on JIT_HTTP_ADDR,
	// which ends them as soon as the incident is resolved; its signature
	// is checked with this secret.
	PagerDutyPollInterval  Duration `envconfig:"JIT_PAGERDUTY_POLL_INTERVAL" default:"1m"`
	PagerDutyWebhookSecret string   `envconfig:"JIT_PAGERDUTY_WEBHOOK_SECRET"`

	// UsageLookup turns on the CloudTrail summary of what each ended grant
	// was used for; UsageDelay is when the second look happens.
	UsageLookup bool     `envconfig:"JIT_USAGE_LOOKUP" default:"false"`
	UsageDelay  Duration `envconfig:"JIT_USAGE_DELAY" default:"20m"`

	// RequestLimit is how many requests one person may file per hour.
	RequestLimit int `envconfig:"JIT_REQUEST_LIMIT" default:"20"`

	// Lease is how long a replica holds a record while it calls AWS for
	// it. A replica killed mid-call leaves its record to the others once
	// the lease lapses, so it bounds the extra revocation lag after a
	// crash; each AWS call is given half of it.
	Lease Duration `envconfig:"JIT_LEASE" default:"30s"`

	// AuditS3Bucket turns on the export of the audit log to S3, in objects
	// under AuditS3Prefix, every AuditS3Interval.
	AuditS3Bucket   string   `envconfig:"JIT_AUDIT_S3_BUCKET"`
	AuditS3Prefix   string   `envconfig:"JIT_AUDIT_S3_PREFIX" default:"jitbot/audit"`
	AuditS3Interval Duration `envconfig:"JIT_AUDIT_S3_INTERVAL" default:"1m"`

	// DryRun runs a pilot: every request is issued and removed by a
	// backend that records the AWS calls it would make and makes none,
	// and every message about it says so.
	DryRun bool `envconfig:"JIT_DRY_RUN" default:"false"`

	// SigningKey MACs every field of a record that decides access and
	// chains the audit log, so that a Redis writer can neither grant nor
	// rewrite history. It lives only in the environment, never in Redis.
	// It is required with REDIS_URL; the embedded store uses a random key
	// per process. SigningKeyPrevious is still accepted for verification
	// during a rotation.
	SigningKey         Secret `envconfig:"JIT_SIGNING_KEY"`
	SigningKeyPrevious Secret `envconfig:"JIT_SIGNING_KEY_PREVIOUS"`
	// AuditAnchorInterval is how often the head of the audit chain is
	// posted to the audit channel, out of a Redis writer's reach.
	AuditAnchorInterval Duration `envconfig:"JIT_AUDIT_ANCHOR_INTERVAL" default:"1h"`
	// SSOInstanceARN is the IAM Identity Center instance of the aws_sso
	// and aws_sso_group roles; empty: the account's only instance, found
	// with ListInstances. SSOStartURL is the AWS access portal people
	// sign in through, named in their grant DMs.
	SSOInstanceARN string `envconfig:"JIT_SSO_INSTANCE_ARN"`
	SSOStartURL    string `envconfig:"JIT_SSO_START_URL"`

	// AWSRateLimits are the requests per second jitbot allows itself per
	// AWS service, as awslimit.Parse reads them; empty: awslimit.Defaults.
	AWSRateLimits string `envconfig:"JIT_AWS_RATE_LIMITS"`
}

// MinSigningKey is the shortest JIT_SIGNING_KEY accepted, in bytes.
const MinSigningKey = 32

// Secret is a configuration value that must never be printed: fmt, %v, %#v
// and JSON all show it redacted. Bytes gives the value to its one user.
type Secret string

func (s Secret) String() string   { return redacted(s) }
func (s Secret) GoString() string { return redacted(s) }

// MarshalText keeps a Secret out of JSON and logs.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted(s)), nil }

// Bytes is the secret's value.
func (s Secret) Bytes() []byte { return []byte(s) }

func redacted(s Secret) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// Duration accepts the durations of the /jit grammar: Go syntax plus d.
type Duration time.Duration

// Decode implements envconfig.Decoder.
func (d *Duration) Decode(s string) error {
	v, err := rules.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Error is a configuration problem: one line naming the variable and what
// is expected of it.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Load reads the environment and checks every value that does not need a
// network to check. Whether a value is required depends on the
// sub-command, so Load checks only the form; see Config.CheckServe.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return c, &Error{Var: pe.KeyName, Msg: fmt.Sprintf("%s, got %q", expected[pe.KeyName], pe.Value)}
		}
		return c, err
	}
	return c, c.check()
}

var expected = map[string]string{
	"JIT_MIN_DURATION":          "expected a duration such as 90s, 15m, 1h30m or 1d",
	"JIT_RECONCILE_INTERVAL":    "expected a duration such as 5m or 1h",
	"JIT_USAGE_DELAY":           "expected a duration such as 20m",
	"JIT_USAGE_LOOKUP":          "expected true or false",
	"JIT_DRY_RUN":               "expected true or false",
	"JIT_AUDIT_S3_INTERVAL":     "expected a duration such as 1m",
	"JIT_REQUEST_LIMIT":         "expected a whole number of requests per person per hour",
	"JIT_LEASE":                 "expected a duration such as 30s",
	"JIT_AUDIT_ANCHOR_INTERVAL": "expected a duration such as 1h",
}

// redisSchemes are the REDIS_URL schemes redisstore.Open accepts.
var redisSchemes = []string{"redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster"}

func (c Config) check() error {
	if c.MinDuration <= 0 {
		return &Error{"JIT_MIN_DURATION", fmt.Sprintf("expected a positive duration, got %s", time.Duration(c.MinDuration))}
	}
	if u, err := url.Parse(c.SlackAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/") {
		return &Error{"SLACK_API_URL", fmt.Sprintf("expected an http(s) URL ending in /, such as https://slack.com/api/, got %q", c.SlackAPIURL)}
	}
	if c.PagerDutyPollInterval < Duration(time.Second) {
		return &Error{"JIT_PAGERDUTY_POLL_INTERVAL", fmt.Sprintf("expected at least 1s, got %s", time.Duration(c.PagerDutyPollInterval))}
	}
	if c.PagerDutyWebhookSecret != "" && c.PagerDutyToken == "" {
		return &Error{"JIT_PAGERDUTY_WEBHOOK_SECRET", "needs JIT_PAGERDUTY_TOKEN: the webhook's incidents are looked up in PagerDuty"}
	}
	if c.ReconcileInterval < Duration(10*time.Second) {
		return &Error{"JIT_RECONCILE_INTERVAL", fmt.Sprintf("expected at least 10s, got %s", time.Duration(c.ReconcileInterval))}
	}
	if c.RequestLimit < 1 {
		return &Error{"JIT_REQUEST_LIMIT", fmt.Sprintf("expected at least 1 request per person per hour, got %d", c.RequestLimit)}
	}
	if c.Lease < Duration(2*time.Second) || c.Lease > Duration(10*time.Minute) {
		return &Error{"JIT_LEASE", fmt.Sprintf("expected between 2s and 10m (AWS calls get half of it), got %s", time.Duration(c.Lease))}
	}
	if c.AuditS3Bucket != "" && c.AuditS3Interval < Duration(10*time.Second) {
		return &Error{"JIT_AUDIT_S3_INTERVAL", fmt.Sprintf("expected at least 10s, got %s", time.Duration(c.AuditS3Interval))}
	}
	if c.DryRun && c.UsageLookup {
		return &Error{"JIT_USAGE_LOOKUP", "cannot be true with JIT_DRY_RUN=true: a dry run issues no AWS access for CloudTrail to show"}
	}
	if c.DryRun && c.AuditS3Bucket != "" {
		return &Error{"JIT_AUDIT_S3_BUCKET", "cannot be set with JIT_DRY_RUN=true: a dry run calls no AWS API, S3 included"}
	}
	if c.AuditS3Bucket != "" && c.RedisURL == "" {
		return &Error{"JIT_AUDIT_S3_BUCKET", "needs REDIS_URL: the embedded store keeps no audit log across restarts, so there is nothing durable to export"}
	}
	if c.PagerDutyAPIURL != "" {
		if u, err := url.Parse(c.PagerDutyAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &Error{"JIT_PAGERDUTY_API_URL", fmt.Sprintf("expected an http(s) URL such as https://api.pagerduty.com, got %q", c.PagerDutyAPIURL)}
		}
	}
	if c.RedisURL != "" {
		// url.Parse takes the multi-host forms too: their host list is one
		// host to it.
		u, err := url.Parse(c.RedisURL)
		switch {
		case err != nil:
			// Not the URL itself: it may hold a password.
			return &Error{"REDIS_URL", "expected a URL such as redis://host:6379/0; the value does not parse as a URL"}
		case !slices.Contains(redisSchemes, u.Scheme):
			return &Error{"REDIS_URL", fmt.Sprintf("expected a redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster:// URL, got scheme %q", u.Scheme)}
		}
	}
	if err := c.checkSigningKeys(); err != nil {
		return err
	}
	if err := c.checkSSO(); err != nil {
		return err
	}
	if _, err := awslimit.Parse(c.AWSRateLimits); err != nil {
		return &Error{"JIT_AWS_RATE_LIMITS", err.Error()}
	}
	if c.AuditAnchorInterval < Duration(10*time.Second) {
		return &Error{"JIT_AUDIT_ANCHOR_INTERVAL", fmt.Sprintf("expected at least 10s, got %s", time.Duration(c.AuditAnchorInterval))}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return &Error{"JIT_HTTP_ADDR", fmt.Sprintf("expected host:port such as :8080, got %q", c.HTTPAddr)}
	}
	if err := c.checkAPIAddr(); err != nil {
		return err
	}
	if err := c.checkSlackMode(); err != nil {
		return err
	}
	if c.Rules == "" {
		return &Error{"JIT_RULES", "expected the path of the role catalog, got an empty value"}
	}
	if c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, "{} \t\r\n") {
		return &Error{"JIT_REDIS_PREFIX", fmt.Sprintf("expected a non-empty key prefix without braces or spaces, got %q", c.RedisPrefix)}
	}
	if c.AuditChannel != "" && !validChannel(c.AuditChannel) {
		return &Error{"JIT_AUDIT_CHANNEL", fmt.Sprintf("expected a Slack channel ID such as C0123456789, got %q", c.AuditChannel)}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return &Error{"JIT_LOG_LEVEL", fmt.Sprintf("expected debug, info, warn or error, got %q", c.LogLevel)}
	}
	return nil
}

// CheckServe checks what serve needs beyond the form of each value: both
// Slack tokens (in http mode the bot token and the signing secret), each
// of the right kind. Missing ones are named together, with where the
// README explains them: the first run of a newcomer usually has none.
func (c Config) CheckServe() error {
	var missing, what []string
	socket := c.SlackMode != ModeHTTP
	if c.SlackAppToken == "" && socket {
		missing, what = append(missing, "SLACK_APP_TOKEN"), append(what, "the app-level token (xapp-…, with connections:write)")
	}
	if c.SlackBotToken == "" {
		missing, what = append(missing, "SLACK_BOT_TOKEN"), append(what, "the bot token (xoxb-…)")
	}
	if c.SlackSigningSecret == "" && !socket {
		missing, what = append(missing, "SLACK_SIGNING_SECRET"), append(what, "the app's signing secret (Basic Information → App Credentials)")
	}
	if len(missing) > 0 {
		where := `README.md, "Create the Slack app",`
		if !socket {
			where = "docs/http-mode.md"
		}
		return &Error{strings.Join(missing, ", "), "required for serve: " + strings.Join(what, " and ") + "; " + where + " shows where to find them"}
	}
	if !socket {
		if err := checkSigningSecret(c.SlackSigningSecret); err != nil {
			return err
		}
	}
	if c.RedisURL != "" && c.SigningKey == "" {
		return &Error{"JIT_SIGNING_KEY", fmt.Sprintf("required for serve with REDIS_URL: a secret of at least %d bytes that MACs records and the audit chain (for example `openssl rand -base64 48`); keep it out of Redis", MinSigningKey)}
	}
	switch {
	case socket && !strings.HasPrefix(c.SlackAppToken, "xapp-"):
		return &Error{"SLACK_APP_TOKEN", "expected an app-level token starting with xapp-"}
	case !strings.HasPrefix(c.SlackBotToken, "xoxb-"):
		return &Error{"SLACK_BOT_TOKEN", "expected a bot token starting with xoxb-"}
	}
	return nil
}

// Values of JIT_SLACK_MODE.
const (
	ModeSocket = "socket"
	ModeHTTP   = "http"
)

// checkSlackMode checks how Slack reaches jitbot and, in http mode, where.
func (c Config) checkSlackMode() error {
	switch c.SlackMode {
	case ModeSocket:
		return nil
	case ModeHTTP:
	default:
		return &Error{"JIT_SLACK_MODE", fmt.Sprintf("expected socket or http, got %q", c.SlackMode)}
	}
	return c.checkPublicAddr("JIT_SLACK_ADDR", c.SlackAddr, "host:port such as :3000",
		"Slack's endpoints are public, the probes and /metrics are not")
}

// checkPublicAddr checks the address of a listener others reach: it must
// parse (example says what it should look like), and it must not be on
// the port of JIT_HTTP_ADDR, whose /metrics must stay private (why says
// so in the variable's own terms).
func (c Config) checkPublicAddr(name, addr, example, why string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &Error{name, fmt.Sprintf("expected %s, got %q", example, addr)}
	}
	if _, httpPort, _ := net.SplitHostPort(c.HTTPAddr); port == httpPort && port != "0" {
		return &Error{name, fmt.Sprintf("expected a port other than JIT_HTTP_ADDR's %s: %s", port, why)}
	}
	return nil
}

// checkAPIAddr checks JIT_API_ADDR when it is set. The workload API is
// reached by CI runners, so it must not share the private port of the
// probes and /metrics.
func (c Config) checkAPIAddr() error {
	if c.APIAddr == "" {
		return nil
	}
	return c.checkPublicAddr("JIT_API_ADDR", c.APIAddr, "host:port such as :8443, or empty to turn the workload API off",
		"the workload API is reached by CI runners, the probes and /metrics are private")
}

// checkSigningSecret refuses what is clearly not a signing secret, so
// that a mistake shows at start instead of as every request refused. The
// value itself is never printed: it is a secret.
func checkSigningSecret(s string) error {
	switch {
	case strings.TrimSpace(s) != s:
		return &Error{"SLACK_SIGNING_SECRET", "starts or ends with white space (a newline from the secret's file?); expected the signing secret alone"}
	case strings.HasPrefix(s, "xox") || strings.HasPrefix(s, "xapp-"):
		return &Error{"SLACK_SIGNING_SECRET", "expected the app's signing secret, got a token (xox…/xapp-…)"}
	case len(s) < 32:
		// The verification token (24 characters) is the usual mix-up.
		return &Error{"SLACK_SIGNING_SECRET", fmt.Sprintf("expected the app's signing secret (Basic Information → App Credentials → Signing Secret, 32 characters), got %d characters", len(s))}
	}
	return nil
}

// validChannel accepts public (C…) and private (G…) channel IDs.
func validChannel(id string) bool {
	if len(id) < 9 || (id[0] != 'C' && id[0] != 'G') {
		return false
	}
	for _, r := range id[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// checkSigningKeys checks the form of JIT_SIGNING_KEY and its predecessor;
// their values are never printed.
func (c Config) checkSigningKeys() error {
	for _, k := range []struct {
		name string
		key  Secret
	}{{"JIT_SIGNING_KEY", c.SigningKey}, {"JIT_SIGNING_KEY_PREVIOUS", c.SigningKeyPrevious}} {
		switch {
		case k.key == "":
		case strings.TrimSpace(string(k.key)) != string(k.key):
			return &Error{k.name, "starts or ends with white space (a newline from the secret's file?); expected the key alone"}
		case len(k.key) < MinSigningKey:
			return &Error{k.name, fmt.Sprintf("expected at least %d bytes (for example `openssl rand -base64 48`), got %d", MinSigningKey, len(k.key))}
		}
	}
	if c.SigningKeyPrevious != "" && c.SigningKey == "" {
		return &Error{"JIT_SIGNING_KEY_PREVIOUS", "set without JIT_SIGNING_KEY: during a rotation the new key signs and the previous one only verifies"}
	}
	if c.SigningKeyPrevious != "" && c.SigningKeyPrevious == c.SigningKey {
		return &Error{"JIT_SIGNING_KEY_PREVIOUS", "is the same as JIT_SIGNING_KEY; expected the key being rotated out"}
	}
	return nil
}

var ssoInstanceRE = regexp.MustCompile(`^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[a-zA-Z0-9.-]{16}$`)

// checkSSO checks the Identity Center settings.
func (c *Config) checkSSO() error {
	if c.SSOInstanceARN != "" && !ssoInstanceRE.MatchString(c.SSOInstanceARN) {
		return &Error{"JIT_SSO_INSTANCE_ARN", fmt.Sprintf("expected an Identity Center instance ARN such as arn:aws:sso:::instance/ssoins-1234567890abcdef, got %q", c.SSOInstanceARN)}
	}
	if c.SSOStartURL != "" {
		if u, err := url.Parse(c.SSOStartURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return &Error{"JIT_SSO_START_URL", fmt.Sprintf("expected the AWS access portal URL such as https://acme.awsapps.com/start, got %q", c.SSOStartURL)}
		}
	}
	return nil
}
