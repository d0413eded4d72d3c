package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Subjects of the findings about jitbot itself.
const (
	subjectKey   = "signing key"
	subjectRedis = "redis"
	subjectSlack = "slack"
)

// Redis reads the server's configuration (CONFIG GET).
type Redis interface {
	ConfigGet(ctx context.Context, name string) (string, error)
}

// Slack is what doctor asks Slack about jitbot's app.
type Slack interface {
	// Scopes are the OAuth scopes the bot token carries, as Slack lists
	// them in the x-oauth-scopes header of its answers.
	Scopes(ctx context.Context) ([]string, error)
	// IsMember reports whether the bot is in channel.
	IsMember(ctx context.Context, channel string) (bool, error)
}

// ErrNoConfig is what a Redis returns for CONFIG GET when the provider
// has turned the command off (ElastiCache, MemoryDB and others do).
var ErrNoConfig = errors.New("CONFIG is disabled on this server")

// Scopes are the bot scopes of jitbot's Slack app, as
// deploy/slack-app-manifest.yaml asks for them (a test keeps the two in
// step). The binary does not carry the manifest, so they are listed here.
var Scopes = []string{
	"commands", "chat:write", "im:write", "users:read", "users:read.email",
	"usergroups:read", "channels:history", "groups:history", "files:write",
}

func (c *Checker) checkSigningKey() []Finding {
	if !c.SigningKeySet {
		return []Finding{{Status: Wrong, Subject: subjectKey,
			Finding: "JIT_SIGNING_KEY is not set: records are signed with a key that dies with the process and the audit chain cannot be verified",
			Fix:     "set JIT_SIGNING_KEY to at least 32 random bytes from a secret store (e.g. openssl rand -base64 48)"}}
	}
	return []Finding{{Status: OK, Subject: subjectKey, Finding: "JIT_SIGNING_KEY is set"}}
}

// checkRedis checks that Redis keeps what it is told across a restart
// and never evicts a record to make room: a lost record is a grant nobody
// revokes.
func (c *Checker) checkRedis(ctx context.Context) []Finding {
	if c.Redis == nil {
		return []Finding{{Status: Wrong, Subject: subjectRedis,
			Finding: "REDIS_URL is not set: the embedded store loses every request and grant when jitbot stops",
			Fix:     "run Redis with persistence and set REDIS_URL (README, Configuration)"}}
	}
	var fs []Finding
	aof, err := c.Redis.ConfigGet(ctx, "appendonly")
	var save string
	if err == nil {
		save, err = c.Redis.ConfigGet(ctx, "save")
	}
	switch {
	case errors.Is(err, ErrNoConfig):
		fs = append(fs, Finding{Status: Warn, Subject: subjectRedis, Finding: "cannot read persistence: " + err.Error(),
			Fix: "check in the provider's console that the store is replicated or persisted (AOF or snapshots)"})
	case err != nil:
		fs = append(fs, errorFinding(subjectRedis, "persistence", err, "check that REDIS_URL reaches the Redis jitbot uses"))
	case aof == "yes":
		fs = append(fs, Finding{Status: OK, Subject: subjectRedis, Finding: "persistence: appendonly yes"})
	case strings.TrimSpace(save) != "":
		fs = append(fs, Finding{Status: Warn, Subject: subjectRedis,
			Finding: fmt.Sprintf("persistence by snapshots only (save %q): a crash loses the writes since the last one", save),
			Fix:     "turn on the append-only file: CONFIG SET appendonly yes, and appendonly yes in redis.conf"})
	default:
		fs = append(fs, Finding{Status: Wrong, Subject: subjectRedis,
			Finding: "no persistence (appendonly no, save \"\"): a restart of Redis forgets every grant, which then is never revoked",
			Fix:     "turn on the append-only file: CONFIG SET appendonly yes, and appendonly yes in redis.conf"})
	}
	policy, err := c.Redis.ConfigGet(ctx, "maxmemory-policy")
	switch {
	case errors.Is(err, ErrNoConfig):
		fs = append(fs, Finding{Status: Warn, Subject: subjectRedis, Finding: "cannot read maxmemory-policy: " + err.Error(),
			Fix: "set the parameter maxmemory-policy to noeviction in the provider's parameter group"})
	case err != nil:
		fs = append(fs, errorFinding(subjectRedis, "maxmemory-policy", err, "check that REDIS_URL reaches the Redis jitbot uses"))
	case policy == "noeviction":
		fs = append(fs, Finding{Status: OK, Subject: subjectRedis, Finding: "maxmemory-policy noeviction"})
	default:
		fs = append(fs, Finding{Status: Wrong, Subject: subjectRedis,
			Finding: fmt.Sprintf("maxmemory-policy is %s: under memory pressure Redis may evict a grant's record, and the grant is never revoked", policy),
			Fix:     "CONFIG SET maxmemory-policy noeviction, and the same in redis.conf"})
	}
	return fs
}

