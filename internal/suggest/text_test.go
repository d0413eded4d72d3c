package suggest

import (
	"strings"
	"testing"
	"time"
)

func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 50 * time.Second: "50s", 30 * time.Minute: "30m", time.Hour: "1h",
		90 * time.Minute: "1h30m", 90*time.Minute + 10*time.Second: "1h30m10s", 10 * time.Hour: "10h",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %q; want %q", time.Duration(d), got, want)
		}
	}
}

// TestTextWithoutEnoughHistory: no used grant says there is nothing to
// suggest; a few say why no duration is proposed.
func TestTextWithoutEnoughHistory(t *testing.T) {
	unused := Grant{Start: t0, End: t0.Add(time.Hour)}
	if got := Text(Build("r", time.Hour, []Grant{unused}), 90*24*time.Hour); !strings.Contains(got, "1 grant ended in the last 90d, 0 of them used") ||
		!strings.Contains(got, "nothing to suggest") || strings.Contains(got, "session_policy") {
		t.Errorf("no used grant:\n%s", got)
	}
	used := Grant{Start: t0, End: t0.Add(time.Hour), Calls: []Call{call("s3:GetObject", 0)}}
	got := Text(Build("r", time.Hour, []Grant{used, used}), 7*24*time.Hour)
	if !strings.Contains(got, "fewer than 5 used grants, no suggestion") || !strings.Contains(got, `"s3:GetObject"`) || strings.Contains(got, "approvers see") {
		t.Errorf("two used grants:\n%s", got)
	}
}
