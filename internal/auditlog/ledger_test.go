package auditlog_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// TestLedgerSaysWhatWasGranted: Granted finds a request's granted entries,
// and only those written under the key: an entry a Redis writer adds
// cannot make it name a grant, nor can the entries of an unkeyed log.
func TestLedgerSaysWhatWasGranted(t *testing.T) {
	plain, c := newLog(t)
	l := plain.WithKey(keyNew)
	group := func(typ grants.EventType, id, user string) grants.Event {
		e := event(typ, id, 0)
		e.Request.Backend, e.Request.Target, e.Request.Principal = grants.BackendGroup, "jit-admins", user
		return e
	}
	for _, e := range []grants.Event{
		group(grants.EventRequested, "JIT-A", "alice"),
		group(grants.EventGranted, "JIT-A", "alice"),
		group(grants.EventGranted, "JIT-B", "bob"),
		group(grants.EventRevoked, "JIT-A", "mallory"),
	} {
		if _, err := l.AppendEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	// A forged granted entry for JIT-A: well-formed, chained to nothing
	// the key signed.
	forged := auditlog.Entry{Seq: 99, Type: string(grants.EventGranted), RequestID: "JIT-A", Backend: grants.BackendGroup, Target: "jit-admins", Principal: "mallory", Keyed: true, Hash: "00"}
	body, _ := json.Marshal(forged)
	if err := c.XAdd(t.Context(), &redis.XAddArgs{Stream: "{jitbot}:audit", Values: map[string]any{"e": string(body)}}).Err(); err != nil {
		t.Fatal(err)
	}

	got, err := l.Granted(t.Context(), "JIT-A", time.Time{})
	if want := []grants.Hold{{Backend: grants.BackendGroup, Target: "jit-admins", Principal: "alice"}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Granted(JIT-A) = %v, %v; want %v", got, err, want)
	}
	if got, err := l.Granted(t.Context(), "JIT-C", time.Time{}); err != nil || len(got) != 0 {
		t.Errorf("Granted of a request never granted = %v, %v", got, err)
	}
	if got, err := plain.Granted(t.Context(), "JIT-A", time.Time{}); err != nil || len(got) != 0 {
		t.Errorf("a log without the key vouched for %v, %v", got, err)
	}
	if got, err := l.Granted(t.Context(), "JIT-A", time.Now().Add(time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("entries before since were read: %v, %v", got, err)
	}
}

// TestWorkloadIsRecorded: a workload's request is logged with who the
// workload proved to be and its run, and without the token's other
// claims; the entry verifies under the key.
func TestWorkloadIsRecorded(t *testing.T) {
	plain, _ := newLog(t)
	l := plain.WithKey(keyNew)
	e := event(grants.EventRequested, "JIT-W", 0)
	e.Request.Requester = rules.User{Name: "github:repo:acme/infra:ref:refs/heads/main"}
	e.Request.Workload = &rules.Workload{Issuer: "https://token.actions.githubusercontent.com", IssuerName: "github",
		Subject: "repo:acme/infra:ref:refs/heads/main", Repository: "acme/infra", Ref: "refs/heads/main", RunID: "42", Actor: "octocat",
		Claims: map[string]any{"runner_environment": "github-hosted"}}
	if _, err := l.AppendEvent(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	entries, err := l.Since(t.Context(), time.Time{})
	if err != nil || len(entries) != 1 {
		t.Fatalf("entries %v, %v", entries, err)
	}
	w := entries[0].Entry.Workload
	if w == nil || w.IssuerName != "github" || w.Subject != "repo:acme/infra:ref:refs/heads/main" || w.Repository != "acme/infra" || w.RunID != "42" || w.Actor != "octocat" {
		t.Errorf("logged workload = %+v", w)
	}
	if strings.Contains(string(entries[0].Raw), "runner_environment") {
		t.Errorf("the token's other claims were logged: %s", entries[0].Raw)
	}
	seq, hash, _ := l.Head(t.Context())
	if _, br := auditlog.Verify(entries, seq, hash, keyNew); br != nil {
		t.Errorf("verify: %v", br)
	}
}
