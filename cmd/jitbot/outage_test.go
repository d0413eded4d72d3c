package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRedisOutage: with Redis down the bot keeps acknowledging Slack,
// tells people the service is briefly unavailable, /readyz goes red, and a
// grant that expired meanwhile is revoked as soon as Redis is back.
func TestRedisOutage(t *testing.T) {
	b := startBot(t, "JIT_MIN_DURATION=1s")
	id := requestID(t, b.command(t, "UALICE", "request ops 4s fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "jit-ops")

	b.redis.Stop()
	if got := b.command(t, "UBOB", "list"); !strings.Contains(got, "cannot reach its database right now") {
		t.Errorf("with Redis down, /jit list answered %q", got)
	}
	if code := readyz(t, b); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with Redis down, want 503", code)
	}
	time.Sleep(5 * time.Second) // the grant expires while Redis is down
	if m := b.groupMembers(t, "jit-ops"); len(m) != 1 {
		t.Fatalf("members while Redis is down = %v; the test needs alice still in", m)
	}
	b.redis.Start(t)
	b.slack.WaitFor(t, "the grant that expired during the outage is revoked", 30*time.Second, func() bool {
		return len(b.groupMembers(t, "jit-ops")) == 0
	})
	if code := readyz(t, b); code != http.StatusOK {
		t.Errorf("/readyz = %d after Redis is back, want 200", code)
	}
	b.dmWith(t, "UALICE", id, "time was up")
}

func readyz(t *testing.T, b *bot) int {
	t.Helper()
	var addr string
	for _, kv := range b.env {
		if v, ok := strings.CutPrefix(kv, "JIT_HTTP_ADDR="); ok {
			addr = v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/readyz", addr), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAWSOutage: AWS refuses every call for at least 20 s while grants
// expire. Revocations are retried with backoff, an alert reaches the audit
// channel after repeated failure, and every grant is revoked once AWS
// answers again.
func TestAWSOutage(t *testing.T) {
	b := startBot(t, "JIT_MIN_DURATION=1s")
	id := requestID(t, b.command(t, "UALICE", "request ops 3s fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "jit-ops")

	b.proxy.Fail(true)
	start := time.Now()
	b.slack.WaitFor(t, "the revoke-failed alert", 90*time.Second, func() bool {
		return strings.Contains(b.auditText(id), "revoke failed")
	})
	if d := time.Since(start); d < 20*time.Second {
		time.Sleep(20*time.Second - d)
	}
	if m := b.groupMembers(t, "jit-ops"); len(m) != 1 {
		t.Fatalf("members during the outage = %v; the test needs alice still in", m)
	}
	failed := b.proxy.Count("RemoveUserFromGroup")
	b.proxy.Fail(false)
	b.slack.WaitFor(t, "the revocation completes once AWS answers", 90*time.Second, func() bool {
		return len(b.groupMembers(t, "jit-ops")) == 0
	})
	b.dmWith(t, "UALICE", id, "time was up")
	if failed < 5 {
		t.Errorf("%d RemoveUserFromGroup attempts during the outage; want retries with backoff", failed)
	}
	t.Logf("outage %v, %d RemoveUserFromGroup attempts refused", time.Since(start).Round(time.Second), failed)
}
