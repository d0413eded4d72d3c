package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestEachOpenHoldsOnePageAtATime: a pass over every open record (the
// lifecycle pass, the incident poller) must not hold them all at once;
// at 100,000 open records that was a 230 MiB replica. Each page is one
// round trip's worth.
func TestEachOpenHoldsOnePageAtATime(t *testing.T) {
	srv := testenv.StartRedis(t)
	s := open(t, srv.URL(), redisstore.Options{Prefix: newPrefix()})
	n := 2*redisstore.OpenBatch + 7
	for i := range n {
		r := activeRequest(grants.RequestID(fmt.Sprintf("JIT-E%05d", i)), time.Now().Add(time.Hour))
		if err := s.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	var sizes []int
	seen := 0
	err := s.EachOpen(t.Context(), func(page []*grants.Request) error {
		sizes = append(sizes, len(page))
		seen += len(page)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n || len(sizes) != 3 {
		t.Fatalf("EachOpen: %d records in pages of %v; want %d in 3 pages", seen, sizes, n)
	}
	for _, size := range sizes {
		if size > redisstore.OpenBatch {
			t.Errorf("a page of %d records; at most %d are read in one round trip", size, redisstore.OpenBatch)
		}
	}
}
