package history

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
)

// countingLog counts the pages read.
type countingLog struct {
	fakeLog
	pages int
}

func (c *countingLog) Back(ctx context.Context, end string, count int64) ([]auditlog.Stored, error) {
	c.pages++
	return c.fakeLog.Back(ctx, end, count)
}

// longLog is n entries a minute apart from t0, every tenth one the end of
// a readonly grant (JIT-<index>), the others other roles' events.
func longLog(t0 time.Time, n int) fakeLog {
	var l fakeLog
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		e := auditlog.Entry{At: at, Type: "requested", Role: "admin", RequestID: fmt.Sprint("JIT-", i)}
		if i%10 == 0 {
			e = auditlog.Entry{At: at, Type: string(grants.EventRevoked), Role: "readonly", RequestID: fmt.Sprint("JIT-", i),
				AccessKeyID: "ASIA", GrantedAt: at.Add(-time.Hour), ExpiresAt: at, EndedAt: at}
		}
		l = append(l, e)
	}
	return l
}

func ids(rs []*grants.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.ID))
	}
	return out
}

// TestLoadReadsOnlyWhatItNeeds: the log is read backwards a page at a
// time, and reading stops at the window's start, at Last grants found,
// or at Max entries, so the approval DM's line costs the same however
// long the log is.
func TestLoadReadsOnlyWhatItNeeds(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	const n = 2*page + 500
	for _, tt := range []struct {
		name  string
		scan  Scan
		want  []string
		pages int
	}{
		{"the whole log", Scan{}, everyTenth(0, n), 3},
		{"the last three", Scan{Last: 3}, []string{"JIT-2470", "JIT-2480", "JIT-2490"}, 1},
		{"since a time", Scan{Since: t0.Add((n - 1200) * time.Minute)}, everyTenth(n-1200, n), 2},
		{"at most max entries", Scan{Max: page + 1}, everyTenth(n-page-1, n), 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := &countingLog{fakeLog: longLog(t0, n)}
			got, err := endedBack(t.Context(), l, "readonly", tt.scan)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("found %d grants %v…, want %d, oldest first", len(got), first(ids(got), 3), len(tt.want))
			}
			if l.pages != tt.pages {
				t.Errorf("read %d pages, want %d", l.pages, tt.pages)
			}
		})
	}
}

// everyTenth is the IDs of the readonly grants among entries [from, to).
func everyTenth(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		if i%10 == 0 {
			out = append(out, fmt.Sprint("JIT-", i))
		}
	}
	return out
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
