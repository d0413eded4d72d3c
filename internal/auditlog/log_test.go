package auditlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/testenv"
)

func newLog(t *testing.T) (*auditlog.Log, redis.UniversalClient) {
	t.Helper()
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	return auditlog.New(c, "jitbot", nil), c
}

func event(typ grants.EventType, id string, i int) grants.Event {
	return grants.Event{
		Type: typ, At: time.Date(2026, 11, 23, 10, 0, i, 0, time.UTC), Actor: "ULEAD1", CatalogSHA256: "abc123",
		Request: grants.Request{
			ID: grants.RequestID(id), State: grants.Active, Role: "readonly", Backend: grants.BackendSTS,
			Target: "arn:aws:iam::123456789012:role/jit-readonly", Duration: time.Hour,
			Requester: rules.User{ID: "UALICE", Email: "alice@example.com"}, Reason: "fixing INC-42", Rule: `"sre" in user.groups`,
			AccessKeyID: "ASIATEST",
		},
		Credentials: &grants.Credentials{AccessKeyID: "ASIATEST", SecretAccessKey: "s3cr3t", SessionToken: "t0ken"},
	}
}

func fill(t *testing.T, l *auditlog.Log, n int) []auditlog.Stored {
	t.Helper()
	for i := range n {
		l.Notify(t.Context(), event(grants.EventRequested, "JIT-AAAAA"+string(rune('2'+i%8)), i))
	}
	got, err := l.Read(t.Context(), "-", 0)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func verify(t *testing.T, l *auditlog.Log) *auditlog.Break {
	t.Helper()
	entries, err := l.Read(t.Context(), "-", 0)
	if err != nil {
		t.Fatal(err)
	}
	seq, hash, err := l.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, br := auditlog.Verify(entries, seq, hash)
	return br
}

func TestChainVerifiesAndHoldsNoSecrets(t *testing.T) {
	l, _ := newLog(t)
	entries := fill(t, l, 5)
	if len(entries) != 5 {
		t.Fatalf("%d entries, want 5", len(entries))
	}
	for i, s := range entries {
		if s.Entry.Seq != int64(i+1) || (i > 0 && s.Entry.Prev != entries[i-1].Entry.Hash) {
			t.Errorf("entry %d: seq %d prev %.8s", i, s.Entry.Seq, s.Entry.Prev)
		}
		if strings.Contains(string(s.Raw), "s3cr3t") || strings.Contains(string(s.Raw), "t0ken") {
			t.Errorf("a secret entered the audit log: %s", s.Raw)
		}
	}
	if e := entries[0].Entry; e.RequesterEmail != "alice@example.com" || e.Rule != `"sre" in user.groups` || e.CatalogSHA256 != "abc123" || e.AccessKeyID != "ASIATEST" {
		t.Errorf("entry lacks evidence: %+v", e)
	}
	if br := verify(t, l); br != nil {
		t.Fatalf("an untouched log fails: %v", br)
	}
}

// rewrite replaces the stream with entries as given (raw JSON), keeping
// the head, as someone with write access to Redis could.
func rewrite(t *testing.T, c redis.UniversalClient, raws [][]byte) {
	t.Helper()
	ctx := context.Background()
	if err := c.Del(ctx, "{jitbot}:audit").Err(); err != nil {
		t.Fatal(err)
	}
	for _, r := range raws {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "{jitbot}:audit", Values: map[string]any{"e": string(r)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTamperingIsFoundAndNamed(t *testing.T) {
	tests := []struct {
		name       string
		tamper     func(raws [][]byte) [][]byte
		wantSeq    int64
		wantReason string
	}{
		{name: "edited reason", wantSeq: 3, wantReason: "was edited", tamper: func(raws [][]byte) [][]byte {
			raws[2] = []byte(strings.Replace(string(raws[2]), "fixing INC-42", "routine check", 1))
			return raws
		}},
		{name: "edited and rehashed", wantSeq: 4, wantReason: "does not link", tamper: func(raws [][]byte) [][]byte {
			var e auditlog.Entry
			json.Unmarshal(raws[2], &e)
			e.Reason = "routine check"
			e.Hash = ""
			b, _ := json.Marshal(e)
			// a forger recomputing this entry's hash still breaks the next link
			raws[2] = rehash(t, b)
			return raws
		}},
		{name: "deleted", wantSeq: 4, wantReason: "sequence 4 where 3 was due", tamper: func(raws [][]byte) [][]byte {
			return append(raws[:2:2], raws[3:]...)
		}},
		{name: "reordered", wantSeq: 4, wantReason: "sequence 4 where 3 was due", tamper: func(raws [][]byte) [][]byte {
			raws[2], raws[3] = raws[3], raws[2]
			return raws
		}},
		{name: "last deleted", wantSeq: 4, wantReason: "entries at the end were deleted", tamper: func(raws [][]byte) [][]byte {
			return raws[:4]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, c := newLog(t)
			entries := fill(t, l, 5)
			var raws [][]byte
			for _, s := range entries {
				raws = append(raws, s.Raw)
			}
			rewrite(t, c, tt.tamper(raws))
			br := verify(t, l)
			if br == nil {
				t.Fatal("tampering not found")
			}
			if br.Seq != tt.wantSeq || !strings.Contains(br.Reason, tt.wantReason) || br.At == "" {
				t.Errorf("break = %+v, want entry %d: …%s…", br, tt.wantSeq, tt.wantReason)
			}
		})
	}
}

// rehash sets the Hash of an entry the way Append does.
func rehash(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := auditlog.Rehash(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	l, c := newLog(t)
	other := auditlog.New(c, "jitbot", nil) // a second replica
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lg := l
			if i%2 == 1 {
				lg = other
			}
			if _, err := lg.Append(context.Background(), auditlog.FromEvent(event(grants.EventApproved, "JIT-AAAAA2", i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if br := verify(t, l); br != nil {
		t.Fatalf("concurrent appends broke the chain: %v", br)
	}
	if seq, _, _ := l.Head(t.Context()); seq != 40 {
		t.Errorf("head at %d, want 40", seq)
	}
}

// TestEventHandedOverTwiceIsAppendedOnce: a journaled event (Note > 0)
// that reaches the log again, because the process that handed it over
// died before clearing its journal, adds no second entry; events that are
// not journaled are appended every time.
func TestEventHandedOverTwiceIsAppendedOnce(t *testing.T) {
	l, c := newLog(t)
	e := event(grants.EventDenied, "JIT-AAAAA2", 1)
	e.Note = 2
	first, err := l.AppendEvent(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendEvent(t.Context(), e); !errors.Is(err, auditlog.ErrAppended) {
		t.Fatalf("second hand-over: err = %v, want ErrAppended", err)
	}
	l.Notify(t.Context(), e) // as the notifier chain does: no entry, no error
	other := e
	other.Note = 3
	if _, err := l.AppendEvent(t.Context(), other); err != nil {
		t.Fatalf("the next event of the request: %v", err)
	}
	refused := event(grants.EventRefused, "JIT-AAAAA2", 2)
	for range 2 {
		if _, err := l.AppendEvent(t.Context(), refused); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Read(t.Context(), "-", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d entries, want 4 (denied once, the next event, refused twice)", len(got))
	}
	if got[0].Entry.Hash != first.Hash {
		t.Errorf("first entry hash %s, want %s", got[0].Entry.Hash, first.Hash)
	}
	if br := verify(t, l); br != nil {
		t.Errorf("chain broken: %v", br)
	}
	ttl, err := c.PTTL(t.Context(), "{jitbot}:audit:ev:JIT-AAAAA2#2").Result()
	if err != nil || ttl <= 0 || ttl > 24*time.Hour {
		t.Errorf("event key lives %v (err %v), want a day at most", ttl, err)
	}
}
