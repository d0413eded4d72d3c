package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/auditlog/s3export"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestAuditChainRewriteThroughTheBinary is the attack of a Redis writer on
// the evidence: change an entry, re-chain everything after it, reset the
// head. Without JIT_SIGNING_KEY the re-chained entries do not verify; a
// log re-chained from its first entry, or cut short, verifies as a chain
// but not against the entries exported to S3, which a Redis writer cannot
// reach.
func TestAuditChainRewriteThroughTheBinary(t *testing.T) {
	moto := testenv.StartMoto(t)
	s3c := s3.NewFromConfig(testenv.AWSConfig(t, moto.URL()), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("evidence")}); err != nil {
		t.Fatal(err)
	}
	b := startBot(t, "JIT_AUDIT_S3_BUCKET=evidence", "JIT_AUDIT_S3_INTERVAL=10s", "AWS_ENDPOINT_URL_S3="+moto.URL(),
		"JIT_AUDIT_ANCHOR_INTERVAL=10s")
	id := requestID(t, b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "export AWS_SECRET_ACCESS_KEY=")
	b.command(t, "UALICE", "revoke "+id)
	b.waitAudit(t, id, 4)
	b.slack.WaitFor(t, "the revoke's entry reaches S3", 30*time.Second, func() bool {
		got, err := s3export.ReadAll(t.Context(), s3c, "evidence", "jitbot/audit")
		return err == nil && len(got) >= 4 && strings.Contains(string(got[len(got)-1].Raw), `"type":"revoked"`)
	})
	l := auditlog.New(redis.NewClient(&redis.Options{Addr: b.redis.Addr()}), "jitbot", nil)
	seq, hash, err := l.Head(t.Context())
	if err != nil || seq < 4 {
		t.Fatalf("head %d, %v", seq, err)
	}
	b.slack.WaitFor(t, "the head is anchored in the audit channel", 30*time.Second, func() bool {
		return b.auditHas(auditlog.FormatAnchor(seq, hash))
	})
	// Stop the bot, so that neither it nor its export touches the log
	// while the attacker works on it.
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Process.Wait()

	c := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	defer c.Close()
	ctx := context.Background()
	orig, err := c.XRange(ctx, "{jitbot}:audit", "-", "+").Result()
	if err != nil || len(orig) < 4 {
		t.Fatalf("XRANGE: %v, %d entries", err, len(orig))
	}
	redisOnly := cleanEnv("REDIS_URL="+b.redis.URL(), "JIT_RULES="+b.catalog)
	anchored := cleanEnv("REDIS_URL="+b.redis.URL(), "JIT_RULES="+b.catalog, "JIT_AUDIT_S3_BUCKET=evidence",
		"AWS_ENDPOINT_URL_S3="+moto.URL(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	inSlack := cleanEnv("REDIS_URL="+b.redis.URL(), "JIT_RULES="+b.catalog, "JIT_AUDIT_CHANNEL="+auditChannel,
		"SLACK_BOT_TOKEN="+b.slack.BotToken(), "SLACK_API_URL="+b.slack.APIURL())
	// Anyone in the audit channel can post text that looks like an
	// anchor; only jitbot's own posts count.
	b.slack.PostAs(auditChannel, "UEVE", auditlog.FormatAnchor(1, strings.Repeat("0", 64)))
	for _, env := range [][]string{anchored, inSlack} {
		if v := runBinary(t, env, "audit", "verify"); v.code != 0 || !strings.Contains(v.stdout, "chain intact") || strings.Contains(v.stdout, " 0 anchors") {
			t.Fatalf("verify of the untouched log: %+v", v)
		}
	}

	edit := func(raw string) string { return strings.Replace(raw, `"actor":"ULEAD1"`, `"actor":"UEVE"`, 1) }
	tests := []struct {
		name     string
		from     int    // index of the first entry the attacker re-chains
		keep     int    // entries kept (0: all); a cut tail
		key      string // the attacker's HMAC key; "" with keyed: HMAC under an empty key
		keyed    bool   // the re-chained entries claim to be keyed
		env      []string
		wantName int // index of the entry the verdict must name; -1: the end of the log; -2: an anchor post
	}{
		{name: "plain SHA-256 from the edit on", from: 1, env: redisOnly, wantName: 1},
		{name: "HMAC under a wrong key", from: 1, key: "a-guessed-key-0123456789abcdef-0000", keyed: true, env: redisOnly, wantName: 1},
		{name: "HMAC with no key", from: 1, keyed: true, env: redisOnly, wantName: 1},
		{name: "plain SHA-256 from the first entry, anchored in S3", from: 0, env: anchored, wantName: 0},
		{name: "tail cut and head reset, anchored in S3", from: len(orig), keep: len(orig) - 2, env: anchored, wantName: -1},
		{name: "plain SHA-256 from the first entry, anchored in Slack", from: 0, env: inSlack, wantName: -2},
		{name: "tail cut and head reset, anchored in Slack", from: len(orig), keep: len(orig) - 2, env: inSlack, wantName: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := rechain(t, c, orig, edit, tt.from, tt.keep, []byte(tt.key), tt.keyed)
			v := runBinary(t, tt.env, "audit", "verify")
			t.Logf("verify: exit %d\n%s", v.code, v.stdout)
			want := "after entry " + strconv.Itoa(len(ids))
			switch {
			case tt.wantName >= 0:
				want = ids[tt.wantName]
			case tt.wantName == -2:
				want = "does not match its anchor in the audit channel post"
			}
			if v.code != 1 || !strings.Contains(v.stdout, "FAIL") || !strings.Contains(v.stdout, want) {
				t.Errorf("verify after the rewrite: %+v; want exit 1 naming %s", v, want)
			}
		})
	}
}

// rechain rebuilds the audit stream from orig as a Redis writer could:
// the first keep entries (all if 0), entry 1 edited by edit unless
// nothing is re-chained before it, every entry
// from index from on re-chained (with an HMAC under key if keyed, else
// plain SHA-256), and the head set to the new last entry. It returns the
// new stream IDs.
func rechain(t *testing.T, c *redis.Client, orig []redis.XMessage, edit func(string) string, from, keep int, key []byte, keyed bool) []string {
	t.Helper()
	ctx := context.Background()
	if keep == 0 {
		keep = len(orig)
	}
	c.Del(ctx, "{jitbot}:audit")
	var ids []string
	prev := ""
	for i, m := range orig[:keep] {
		raw := m.Values["e"].(string)
		if i == 1 && from <= 1 {
			raw = edit(raw)
		}
		var e auditlog.Entry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			t.Fatal(err)
		}
		if i >= from {
			e.Prev, e.Hash, e.Keyed = prev, "", keyed
			body, _ := json.Marshal(e)
			if keyed {
				m := hmac.New(sha256.New, key)
				m.Write(body)
				e.Hash = hex.EncodeToString(m.Sum(nil))
			} else {
				sum := sha256.Sum256(body)
				e.Hash = hex.EncodeToString(sum[:])
			}
			b, _ := json.Marshal(e)
			raw = string(b)
		}
		id, err := c.XAdd(ctx, &redis.XAddArgs{Stream: "{jitbot}:audit", Values: map[string]any{"e": raw}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		prev = e.Hash
	}
	c.Set(ctx, "{jitbot}:audit:head", strconv.Itoa(keep)+" "+prev, 0)
	return ids
}
