package main

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// grantedDM is a requester's credentials DM and the secrets it showed.
type grantedDM struct {
	id, secret, token string
	msg               slackfake.Message
}

// grantSTS files req for alice, has it approved, and returns the
// credentials DM.
func (b *bot) grantSTS(t *testing.T, req string) grantedDM {
	t.Helper()
	id := requestID(t, b.command(t, "UALICE", req))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	dm := b.dmWith(t, "UALICE", id, "export AWS_SECRET_ACCESS_KEY=", "export AWS_SESSION_TOKEN=")
	return grantedDM{id: id, secret: exportValue(t, dm, "AWS_SECRET_ACCESS_KEY"), token: exportValue(t, dm, "AWS_SESSION_TOKEN"), msg: dm}
}

// waitScrubbed waits until g's DM says the access ended (why), then
// checks that no message in alice's DMs still holds g's secrets, and that
// the edited DM kept what she may look back on.
func (b *bot) waitScrubbed(t *testing.T, g grantedDM, why string) {
	t.Helper()
	var now slackfake.Message
	b.slack.WaitFor(t, "the credentials DM of "+g.id+" says the access ended", 30*time.Second, func() bool {
		for _, m := range b.slack.DMs("UALICE") {
			if m.TS == g.msg.TS && strings.Contains(visible(m), "ended") {
				now = m
				return true
			}
		}
		return false
	})
	for _, want := range []string{g.id, "readonly", why, "have been removed", "Access ended", "Access key ID"} {
		if !strings.Contains(visible(now), want) {
			t.Errorf("the scrubbed DM of %s lacks %q:\n%s", g.id, want, visible(now))
		}
	}
	for _, m := range b.slack.DMs("UALICE") {
		if all := m.Text + string(m.Blocks); strings.Contains(all, g.secret) || strings.Contains(all, g.token) {
			t.Errorf("after %s ended, alice's DM %s still holds its secret:\n%s", g.id, m.TS, visible(m))
		}
	}
}

// TestSlackCredentialsDMScrubbedWhenAccessEnds: an insider who gets into
// the requester's Slack account (or its export) after the grant found its
// secret access key and session token in the DM history. Now, once the
// access ends — given up with /jit revoke, or expired — the DM is edited
// to say so, and the secrets are gone from every message of the DM.
func TestSlackCredentialsDMScrubbedWhenAccessEnds(t *testing.T) {
	b := startBot(t, "JIT_MIN_DURATION=1s")
	revoked := b.grantSTS(t, "request readonly 30m checking replica lag for INC-42")
	expired := b.grantSTS(t, "request readonly 5s checking replica lag for INC-43")

	if got := b.command(t, "UALICE", "revoke "+revoked.id); strings.Contains(got, "not") {
		t.Fatalf("/jit revoke answered %q", got)
	}
	b.waitScrubbed(t, revoked, "given up by")
	b.waitScrubbed(t, expired, "expired")
}

// TestSlackForgedGrantDMPlaceIsLeftAlone: an insider who can write to
// Redis records the audit parent as one of alice's grant DMs, so that the
// scrub at the end of her grant would overwrite the audit trail. The
// scrub edits only messages in alice's own DM.
func TestSlackForgedGrantDMPlaceIsLeftAlone(t *testing.T) {
	b := startBot(t)
	g := b.grantSTS(t, "request readonly 30m checking replica lag for INC-42")
	parent, _ := b.waitAudit(t, g.id, 3)
	rdb := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	defer rdb.Close()
	keys, err := rdb.Keys(t.Context(), "*:refs:"+g.id).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("refs key of %s: %v %v", g.id, keys, err)
	}
	if err := rdb.HSet(t.Context(), keys[0], "granted:forged", auditChannel+":"+parent.TS).Err(); err != nil {
		t.Fatal(err)
	}
	b.command(t, "UALICE", "revoke "+g.id)
	b.waitScrubbed(t, g, "given up by")
	b.slack.WaitFor(t, "the audit thread shows the end", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(g.id), "access ended")
	})
	for _, c := range b.slack.Calls("chat.update") {
		if c.Params.Get("channel") == auditChannel && strings.Contains(c.Params.Get("blocks"), "have been removed") {
			t.Fatalf("the scrub overwrote the audit parent through a forged place:\n%s", c.Params.Get("blocks"))
		}
	}
	if p := visible(b.parentOf(g.id)); !strings.Contains(p, "REVOKED") {
		t.Errorf("the audit parent does not show the grant revoked:\n%s", p)
	}
}
