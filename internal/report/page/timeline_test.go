package page

import (
	"testing"
	"time"
)

// TestTimelineTicks: whatever the window, the axis has a few marks, all
// inside it and in order.
func TestTimelineTicks(t *testing.T) {
	for _, window := range []time.Duration{20 * time.Minute, time.Hour, 24 * time.Hour, 72 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour} {
		until := time.Date(2026, 11, 23, 8, 17, 0, 0, time.UTC)
		since := until.Add(-window)
		x := func(at time.Time) float64 { return float64(at.Sub(since)) }
		got := ticks(since, until, x)
		if len(got) < 1 || len(got) > 8 {
			t.Errorf("%v window: %d ticks, want 1 to 8: %+v", window, len(got), got)
		}
		for i, tk := range got {
			if tk.X <= 0 || tk.X >= float64(window) || (i > 0 && tk.X <= got[i-1].X) {
				t.Errorf("%v window: tick %d (%s) at %v is outside the window or out of order", window, i, tk.Label, tk.X)
			}
		}
	}
}
