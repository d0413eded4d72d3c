package auditlog_test

import (
	"slices"
	"testing"
)

// TestBackPagesNewestFirst: Back reads the log backwards, a page at a
// time, each page continuing before the last entry of the one before.
func TestBackPagesNewestFirst(t *testing.T) {
	l, _ := newLog(t)
	all := fill(t, l, 7)
	var got []string
	end := "+"
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("Back never came to the first entry")
		}
		page, err := l.Back(t.Context(), end, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page {
			got = append(got, s.StreamID)
		}
		if len(page) < 3 {
			break
		}
		end = "(" + page[len(page)-1].StreamID
	}
	var want []string
	for _, s := range slices.Backward(all) {
		want = append(want, s.StreamID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Back read %v, want every entry newest first %v", got, want)
	}
	first, err := l.Back(t.Context(), "+", 1)
	if err != nil || len(first) != 1 || first[0].Entry.Seq != all[len(all)-1].Entry.Seq || first[0].Entry.Type == "" {
		t.Errorf("Back(+, 1) = %+v, %v; want the newest entry, decoded", first, err)
	}
}
