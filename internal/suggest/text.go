package suggest

import (
	"fmt"
	"strings"
	"time"
)

// Text is the suggestion as jitbot rules suggest prints it.
func Text(s Suggestion, since time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Role %s: %s ended in the last %s, %d of them used.\n", s.Role, count(s.Grants, "grant"), days(since), s.Used)
	if s.Used == 0 {
		b.WriteString("No grant made a call CloudTrail recorded: nothing to suggest.\n")
		return b.String()
	}
	if s.Truncated {
		b.WriteString("Some grants made more calls than were read; the figures are a floor.\n")
	}
	if s.Skipped > 0 {
		fmt.Fprintf(&b, "%d events named no IAM action and were left out.\n", s.Skipped)
	}
	b.WriteString("\nActions used (calls, grants, resources):\n")
	for _, u := range s.Actions {
		res := "*"
		if u.Resources != nil {
			res = strings.Join(u.Resources, " ")
		}
		fmt.Fprintf(&b, "  %-40s %6d %4d  %s\n", u.Action, u.Calls, u.Grants, res)
	}
	fmt.Fprintf(&b, "\nRead-only grants (no write action): %d of %d used.\n", s.ReadOnly, s.Used)
	fmt.Fprintf(&b, "Time used (first to last call), p90: %s; time granted, median: %s.\n", short(s.UsedP90), short(s.GrantedMedian))
	switch {
	case s.Duration > 0:
		fmt.Fprintf(&b, "Suggested default_duration: %s (now %s).\n", short(s.Duration), short(s.Default))
	case s.Used < MinHistory:
		fmt.Fprintf(&b, "default_duration: fewer than %d used grants, no suggestion.\n", MinHistory)
	default:
		fmt.Fprintf(&b, "default_duration: keep %s.\n", short(s.Default))
	}
	if line := s.Line(); line != "" {
		fmt.Fprintf(&b, "In one line, as approvers see it: %s.\n", line)
	}
	b.WriteString("\nSuggested session_policy:\n")
	b.WriteString(s.Policy.JSON())
	b.WriteString("\n")
	return b.String()
}

// short drops the zero units of a duration: 1h30m, not 1h30m0s.
func short(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// days writes a whole number of days as "90d".
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return short(d)
}

// count is n of noun, plural when n is not 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