// checkSlack checks the bot token's scopes against the manifest's and
// that the bot is in the audit channel. Missing scopes make calls fail;
// extra ones are more than jitbot needs.
func (c *Checker) checkSlack(ctx context.Context) []Finding {
	if c.Slack == nil {
		return []Finding{{Status: Error, Subject: subjectSlack, Finding: "cannot check Slack: SLACK_BOT_TOKEN is not set",
			Fix: "run doctor with the environment of jitbot serve"}}
	}
	var fs []Finding
	have, err := c.Slack.Scopes(ctx)
	if err != nil {
		fs = append(fs, errorFinding(subjectSlack, "scopes", err, "check SLACK_BOT_TOKEN and SLACK_API_URL"))
	} else {
		fs = append(fs, scopeFindings(have)...)
	}
	if c.AuditChannel == "" {
		return append(fs, Finding{Status: Warn, Subject: subjectSlack,
			Finding: "JIT_AUDIT_CHANNEL is not set: the audit trail goes to the log only",
			Fix:     "create a channel for the audit trail, invite jitbot and set JIT_AUDIT_CHANNEL to its ID"})
	}
	in, err := c.Slack.IsMember(ctx, c.AuditChannel)
	switch {
	case err != nil:
		fs = append(fs, errorFinding(subjectSlack, "audit channel "+c.AuditChannel, err, "check that JIT_AUDIT_CHANNEL is a channel ID (C… or G…)"))
	case !in:
		fs = append(fs, Finding{Status: Wrong, Subject: subjectSlack,
			Finding: fmt.Sprintf("the bot is not a member of the audit channel %s: audit posts fail", c.AuditChannel),
			Fix:     fmt.Sprintf("invite the bot: /invite @jitbot in %s", c.AuditChannel)})
	default:
		fs = append(fs, Finding{Status: OK, Subject: subjectSlack, Finding: "member of the audit channel " + c.AuditChannel})
	}
	return fs
}

func scopeFindings(have []string) []Finding {
	var missing, extra []string
	for _, s := range Scopes {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	for _, s := range have {
		if !slices.Contains(Scopes, s) {
			extra = append(extra, s)
		}
	}
	var fs []Finding
	if len(missing) > 0 {
		fs = append(fs, Finding{Status: Wrong, Subject: subjectSlack,
			Finding: "the bot token lacks the scopes " + strings.Join(missing, ", ") + ": the calls that need them fail",
			Fix:     "add them to the app (deploy/slack-app-manifest.yaml) and reinstall it to the workspace"})
	}
	if len(extra) > 0 {
		fs = append(fs, Finding{Status: Warn, Subject: subjectSlack,
			Finding: "the bot token has scopes jitbot does not use: " + strings.Join(extra, ", "),
			Fix:     "remove them from the app's OAuth scopes and reinstall it"})
	}
	if len(fs) == 0 {
		fs = append(fs, Finding{Status: OK, Subject: subjectSlack, Finding: "bot scopes are the manifest's"})
	}
	return fs
}
