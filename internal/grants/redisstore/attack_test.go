package redisstore_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestUnreadableRecordIsTampered: a Redis writer puts a record whose JSON
// does not parse (or does not fit a Request) in the open set and in the
// holders index of a real grant's membership. That is tampering like any
// other, and must read as such: as a decode error instead, every Open
// fails (the lifecycle pass, deactivation and the ending of extensions
// stop for every record), every Holders of that membership fails (so the
// real grant's revocation fails at overlapping, forever, and alice keeps
// the group), and since nothing reads it as Tampered, no tampered alert is
// ever raised.
func TestUnreadableRecordIsTampered(t *testing.T) {
	srv := testenv.StartRedis(t)
	prefix := newPrefix()
	s := open(t, srv.URL(), redisstore.Options{Prefix: prefix, SigningKeys: [][]byte{keyA}})
	rdb := s.Client()
	real := activeRequest("JIT-REAL01", time.Now().Add(time.Hour))
	real.Backend, real.Target, real.Principal = grants.BackendGroup, "jit-ops", "alice"
	if err := s.Create(t.Context(), real); err != nil {
		t.Fatal(err)
	}
	h, _ := grants.HoldOf(real)
	tag := "{" + prefix + "}"
	for id, data := range map[string]string{
		"JIT-JUNK01": "not json",
		"JIT-JUNK02": `{"id":"JIT-JUNK02","state":7}`,
	} {
		rdb.HSet(t.Context(), tag+":req:"+id, "v", "1", "d", data, "m", "00")
		rdb.SAdd(t.Context(), tag+":open", id)
		rdb.SAdd(t.Context(), tag+":holds:"+h.Backend+"|"+h.Target+"|"+h.Principal, id)

		got, err := s.Get(t.Context(), grants.RequestID(id))
		if err != nil || !got.Tampered || got.ID != grants.RequestID(id) {
			t.Errorf("%s: Get = %+v, %v; want it read as tampered", id, got, err)
		}
	}
	open, err := s.Open(t.Context())
	if err != nil {
		t.Fatalf("Open fails for every record because of one unreadable record: %v", err)
	}
	if n := countTampered(open); n != 2 {
		t.Errorf("Open: %d tampered records, want 2", n)
	}
	holders, err := s.Holders(t.Context(), h)
	if err != nil {
		t.Fatalf("Holders of alice's membership fails, so its revocation fails: %v", err)
	}
	if n := countTampered(holders); n != 2 {
		t.Errorf("Holders: %d tampered records, want 2", n)
	}
}

func countTampered(rs []*grants.Request) int {
	n := 0
	for _, r := range rs {
		if r.Tampered {
			n++
		}
	}
	return n
}
