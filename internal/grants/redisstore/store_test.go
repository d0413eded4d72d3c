package redisstore_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/grantstest"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/testenv"
)

// prefixes gives each store in a shared server its own key space.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("test%d", prefixes.Add(1)) }

func open(t *testing.T, url string, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreOnRedisServer(t *testing.T) {
	srv := testenv.StartRedis(t)
	grantstest.TestStore(t, func(t *testing.T) grants.Store {
		return open(t, srv.URL(), redisstore.Options{Prefix: newPrefix()})
	})
}

func TestStoreEmbedded(t *testing.T) {
	grantstest.TestStore(t, func(t *testing.T) grants.Store {
		s, closeAll, err := redisstore.NewEmbedded(redisstore.Options{})
		if err != nil {
			t.Fatalf("NewEmbedded: %v", err)
		}
		t.Cleanup(func() {
			if err := closeAll(); err != nil {
				t.Errorf("close embedded store: %v", err)
			}
		})
		return s
	})
}

func TestEmbeddedCloseAfterStoreClose(t *testing.T) {
	s, closeAll, err := redisstore.NewEmbedded(redisstore.Options{})
	if err != nil {
		t.Fatalf("NewEmbedded: %v", err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Store.Close: %v", err)
	}
	if err := closeAll(); err != nil {
		t.Errorf("close after Store.Close: %v", err)
	}
	if err := closeAll(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func activeRequest(id grants.RequestID, expires time.Time) *grants.Request {
	return &grants.Request{
		ID:        id,
		State:     grants.Active,
		Role:      "prod-readonly",
		Backend:   grants.BackendSTS,
		Reason:    "investigating INC-42",
		Duration:  time.Hour,
		CreatedAt: expires.Add(-2 * time.Hour),
		Deadline:  expires.Add(-90 * time.Minute),
		GrantedAt: expires.Add(-time.Hour),
		ExpiresAt: expires,
	}
}

func TestRecordSurvivesRedisRestart(t *testing.T) {
	srv := testenv.StartRedis(t)
	s := open(t, srv.URL(), redisstore.Options{})
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	r := activeRequest("JIT-AAAAA1", expires)
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Update(t.Context(), r.ID, func(r *grants.Request) error {
		r.AccessKeyID = "ASIAEXAMPLE"
		return nil
	}); err != nil {
		t.Fatalf("Update: %v", err)
	}

	srv.Stop()
	srv.Start(t)

	// The same client reconnects by itself.
	got, err := s.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if got.AccessKeyID != "ASIAEXAMPLE" || !got.ExpiresAt.Equal(expires) {
		t.Errorf("after restart: AccessKeyID %q ExpiresAt %v, want ASIAEXAMPLE %v", got.AccessKeyID, got.ExpiresAt, expires)
	}
	if next, err := s.NextDue(t.Context()); err != nil || !next.Equal(expires) {
		t.Errorf("NextDue after restart = %v, %v; want %v", next, err, expires)
	}
	open, err := s.Open(t.Context())
	if err != nil || len(open) != 1 {
		t.Errorf("Open after restart = %d records, %v; want 1", len(open), err)
	}
	// Versions survived too: an update still applies cleanly.
	if _, err := s.Update(t.Context(), r.ID, func(r *grants.Request) error { r.Attempts++; return nil }); err != nil {
		t.Errorf("Update after restart: %v", err)
	}
}

func TestKeysShareOneHashTag(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	ctx := t.Context()
	now := time.Now()
	pending := activeRequest("JIT-AAAAA1", now.Add(time.Hour))
	pending.State = grants.Pending
	pending.Deadline = now.Add(time.Minute)
	for _, r := range []*grants.Request{pending, activeRequest("JIT-AAAAA2", now.Add(time.Hour))} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatalf("Create: %v", err)
		}
	}
	if _, err := s.Update(ctx, "JIT-AAAAA2", func(r *grants.Request) error { r.State = grants.Revoked; return nil }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.SetRef(ctx, "JIT-AAAAA1", "audit", "C0AUDIT:1.000100"); err != nil {
		t.Fatalf("SetRef: %v", err)
	}

	var keys []string
	iter := s.Client().Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	tag := "{" + prefix + "}:"
	want := map[string]bool{
		tag + "req:JIT-AAAAA1": true, tag + "req:JIT-AAAAA2": true,
		tag + "open": true, tag + "deadlines": true, tag + "refs:JIT-AAAAA1": true,
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, tag) {
			t.Errorf("key %q is outside the hash tag %s", k, tag)
		}
		delete(want, k)
	}
	if len(want) > 0 {
		t.Errorf("keys %v missing from %v", want, keys)
	}

	// Redis Cluster hashes only the hash tag when there is one: the part
	// between the first '{' and the next '}', if not empty.
	for _, k := range keys {
		if got := hashTag(k); got != prefix {
			t.Errorf("key %q hashes on %q, want %q", k, got, prefix)
		}
	}
}

// hashTag is what Redis Cluster hashes to find a key's slot.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

func TestPrefixWithBrace(t *testing.T) {
	if _, err := redisstore.Open(t.Context(), "redis://127.0.0.1:1/0", redisstore.Options{Prefix: "a{b"}); err == nil || !strings.Contains(err.Error(), "must not contain") {
		t.Errorf("Open with prefix a{b: %v, want a prefix error", err)
	}
	if _, _, err := redisstore.NewEmbedded(redisstore.Options{Prefix: "a}b"}); err == nil {
		t.Errorf("NewEmbedded accepted prefix a}b")
	}
	defer func() {
		if recover() == nil {
			t.Errorf("New accepted a prefix with a brace")
		}
	}()
	redisstore.New(redis.NewClient(&redis.Options{}), redisstore.Options{Prefix: "a}b"})
}

func TestFinishedRecordsExpire(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	const retention = time.Hour
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix, Retention: retention})
	ctx := t.Context()
	key := "{" + prefix + "}:req:JIT-AAAAA1"
	ttl := func() time.Duration {
		t.Helper()
		d, err := s.Client().PTTL(ctx, key).Result()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		return d
	}
	update := func(fn func(*grants.Request)) {
		t.Helper()
		if _, err := s.Update(ctx, "JIT-AAAAA1", func(r *grants.Request) error { fn(r); return nil }); err != nil {
			t.Fatalf("Update: %v", err)
		}
	}

	if err := s.Create(ctx, activeRequest("JIT-AAAAA1", time.Now().Add(time.Hour))); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if d := ttl(); d >= 0 {
		t.Errorf("active record has TTL %v, want none", d)
	}
	// Terminal, but cleanup is still due: not finished, so kept.
	update(func(r *grants.Request) { r.State = grants.Revoked; r.CleanupAt = time.Now().Add(time.Hour) })
	if d := ttl(); d >= 0 {
		t.Errorf("revoked record awaiting cleanup has TTL %v, want none", d)
	}
	update(func(r *grants.Request) { r.CleanupAt = time.Time{} })
	if d := ttl(); d <= retention-time.Minute || d > retention {
		t.Errorf("finished record has TTL %v, want about %v", d, retention)
	}

	// Another write must not push the end of retention further out.
	if err := s.Client().PExpire(ctx, key, time.Minute).Err(); err != nil {
		t.Fatalf("PEXPIRE: %v", err)
	}
	update(func(r *grants.Request) { r.RevokeReason = "expired" })
	if d := ttl(); d > time.Minute {
		t.Errorf("TTL after a second write to a finished record = %v, want it to keep counting down", d)
	}
}

