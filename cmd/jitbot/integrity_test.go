package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// forge edits the record id in Redis the way someone who can write there,
// but lacks JIT_SIGNING_KEY, can: the JSON changes and the MAC stays. due,
// when set, also moves the record in the scheduler's queue to then.
func (b *bot) forge(t *testing.T, id string, due time.Time, edit func(rec map[string]any)) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	defer rdb.Close()
	key := "{jitbot}:req:" + id
	data, err := rdb.HGet(t.Context(), key, "d").Result()
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	rec := map[string]any{}
	if err := json.Unmarshal([]byte(data), &rec); err != nil {
		t.Fatal(err)
	}
	edit(rec)
	out, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(t.Context(), key, "d", out).Err(); err != nil {
		t.Fatal(err)
	}
	if !due.IsZero() {
		rdb.ZRem(t.Context(), "{jitbot}:deadlines", id)
		if err := rdb.ZAdd(t.Context(), "{jitbot}:expiries", redis.Z{Score: float64(due.UnixMilli()), Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// recordState is the state of the record id as stored.
func (b *bot) recordState(t *testing.T, id string) string {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	defer rdb.Close()
	data, err := rdb.HGet(t.Context(), "{jitbot}:req:"+id, "d").Result()
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	var rec struct{ State string }
	if err := json.Unmarshal([]byte(data), &rec); err != nil {
		t.Fatal(err)
	}
	return rec.State
}

// TestRedisWriterCannotGrant: someone who can write to jitbot's Redis,
// but does not hold JIT_SIGNING_KEY, edits alice's pending jit-ops request
// into one granting, with admin's group, 12 hours and an approval, and
// makes it due. jitbot issues nothing, fails the record and alerts the
// audit channel.
func TestRedisWriterCannotGrant(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request ops 30m fixing INC-42 replica lag"))
	b.approvalDM(t, "ULEAD1", id)
	now := time.Now().UTC()
	b.forge(t, id, now, func(rec map[string]any) {
		rec["state"] = "granting"
		rec["target"] = "jit-admins"
		rec["duration"] = int64(12 * time.Hour)
		rec["approvals"] = []map[string]any{{"approver": "ULEAD1", "at": now}}
		rec["decided_at"] = now
		rec["lease_until"] = now.Add(-time.Minute)
	})
	b.slack.WaitFor(t, "the forged record alerted in the audit channel", 30*time.Second, func() bool {
		return b.auditHas("changed outside jitbot")
	})
	if n := b.proxy.Count("AddUserToGroup"); n != 0 {
		t.Errorf("%d AddUserToGroup calls: a record forged in Redis reached AWS", n)
	}
	if m := b.groupMembers(t, "jit-admins"); len(m) != 0 {
		t.Errorf("jit-admins members = %v, want none", m)
	}
	// It claimed to be granting, so whatever it may hold is revoked
	// before it ends as failed.
	b.slack.WaitFor(t, "the forged request ends as failed", 20*time.Second, func() bool {
		return b.recordState(t, id) == "failed"
	})
	b.dmWith(t, "UALICE", id, "integrity check")
	// The approver's copy no longer offers to approve it.
	b.slack.WaitFor(t, "lead1's approval DM loses its buttons", 10*time.Second, func() bool {
		return !strings.Contains(string(b.approvalCopy("ULEAD1", id).Blocks), "jit_approve")
	})
}

// TestRedisWriterCannotKeepAGrant: the same writer sets dry_run on alice's
// live jit-ops grant and pushes its expiry three days out, so that its
// revocation would go to the dry-run backend, or never come. The next
// read of the record (here alice's /jit list) finds it changed: the
// membership is removed for real and the audit channel is alerted.
func TestRedisWriterCannotKeepAGrant(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request ops 1h fixing INC-42 replica lag"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.dmWith(t, "UALICE", id, "jit-ops")
	if m := b.groupMembers(t, "jit-ops"); !slices.Equal(m, []string{"alice"}) {
		t.Fatalf("jit-ops members = %v, want [alice]", m)
	}
	later := time.Now().Add(72 * time.Hour).UTC()
	b.forge(t, id, later, func(rec map[string]any) {
		rec["dry_run"] = true
		rec["expires_at"] = later
	})
	b.command(t, "UALICE", "list")
	b.slack.WaitFor(t, "alice removed from jit-ops", 30*time.Second, func() bool {
		return len(b.groupMembers(t, "jit-ops")) == 0
	})
	b.slack.WaitFor(t, "the forged record alerted in the audit channel", 10*time.Second, func() bool {
		return b.auditHas("changed outside jitbot")
	})
	if n := b.proxy.Count("RemoveUserFromGroup"); n < 1 {
		t.Errorf("%d RemoveUserFromGroup calls, want the real removal", n)
	}
}

// TestRedisWriterCannotKeepAGrantByNamingSomeoneElse: a Redis writer edits
// alice's live membership grant to name bob as its requester and IAM
// user, so that its quarantine would remove bob (who holds nothing) and
// leave alice in the group for good. The audit log, signed when the grant
// was made, says it was alice's: she is removed. The role only reports
// strays, so no reconciliation does it instead.
func TestRedisWriterCannotKeepAGrantByNamingSomeoneElse(t *testing.T) {
	b := startBot(t)
	id := requestID(t, b.command(t, "UALICE", "request admin 1h fixing INC-42 replica lag"))
	for _, lead := range []string{"ULEAD1", "ULEAD2"} {
		b.click(t, lead, b.approvalDM(t, lead, id), "jit_approve", id)
	}
	b.dmWith(t, "UALICE", id, "jit-admins")
	if m := b.groupMembers(t, "jit-admins"); !slices.Equal(m, []string{"alice"}) {
		t.Fatalf("jit-admins members = %v, want [alice]", m)
	}
	b.forge(t, id, time.Time{}, func(rec map[string]any) {
		requester := rec["requester"].(map[string]any)
		requester["id"], requester["name"], requester["email"] = "UBOB", "bob", "bob@example.com"
		rec["principal"] = "bob"
	})
	b.command(t, "UALICE", "list")
	b.slack.WaitFor(t, "alice removed from jit-admins", 30*time.Second, func() bool {
		return len(b.groupMembers(t, "jit-admins")) == 0
	})
	b.slack.WaitFor(t, "the forged record alerted in the audit channel", 10*time.Second, func() bool {
		return b.auditHas("changed outside jitbot")
	})
}
