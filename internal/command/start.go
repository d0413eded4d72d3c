package command

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// Start is when a request's access is to begin: the --start of /jit
// request. It is kept as typed, not as a time, because an HH:MM start
// depends on the requester's time zone and a +DURATION start on when the
// service reads it; Resolve turns it into a time. Starts compare with ==.
type Start struct {
	form   startForm
	at     time.Time     // startAt: the instant, in UTC so that == compares instants
	offset int           // startAt: the UTC offset as typed, in seconds east, for String
	clock  int           // startClock: minutes after midnight, 0 to 1439
	delay  time.Duration // startDelay: how long after now, always > 0
}

// startForm says which of the three forms of --start was typed.
type startForm uint8

const (
	startNone  startForm = iota // no --start: the zero Start
	startAt                     // an RFC 3339 time: 2026-12-24T22:00:00Z
	startClock                  // HH:MM: the next time the requester's clock reads it
	startDelay                  // +DURATION: that long after now
)

// IsZero reports whether s is the zero Start: no --start was given.
func (s Start) IsZero() bool {
	return s.form == startNone
}

// Resolve returns the time s stands for, in loc (UTC when loc is nil).
//
// An RFC 3339 start is its own instant, which may be in the past: whether
// that is allowed is for the service to say. An HH:MM start is the first
// time strictly after now at which the wall clock in loc reads HH:MM, so
// one equal to now's minute is tomorrow's; when the clocks go back through
// it, the earlier of its two readings that is still ahead, and when they
// skip it, the same time after the skip (02:30 on the night Berlin goes
// from 02:00 to 03:00 is 03:30). A +DURATION start is now plus the
// duration. The zero Start resolves to now.
func (s Start) Resolve(now time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	switch s.form {
	case startAt:
		return s.at.In(loc)
	case startClock:
		return nextClock(now, loc, s.clock/60, s.clock%60)
	case startDelay:
		return now.Add(s.delay).In(loc)
	}
	return now.In(loc)
}

// String returns s as it would be typed after --start, normalised:
// "2026-12-24T22:00:00+01:00", "09:30", "+1h30m"; "" for the zero Start.
func (s Start) String() string {
	switch s.form {
	case startAt:
		return s.at.In(time.FixedZone("", s.offset)).Format(time.RFC3339Nano)
	case startClock:
		return fmt.Sprintf("%02d:%02d", s.clock/60, s.clock%60)
	case startDelay:
		return "+" + rules.FormatDuration(s.delay)
	}
	return ""
}

// startHint is how to write a start, for error messages.
const startHint = "expected RFC 3339 (2026-12-24T22:00:00Z), HH:MM or +DURATION (+2h)"

// startFlag checks and records a --start, its value already unescaped.
// A start in the past is not refused here: that needs the clock, and
// the service has it.
func (c *Command) startFlag(value string) *Error {
	u := Usage(Request)
	if value == "" {
		return errorf(u, "--start needs a time, as in --start 22:00, --start +2h or --start 2026-12-24T22:00:00Z")
	}
	if after, ok := strings.CutPrefix(value, "+"); ok {
		d, err := rules.ParseDuration(after)
		if err != nil {
			return errorf(u, "--start %s: after the + comes a duration, as in +30m, +2h or +1d", quote(value))
		}
		if d <= 0 {
			return errorf(u, "--start %s: the delay must be more than zero, as in +30m or +2h", quote(value))
		}
		c.Start = Start{form: startDelay, delay: d}
		return nil
	}
	if minutes, ok := parseClock(value); ok {
		c.Start = Start{form: startClock, clock: minutes}
		return nil
	}
	if at, offset, ok := parseTime(value); ok {
		c.Start = Start{form: startAt, at: at, offset: offset}
		return nil
	}
	if isDuration(value) {
		return errorf(u, "--start %s: a delay starts with +, as in --start +2h", quote(value))
	}
	return errorf(u, "--start %s: %s", quote(value), startHint)
}

// parseClock reads H:MM or HH:MM on a 24-hour clock and returns the
// minutes after midnight.
func parseClock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, false
	}
	hour, _ := strconv.Atoi(h)
	minute, _ := strconv.Atoi(m)
	if hour > 23 || minute > 59 {
		return 0, false
	}
	return hour*60 + minute, true
}

func digits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

// parseTime reads an RFC 3339 time and returns it in UTC with the offset
// it was written in. RFC 3339 allows a lower-case t and z, which Go's
// layout does not. Go also takes offsets RFC 3339 does not (+24:00,
// +01:60, read as +02:00); those are refused, as typing mistakes.
func parseTime(s string) (time.Time, int, bool) {
	s = asciiUpper(s)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, 0, false
	}
	if !strings.HasSuffix(s, "Z") {
		// time.Parse took the offset, so it is the last 6 bytes: ±hh:mm.
		off := s[len(s)-len("+hh:mm"):]
		if off[1:3] > "23" || off[4:] > "59" {
			return time.Time{}, 0, false
		}
	}
	_, offset := t.Zone()
	return t.UTC(), offset, true
}

// nextClock returns the first time after now at which the wall clock in
// loc reads hour:minute.
func nextClock(now time.Time, loc *time.Location, hour, minute int) time.Time {
	y, mo, d := now.In(loc).Date()
	var t time.Time
	// Today or tomorrow, unless a skip in between moves a reading back:
	// Santiago's 00:30 on the night its clocks skip midnight, which
	// time.Date makes 23:30 of the evening before, or all of 30 December
	// 2011 in Samoa.
	for i := range 4 {
		day := time.Date(y, mo, d+i, 0, 0, 0, 0, time.UTC)
		for _, t = range wallTimes(day, hour, minute, loc) {
			if t.After(now) {
				return t
			}
		}
	}
	return t // not reached for any time a clock shows
}

// wallTimes returns the instants at which the wall clock in loc reads
// hour:minute on day's date, earliest first: one on most days, two when
// the clocks go back through that time, and when they skip it, the one
// instant the same time after the skip, so a start is never earlier than
// asked.
func wallTimes(day time.Time, hour, minute int, loc *time.Location) []time.Time {
	y, mo, d := day.Date()
	t := time.Date(y, mo, d, hour, minute, 0, 0, loc)
	// time.Date picks one reading of a time that comes twice and moves a
	// skipped one either way; the offsets in force around t's zone period
	// give the others.
	around := []time.Time{t}
	start, end := t.ZoneBounds()
	if !start.IsZero() {
		around = append(around, start.Add(-time.Nanosecond))
	}
	if !end.IsZero() {
		around = append(around, end)
	}
	var times []time.Time
	latest := t
	for _, a := range around {
		_, off := a.Zone()
		u := time.Date(y, mo, d, hour, minute, 0, 0, time.FixedZone("", off)).In(loc)
		if u.After(latest) {
			latest = u
		}
		uy, umo, ud := u.Date()
		if uy == y && umo == mo && ud == d && u.Hour() == hour && u.Minute() == minute && !slices.ContainsFunc(times, u.Equal) {
			times = append(times, u)
		}
	}
	if len(times) == 0 {
		return []time.Time{latest}
	}
	slices.SortFunc(times, time.Time.Compare)
	return times
}