func TestDefaultRetention(t *testing.T) {
	s, closeAll, err := redisstore.NewEmbedded(redisstore.Options{})
	if err != nil {
		t.Fatalf("NewEmbedded: %v", err)
	}
	defer closeAll()
	r := activeRequest("JIT-AAAAA1", time.Now())
	r.State = grants.Denied
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatalf("Create: %v", err)
	}
	d, err := s.Client().PTTL(t.Context(), "{jitbot}:req:JIT-AAAAA1").Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	if want := redisstore.DefaultRetention; d <= want-time.Minute || d > want {
		t.Errorf("TTL of a record created finished = %v, want about %v", d, want)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, url string
		want      []string // substrings of the error
	}{
		{name: "empty", url: "", want: []string{"want redis://"}},
		{name: "no scheme", url: "localhost:6379", want: []string{"want redis://"}},
		{name: "wrong scheme", url: "http://localhost:6379", want: []string{`unsupported scheme "http"`}},
		{name: "unix socket", url: "unix:///tmp/redis.sock", want: []string{`unsupported scheme "unix"`}},
		{name: "bad database", url: "redis://:hunter2@localhost:6379/abc", want: []string{"invalid database number", ":xxxxx@localhost"}},
		{name: "unknown option", url: "redis://localhost:6379/0?colour=blue", want: []string{"unexpected option: colour"}},
		{name: "sentinel without master", url: "redis-sentinel://:hunter2@h1:26379,h2:26379", want: []string{"master name"}},
		{name: "cluster with a database", url: "redis-cluster://h1:6379,h2:6379/3", want: []string{"only database 0"}},
		{name: "nobody listening", url: "redis://:hunter2@127.0.0.1:1/0", want: []string{"127.0.0.1:1", "no answer from", "xxxxx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redisstore.Open(t.Context(), tt.url, redisstore.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.url)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestOpenPingsWithinContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	// 192.0.2.0/24 is TEST-NET-1, never routed: the dial hangs (or fails
	// at once where there is no route at all).
	_, err := redisstore.Open(ctx, "redis://192.0.2.1:6379/0", redisstore.Options{})
	if err == nil {
		t.Fatal("Open succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Open took %v (%v); want it bounded by ctx", took, err)
	}
}

func TestMessageRefsSurviveRestartAndExpire(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	ctx := t.Context()
	for key, value := range map[string]string{"audit": "C0AUDIT:1.000100", "approver:U0LEAD1": "D0LEAD1:2.000200"} {
		if err := s.SetRef(ctx, "JIT-AAAAA1", key, value); err != nil {
			t.Fatalf("SetRef: %v", err)
		}
	}
	srv.Stop()
	srv.Start(t)
	s = open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	got, err := s.Refs(ctx, "JIT-AAAAA1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"audit": "C0AUDIT:1.000100", "approver:U0LEAD1": "D0LEAD1:2.000200"}
	if !maps.Equal(got, want) {
		t.Errorf("Refs after restart = %v, want %v", got, want)
	}
	ttl, err := s.Client().TTL(ctx, "{"+prefix+"}:refs:JIT-AAAAA1").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl < 29*24*time.Hour || ttl > 30*24*time.Hour {
		t.Errorf("refs TTL = %v, want about 30 days", ttl)
	}
	if none, err := s.Refs(ctx, "JIT-UNKNWN"); err != nil || len(none) != 0 {
		t.Errorf("Refs of an unknown request = %v, %v; want none", none, err)
	}
}

func TestFirstSeenOnlyOnce(t *testing.T) {
	s := open(t, testenv.StartRedis(t).URL(), redisstore.Options{Prefix: newPrefix()})
	ctx := t.Context()
	for i, want := range []bool{true, false, false} {
		got, err := s.FirstSeen(ctx, "envelope:abc", time.Minute)
		if err != nil || got != want {
			t.Errorf("call %d: FirstSeen = %v, %v; want %v", i+1, got, err, want)
		}
	}
	if got, _ := s.FirstSeen(ctx, "envelope:other", time.Minute); !got {
		t.Errorf("a different key was reported as seen")
	}
}

func TestTakeIsASlidingWindow(t *testing.T) {
	s := open(t, testenv.StartRedis(t).URL(), redisstore.Options{Prefix: newPrefix()})
	ctx := t.Context()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	take := func(at time.Time) bool {
		ok, err := s.Take(ctx, "breakglass:readonly:UBOB", 2, 24*time.Hour, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for i, tt := range []struct {
		at   time.Time
		want bool
	}{
		{t0, true}, {t0.Add(time.Hour), true}, {t0.Add(2 * time.Hour), false},
		{t0.Add(24*time.Hour + time.Minute), true}, // the first use left the window
		{t0.Add(24*time.Hour + 2*time.Minute), false},
	} {
		if got := take(tt.at); got != tt.want {
			t.Errorf("use %d at %v: Take = %v, want %v", i+1, tt.at.Format(time.Kitchen), got, tt.want)
		}
	}
	if ok, _ := s.Take(ctx, "breakglass:readonly:UALICE", 2, 24*time.Hour, t0.Add(2*time.Hour)); !ok {
		t.Errorf("another user's uses counted against this one")
	}
}

// TestOpenIndexesRecordsWrittenBeforeTheIndex: records written by a jitbot
// that kept no holder index are indexed when a store opens, so a
// revocation still sees every other holder. That is done once per store:
// a store marked indexed is not read through again at the next start
// (every write keeps the index), and Reindex rebuilds a lost index.
func TestOpenIndexesRecordsWrittenBeforeTheIndex(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	r := activeRequest("JIT-HOLD01", time.Now().Add(time.Hour))
	r.Backend, r.Target, r.Principal = grants.BackendGroup, "jit-admins", "alice"
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	h, _ := grants.HoldOf(r)
	key := "{" + prefix + "}:holds:" + h.Backend + "|" + h.Target + "|" + h.Principal
	if n, err := s.Client().Del(t.Context(), key).Result(); err != nil || n != 1 {
		t.Fatalf("delete the index %s: %d, %v", key, n, err)
	}
	if got, err := s.Holders(t.Context(), h); err != nil || len(got) != 0 {
		t.Fatalf("holders without the index: %v, %v", got, err)
	}
	// The first open marked the store indexed: the next one trusts it.
	marked := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	if got, err := marked.Holders(t.Context(), h); err != nil || len(got) != 0 {
		t.Fatalf("holders after opening a store marked indexed: %v, %v; want the index left as it was", got, err)
	}
	if err := marked.Reindex(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, err := marked.Holders(t.Context(), h); err != nil || len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("holders after Reindex: %v, %v; want %s", got, err, r.ID)
	}

	// A store written before the index existed has neither the index nor
	// the mark.
	if err := s.Client().Del(t.Context(), key, "{"+prefix+"}:holds-indexed").Err(); err != nil {
		t.Fatal(err)
	}
	again := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	got, err := again.Holders(t.Context(), h)
	if err != nil || len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("holders after a store opened: %v, %v; want %s", got, err, r.ID)
	}
	if n, err := s.Client().Exists(t.Context(), "{"+prefix+"}:holds-indexed").Result(); err != nil || n != 1 {
		t.Errorf("the store is not marked indexed after Open: %d, %v", n, err)
	}
}

// TestOpenIndexesPeopleOfAStoreIndexedBefore: a store a previous jitbot
// marked indexed (holders only, mark without a version) gets its people
// and role indexes built when it is opened, once.
func TestOpenIndexesPeopleOfAStoreIndexedBefore(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	r := activeRequest("JIT-PEOPL1", time.Now().Add(time.Hour))
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	user, role, mark := "{"+prefix+"}:by-user:"+r.Requester.ID, "{"+prefix+"}:by-role:"+r.Role, "{"+prefix+"}:holds-indexed"
	if n, err := s.Client().Del(t.Context(), user, role).Result(); err != nil || n != 2 {
		t.Fatalf("delete the indexes: %d, %v", n, err)
	}
	if err := s.Client().Set(t.Context(), mark, time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.OpenOf(t.Context(), r.Requester.ID, []string{r.Role}); err != nil || len(got) != 0 {
		t.Fatalf("open of the requester without the index: %v, %v", got, err)
	}
	again := open(t, srv.URL(), redisstore.Options{Prefix: prefix})
	for _, roles := range [][]string{nil, {r.Role}} {
		who := r.Requester.ID
		if roles != nil {
			who = "U0SOMEONE"
		}
		if got, err := again.OpenOf(t.Context(), who, roles); err != nil || len(got) != 1 || got[0].ID != r.ID {
			t.Errorf("OpenOf(%s, %v) after the store opened: %v, %v; want %s", who, roles, got, err, r.ID)
		}
	}
	if v, err := s.Client().Get(t.Context(), mark).Result(); err != nil || !strings.HasPrefix(v, "v2 ") {
		t.Errorf("mark after Open: %q, %v; want the v2 mark", v, err)
	}
}
