package redisstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/testenv"
)

var (
	keyA = []byte("key-a-0123456789abcdef0123456789abcdef")
	keyB = []byte("key-b-0123456789abcdef0123456789abcdef")
)

// tampered reads id through every read path and returns what each says.
func tampered(t *testing.T, s *redisstore.Store, id grants.RequestID, h grants.Hold) (get, update, open, holders bool) {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	get = r.Tampered
	if _, err := s.Update(t.Context(), id, func(r *grants.Request) error {
		update = r.Tampered
		return grants.ErrStale // read only
	}); err != nil && err != grants.ErrStale {
		t.Fatal(err)
	}
	rs, err := s.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.ID == id {
			open = r.Tampered
		}
	}
	hs, err := s.Holders(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range hs {
		if r.ID == id {
			holders = r.Tampered
		}
	}
	return get, update, open, holders
}

// TestRecordsAreSealed: a record written by the store reads as trusted; one
// whose JSON a Redis writer changed, whose MAC they dropped, that they
// copied to another ID, or that a store with another key wrote, reads as
// Tampered on every read path. The previous key still verifies.
func TestRecordsAreSealed(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix, SigningKeys: [][]byte{keyA}})
	rdb := s.Client()
	now := time.Now()
	r := activeRequest("JIT-SEAL01", now.Add(time.Hour))
	r.Backend, r.Target, r.Principal = grants.BackendGroup, "jit-ops", "alice"
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	key := "{" + prefix + "}:req:JIT-SEAL01"
	h, _ := grants.HoldOf(r)
	if g, u, o, h := tampered(t, s, r.ID, h); g || u || o || h {
		t.Fatalf("a record the store wrote reads as tampered (get %v update %v open %v holders %v)", g, u, o, h)
	}

	// Rotation: a store whose previous key is A trusts what A signed.
	rotated := open(t, srv.URL(), redisstore.Options{Prefix: prefix, SigningKeys: [][]byte{keyB, keyA}})
	if g, _, _, _ := tampered(t, rotated, r.ID, h); g {
		t.Error("after a rotation, a record signed with the previous key reads as tampered")
	}
	other := open(t, srv.URL(), redisstore.Options{Prefix: prefix, SigningKeys: [][]byte{keyB}})
	if g, u, o, h := tampered(t, other, r.ID, h); !g || !u || !o || !h {
		t.Errorf("a store with another key trusts the record (get %v update %v open %v holders %v)", !g, !u, !o, !h)
	}

	vals, err := rdb.HMGet(t.Context(), key, "d", "m").Result()
	if err != nil {
		t.Fatal(err)
	}
	data, sum := vals[0].(string), vals[1].(string)
	edits := map[string]func(){
		"DryRun set": func() {
			rdb.HSet(t.Context(), key, "d", strings.Replace(data, `"id":`, `"dry_run":true,"id":`, 1))
		},
		"MAC removed": func() { rdb.HDel(t.Context(), key, "m") },
		"MAC garbled": func() { rdb.HSet(t.Context(), key, "m", "zz") },
	}
	for name, edit := range edits {
		edit()
		if g, u, o, h := tampered(t, s, r.ID, h); !g || !u || !o || !h {
			t.Errorf("%s: read as trusted (get %v update %v open %v holders %v)", name, !g, !u, !o, !h)
		}
		// Put the original back for the next edit.
		if err := rdb.HSet(t.Context(), key, "d", data, "m", sum).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecordCannotMove: a record and its MAC copied to another ID or
// another jitbot's prefix reads as tampered there.
func TestRecordCannotMove(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix, SigningKeys: [][]byte{keyA}})
	rdb := s.Client()
	r := activeRequest("JIT-MOVE01", time.Now().Add(time.Hour))
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	src, err := rdb.HGetAll(t.Context(), "{"+prefix+"}:req:JIT-MOVE01").Result()
	if err != nil {
		t.Fatal(err)
	}
	copyTo := func(c redis.UniversalClient, key string) {
		t.Helper()
		for f, v := range src {
			if err := c.HSet(t.Context(), key, f, v).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyTo(rdb, "{"+prefix+"}:req:JIT-MOVE02")
	if got, err := s.Get(t.Context(), "JIT-MOVE02"); err != nil || !got.Tampered {
		t.Errorf("a record copied to another ID: err %v, tampered %v", err, got != nil && got.Tampered)
	}
	prefix2 := newPrefix()
	s2 := open(t, srv.URL(), redisstore.Options{Prefix: prefix2, SigningKeys: [][]byte{keyA}})
	copyTo(rdb, "{"+prefix2+"}:req:JIT-MOVE01")
	if got, err := s2.Get(t.Context(), "JIT-MOVE01"); err != nil || !got.Tampered {
		t.Errorf("a record copied to another prefix: err %v, tampered %v", err, got != nil && got.Tampered)
	}
}

func TestShortSigningKey(t *testing.T) {
	srv := testenv.StartRedis(t)
	_, err := redisstore.Open(t.Context(), srv.URL(), redisstore.Options{SigningKeys: [][]byte{[]byte("short")}})
	if err == nil || !strings.Contains(err.Error(), "signing key 1 is 5 bytes; want at least 32") {
		t.Errorf("Open with a 5-byte key: err = %v", err)
	}
	if _, _, err := redisstore.NewEmbedded(redisstore.Options{SigningKeys: [][]byte{keyA, []byte("short")}}); err == nil {
		t.Error("NewEmbedded accepted a short previous key")
	}
}

// TestEmbeddedStoreWantsAPassword: the embedded server listens on a
// loopback port any local process can reach; without the password it
// serves nothing.
func TestEmbeddedStoreWantsAPassword(t *testing.T) {
	s, closeAll, err := redisstore.NewEmbedded(redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	addr := s.Client().(*redis.Client).Options().Addr
	sidecar := redis.NewClient(&redis.Options{Addr: addr})
	defer sidecar.Close()
	if err := sidecar.Set(t.Context(), "x", "1", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("a client without the password: err = %v, want NOAUTH", err)
	}
}
