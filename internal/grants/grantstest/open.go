package grantstest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// eachOpenRecords is more than one page of any store this project has
// (the Redis store reads 500 a round trip), so paging shows.
const eachOpenRecords = 1203

// testEachOpen checks that EachOpen hands out exactly Open's records, each
// once, in non-empty pages, and stops at fn's first error.
func testEachOpen(t *testing.T, newStore func(t *testing.T) grants.Store) {
	s := newStore(t)
	calls := 0
	if err := s.EachOpen(t.Context(), func([]*grants.Request) error { calls++; return nil }); err != nil || calls != 0 {
		t.Fatalf("EachOpen of an empty store: %d pages, %v; want none, nil", calls, err)
	}
	for i := range eachOpenRecords {
		create(t, s, pending(grants.RequestID(fmt.Sprintf("JIT-P%05d", i)), base.Add(time.Hour)))
	}
	done := pending("JIT-DONE01", base.Add(time.Hour))
	done.State = grants.Denied
	create(t, s, done)

	var seen []grants.RequestID
	pages := 0
	err := s.EachOpen(t.Context(), func(page []*grants.Request) error {
		pages++
		if len(page) == 0 {
			t.Errorf("page %d is empty", pages)
		}
		for _, r := range page {
			seen = append(seen, r.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("EachOpen: %v", err)
	}
	all, err := s.Open(t.Context())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	slices.Sort(seen)
	if want := sortedIDs(all); !slices.Equal(seen, want) {
		t.Errorf("EachOpen handed out %d records (%d distinct), Open %d; want the same records, each once", len(seen), len(slices.Compact(slices.Clone(seen))), len(want))
	}
	if len(seen) != eachOpenRecords {
		t.Errorf("EachOpen handed out %d records, want the %d unfinished", len(seen), eachOpenRecords)
	}

	stop := errors.New("enough")
	pages = 0
	err = s.EachOpen(t.Context(), func([]*grants.Request) error { pages++; return stop })
	if !errors.Is(err, stop) || pages != 1 {
		t.Errorf("EachOpen with fn failing: %d pages, %v; want 1 page and fn's error", pages, err)
	}
}
