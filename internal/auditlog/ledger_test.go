package auditlog_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
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
