package auditlog_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/grants"
)

// TestDryRunRecorded: the evidence of a dry run says so; that of a real
// grant has no dry_run key at all, so entries written before the field
// existed hash as they did.
func TestDryRunRecorded(t *testing.T) {
	l, _ := newLog(t)
	dry := event(grants.EventGranted, "JIT-DRYRN2", 1)
	dry.Request.DryRun = true
	real := event(grants.EventGranted, "JIT-REAL22", 2)
	l.Notify(t.Context(), dry)
	l.Notify(t.Context(), real)
	stored, err := l.Read(t.Context(), "-", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Fatalf("%d entries, want 2", len(stored))
	}
	for i, want := range []bool{true, false} {
		raw := stored[i].Raw
		if stored[i].Entry.DryRun != want || strings.Contains(string(raw), `"dry_run"`) != want {
			t.Errorf("entry %d: DryRun %v, JSON %s; want dry_run %v", i, stored[i].Entry.DryRun, raw, want)
		}
	}
	if br := verify(t, l); br != nil {
		t.Errorf("chain with a dry run does not verify: %+v", br)
	}
}
