package main

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/oidcfake"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// TestWorkloadClientDeniedReplayedAndTriggered drives the built client
// against the built server: a job's request denied in Slack ends the
// client with exit 3 and the reason; the same token sent again is
// refused, audited in the log and the channel; and the person who
// triggered a run cannot approve it.
func TestWorkloadClientDeniedReplayedAndTriggered(t *testing.T) {
	issuer := oidcfake.Start(t)
	b, api := workloadBot(t, issuer)
	feature := githubToken(issuer, "acme/infra", "refs/heads/feature")
	env := cleanEnv("JITBOT_TOKEN=" + feature)
	args := []string{"request", "--server", api, "--role", "deploy", "--reason", "deploy a feature branch", "--wait"}

	// Denied: the waiting client exits 3 with the approver's reason.
	cmd := exec.CommandContext(t.Context(), binary, args...)
	cmd.Env = env
	done := make(chan result, 1)
	go func() {
		r, err := runCommand(cmd)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	dm := b.waitApprovalDM(t, "ULEAD1")
	id := idInBlocks.FindStringSubmatch(string(dm.Blocks))[1]
	b.denyWithReason(t, "ULEAD1", dm, id, "feature branches do not deploy")
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the client did not end after the denial")
	}
	if r.code != 3 || !strings.Contains(r.stderr, "request "+id+" was denied: feature branches do not deploy") || r.stdout != "" {
		t.Errorf("denied: exit %d, stdout %q, stderr %q; want 3, the reason, and nothing on stdout", r.code, r.stdout, r.stderr)
	}

	// Replayed: the same token asks again and is refused. Without --wait,
	// so that a replay let through fails here rather than waiting.
	r = runBinary(t, env, args[:len(args)-1]...)
	if r.code != 1 || !strings.Contains(r.stderr, "already made request "+id) {
		t.Errorf("replayed token: exit %d, stderr %q; want 1 naming %s", r.code, r.stderr, id)
	}
	rdb := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	entries, err := auditlog.New(rdb, "jitbot", nil).Since(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(s auditlog.Stored) bool {
		return s.Entry.Type == auditlog.TypeTokenRefused && strings.Contains(s.Entry.Outcome, "replayed") && strings.Contains(s.Entry.Outcome, id)
	}) {
		t.Errorf("the replay left no %s entry naming %s in the audit log", auditlog.TypeTokenRefused, id)
	}
	b.slack.WaitFor(t, "the audit channel hears of the replay", 10*time.Second, func() bool {
		return b.auditHas("Workload API refused a token from 127.0.0.1 on POST /v1/requests: replayed") && b.auditHas(id)
	})

	// Triggered: lead1 started the run, so lead1, the role's approver, is
	// not asked to decide it (a click of theirs would be refused: see
	// the grants tests); the job gives up and releases its request.
	c := issuer.GitHubActionsClaims("jitbot")
	c["ref"], c["sub"], c["actor"] = "refs/heads/hotfix", "repo:acme/infra:ref:refs/heads/hotfix", "Lead1"
	hotfix := issuer.Token(c)
	r = runBinary(t, cleanEnv("JITBOT_TOKEN="+hotfix), "request", "--server", api, "--role", "deploy", "--reason", "hotfix for INC-7 login errors")
	if r.code != 0 || strings.Contains(r.stderr, "ULEAD1") {
		t.Fatalf("request without --wait: exit %d, %s; want it made, lead1 not among its approvers", r.code, r.stderr)
	}
	pending := strings.TrimSpace(r.stdout)
	r = runBinary(t, cleanEnv("JITBOT_TOKEN="+hotfix), "release", "--server", api, pending)
	if r.code != 0 || strings.TrimSpace(r.stdout) != pending+" cancelled" {
		t.Errorf("release of the pending request: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	b.slack.WaitFor(t, "the audit channel shows "+pending+" cancelled", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(pending), "ancel")
	})
	if m := b.approvalCopy("ULEAD1", pending); m.TS != "" {
		t.Errorf("lead1, who triggered the run, was asked to decide it: %s", visible(m))
	}
}

// waitApprovalDM waits for user's first approval DM.
func (b *bot) waitApprovalDM(t *testing.T, user string) slackfake.Message {
	t.Helper()
	var m slackfake.Message
	b.slack.WaitFor(t, user+" gets an approval DM", 15*time.Second, func() bool {
		for _, dm := range b.slack.DMs(user) {
			if bytes.Contains(dm.Blocks, []byte("jit_approve")) && idInBlocks.Match(dm.Blocks) {
				m = dm
				return true
			}
		}
		return false
	})
	return m
}

// denyWithReason clicks Deny on user's approval DM m for id and submits
// the modal with reason.
func (b *bot) denyWithReason(t *testing.T, user string, m slackfake.Message, id, reason string) {
	t.Helper()
	before := len(b.slack.Views(user))
	b.click(t, user, m, "jit_deny", id)
	var view slackfake.View
	b.slack.WaitFor(t, "the deny modal opens", 10*time.Second, func() bool {
		v := b.slack.Views(user)
		if len(v) == before {
			return false
		}
		view = v[len(v)-1]
		return true
	})
	env := b.slack.SubmitView(t, user, view.ID, map[string]map[string]any{"reason": {"reason": slackfake.PlainText(reason)}})
	if ack := env.Ack(t, 5*time.Second); strings.Contains(string(ack), "errors") {
		t.Fatalf("deny modal refused: %s", ack)
	}
}
