package rules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses the durations of the /jit grammar: Go's syntax
// (90s, 15m, 1h30m) plus whole days (1d, 1d12h). Negative and empty values
// are refused: no grant lasts less than nothing.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if strings.ContainsAny(s, "+-") {
		return 0, fmt.Errorf("duration %q must not have a sign", s)
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil || i == 0 {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole number before d, as in 1d or 2d12h", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use units s, m, h or d, as in 90s, 15m, 1h30m or 1d", s)
	}
	if d > time.Duration(1<<63-1)-days {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return days + d, nil
}

// FormatDuration writes a duration the way people type it: 2h, not
// 2h0m0s; 1h30m, not 1h30m0s; 90s stays 1m30s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
