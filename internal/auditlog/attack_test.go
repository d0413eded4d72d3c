package auditlog_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// TestEventKeyCannotSuppressAnotherEvent: the key that keeps a re-handed
// event out of the log is in Redis, where a writer without JIT_SIGNING_KEY
// can set it. Set for a request's next note numbers (the record, readable
// in Redis, shows its Notes), it kept that request's approvals, grant and
// revocation out of the audit log without breaking the chain. And an old
// signed record version written back renumbers the events after it with
// numbers already logged, so those events were dropped as "appended
// before" too. Only the same event handed over again may be kept out.
func TestEventKeyCannotSuppressAnotherEvent(t *testing.T) {
	l, c := newLog(t)
	// A Redis writer pre-sets the keys of JIT-AAAAA2's next events.
	for _, n := range []string{"2", "3", "4"} {
		if err := c.Set(t.Context(), "{jitbot}:audit:ev:JIT-AAAAA2#"+n, "1", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	granted := event(grants.EventGranted, "JIT-AAAAA2", 1)
	granted.Note = 2
	if _, err := l.AppendEvent(t.Context(), granted); err != nil {
		t.Errorf("granted: %v: a key set in Redis kept it out of the audit log", err)
	}

	// A replay renumbers: note 3 was "approved", logged; after an old
	// version is written back, note 3 is the "revoked" of another time.
	approved := event(grants.EventApproved, "JIT-AAAAA3", 1)
	approved.Note = 3
	if _, err := l.AppendEvent(t.Context(), approved); err != nil {
		t.Fatal(err)
	}
	revoked := event(grants.EventRevoked, "JIT-AAAAA3", 40)
	revoked.Note = 3
	if _, err := l.AppendEvent(t.Context(), revoked); err != nil {
		t.Errorf("revoked, numbered like an event logged before: %v", err)
	}
}
