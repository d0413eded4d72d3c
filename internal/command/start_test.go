package command_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the DST cases must not depend on the machine's zoneinfo

	"github.com/jitbot/jitbot/internal/command"
)

func load(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// startOf parses "--start s" in a request and returns its Start.
func startOf(t testing.TB, s string) command.Start {
	t.Helper()
	c, err := command.Parse("request prod-admin --start " + s + " fixing replica lag")
	if err != nil {
		t.Fatalf("--start %s: %v", s, err)
	}
	return c.Start
}

// parseAs parses in and, when wantErr is set, fails unless the error
// says so. It returns the Command when in parses, as it should when
// wantErr is "".
func parseAs(t *testing.T, in, wantErr string) (command.Command, bool) {
	t.Helper()
	c, err := command.Parse(in)
	if wantErr != "" {
		var pe *command.Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, wantErr) {
			t.Fatalf("Parse(%q) = %+v, %v;\nwant an error saying %q", in, c, err, wantErr)
		}
		return c, false
	}
	if err != nil {
		t.Fatalf("Parse(%q): %v", in, err)
	}
	return c, true
}

// TestParseStart: each form of --start, as String gives it back and as
// Resolve reads it on Tuesday 22 December 2026 at 21:30 in Berlin, and
// every error.
func TestParseStart(t *testing.T) {
	berlin := load(t, "Europe/Berlin")
	now := time.Date(2026, 12, 22, 21, 30, 0, 0, berlin)
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 12, day, hour, minute, 0, 0, berlin) }
	tests := []struct {
		name, in string    // in: what follows the role
		want     string    // Start.String()
		at       time.Time // Start.Resolve(now, berlin)
		wantErr  string    // part of the message; "" for no error
	}{
		{name: "RFC 3339 in UTC", in: "--start 2026-12-24T22:00:00Z", want: "2026-12-24T22:00:00Z", at: at(24, 23, 0)},
		{name: "RFC 3339 with offset", in: "--start 2026-12-24T22:00:00+01:00", want: "2026-12-24T22:00:00+01:00", at: at(24, 22, 0)},
		{name: "RFC 3339 with negative offset", in: "--start 2026-12-24T08:00:00-05:00", want: "2026-12-24T08:00:00-05:00", at: at(24, 14, 0)},
		{name: "RFC 3339 +00:00 is Z", in: "--start 2026-12-24T22:00:00+00:00", want: "2026-12-24T22:00:00Z", at: at(24, 23, 0)},
		{name: "RFC 3339 lower case", in: "--start 2026-12-24t22:00:00z", want: "2026-12-24T22:00:00Z", at: at(24, 23, 0)},
		{name: "RFC 3339 fraction", in: "--start 2026-12-24T22:00:00.250Z", want: "2026-12-24T22:00:00.25Z", at: at(24, 23, 0).Add(250 * time.Millisecond)},
		{name: "RFC 3339 in the past is the service's to refuse", in: "--start 2020-01-01T00:00:00Z", want: "2020-01-01T00:00:00Z", at: time.Date(2020, 1, 1, 1, 0, 0, 0, berlin)},
		{name: "HH:MM ahead today", in: "--start 22:00", want: "22:00", at: at(22, 22, 0)},
		{name: "HH:MM passed is tomorrow", in: "--start 21:00", want: "21:00", at: at(23, 21, 0)},
		{name: "HH:MM of now's minute is tomorrow", in: "--start 21:30", want: "21:30", at: at(23, 21, 30)},
		{name: "H:MM", in: "--start 9:05", want: "09:05", at: at(23, 9, 5)},
		{name: "midnight", in: "--start 00:00", want: "00:00", at: at(23, 0, 0)},
		{name: "last minute", in: "--start 23:59", want: "23:59", at: at(22, 23, 59)},
		{name: "+DURATION", in: "--start +2h", want: "+2h", at: at(22, 23, 30)},
		{name: "+minutes", in: "--start +30m", want: "+30m", at: at(22, 22, 0)},
		{name: "+days", in: "--start +1d", want: "+24h", at: at(23, 21, 30)},
		{name: "+seconds normalised", in: "--start +90s", want: "+1m30s", at: at(22, 21, 31).Add(30 * time.Second)},
		{name: "with =", in: "--start=+2h", want: "+2h", at: at(22, 23, 30)},
		{name: "HH:MM with =", in: "--start=22:00", want: "22:00", at: at(22, 22, 0)},
		{name: "em dash", in: "—start 22:00", want: "22:00", at: at(22, 22, 0)},
		{name: "upper case flag", in: "--START 22:00", want: "22:00", at: at(22, 22, 0)},
		{name: "after the duration", in: "4h --start 22:00", want: "22:00", at: at(22, 22, 0)},

		{name: "hour 25", in: "--start 25:00", wantErr: `--start "25:00": expected RFC 3339 (2026-12-24T22:00:00Z), HH:MM or +DURATION (+2h)`},
		{name: "hour 24", in: "--start 24:00", wantErr: `--start "24:00": expected RFC 3339`},
		{name: "minute 60", in: "--start 12:60", wantErr: `--start "12:60": expected`},
		{name: "one-digit minute", in: "--start 12:5", wantErr: `--start "12:5": expected`},
		{name: "three-digit hour", in: "--start 012:00", wantErr: `--start "012:00": expected`},
		{name: "seconds", in: "--start 12:00:00", wantErr: `--start "12:00:00": expected`},
		{name: "negative clock", in: "--start -1:00", wantErr: `--start "-1:00": expected`},
		{name: "am/pm", in: "--start 10pm", wantErr: `--start "10pm": expected`},
		{name: "a word", in: "--start tomorrow", wantErr: `--start "tomorrow": expected`},
		{name: "a date", in: "--start 2026-12-24", wantErr: `--start "2026-12-24": expected`},
		{name: "a space for T", in: "--start 2026-12-24 22:00", wantErr: `--start "2026-12-24": expected`},
		{name: "RFC 3339 without zone", in: "--start 2026-12-24T22:00:00", wantErr: "expected RFC 3339"},
		{name: "RFC 3339 offset without colon", in: "--start 2026-12-24T22:00:00+0100", wantErr: "expected RFC 3339"},
		{name: "RFC 3339 offset hour 24", in: "--start 2026-12-24T22:00:00+24:00", wantErr: "expected RFC 3339"},
		{name: "RFC 3339 offset minute 60", in: "--start 2026-12-24T22:00:00+01:60", wantErr: "expected RFC 3339"},
		{name: "RFC 3339 30 February", in: "--start 2026-02-30T22:00:00Z", wantErr: "expected RFC 3339"},
		{name: "duration without +", in: "--start 2h", wantErr: `--start "2h": a delay starts with +, as in --start +2h`},
		{name: "zero delay", in: "--start +0m", wantErr: `--start "+0m": the delay must be more than zero`},
		{name: "bad delay", in: "--start +2x", wantErr: `--start "+2x": after the + comes a duration, as in +30m, +2h or +1d`},
		{name: "negative delay", in: "--start +-2h", wantErr: "after the + comes a duration"},
		{name: "two pluses", in: "--start ++2h", wantErr: "after the + comes a duration"},
		{name: "a lone +", in: "--start +", wantErr: "after the + comes a duration"},
		{name: "long value is shortened", in: "--start " + strings.Repeat("9", 100), wantErr: `--start "` + strings.Repeat("9", 40) + `"…: expected`},
		{name: "empty after =", in: "--start=", wantErr: "--start needs a time"},
		{name: "followed by a flag", in: "--start --incident INC-1", wantErr: "--start needs a time"},
		{name: "twice", in: "--start 22:00 --start +2h", wantErr: "--start is given twice; give it once"},
		{name: "twice, once with =", in: "--start=22:00 —start 22:00", wantErr: "--start is given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "request prod-admin " + tt.in + " fixing replica lag"
			c, ok := parseAs(t, in, tt.wantErr)
			if !ok {
				return
			}
			if c.Start.IsZero() || c.Start.String() != tt.want {
				t.Errorf("Parse(%q).Start = %q, want %q", in, c.Start, tt.want)
			}
			if got := c.Start.Resolve(now, berlin); !got.Equal(tt.at) || got.Location() != berlin {
				t.Errorf("Parse(%q).Start.Resolve = %v, want %v in Berlin", in, got, tt.at)
			}
			if c.Reason != "fixing replica lag" {
				t.Errorf("Parse(%q).Reason = %q", in, c.Reason)
			}
			// What String gives back is read as the same Start.
			if again := startOf(t, c.Start.String()); again != c.Start {
				t.Errorf("--start %s reads as %+v, not as %+v", c.Start, again, c.Start)
			}
		})
	}
}

// TestStartResolve: an HH:MM start is the next time the clock reads it,
// strictly after now, across the changes of daylight saving time.
func TestStartResolve(t *testing.T) {
	berlin, santiago := load(t, "Europe/Berlin"), load(t, "America/Santiago")
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		start string
		now   time.Time
		loc   *time.Location
		want  time.Time
	}{
		// Berlin goes from 02:00 CET to 03:00 CEST on 29 March 2026 and
		// from 03:00 CEST back to 02:00 CET on 25 October.
		{"tomorrow's 22:00 is 23 hours away when the clocks go forward", "22:00", utc(3, 28, 22, 0), berlin, utc(3, 29, 20, 0)},
		{"tomorrow's 22:00 is 25 hours away when the clocks go back", "22:00", utc(10, 24, 21, 0), berlin, utc(10, 25, 21, 0)},
		{"a skipped time is the same time after the skip", "02:30", utc(3, 29, 0, 0), berlin, utc(3, 29, 1, 30)},
		{"a skipped time, from the evening before", "02:30", utc(3, 28, 22, 0), berlin, utc(3, 29, 1, 30)},
		{"a time that comes twice: the first", "02:30", utc(10, 24, 22, 30), berlin, utc(10, 25, 0, 30)},
		{"a time that comes twice: the second, once the first is past", "02:30", utc(10, 25, 0, 45), berlin, utc(10, 25, 1, 30)},
		{"a time that came twice, both past", "02:30", utc(10, 25, 1, 45), berlin, utc(10, 26, 1, 30)},
		// Santiago skips from 00:00 to 01:00 on 6 September 2026; time.Date
		// makes 00:30 of that night 23:30 of the evening before.
		{"a skipped midnight is never earlier than asked", "00:30", utc(9, 6, 3, 0), santiago, utc(9, 6, 4, 30)},
		{"now's minute, to the second, is tomorrow", "21:30", time.Date(2026, 12, 22, 21, 30, 0, 0, berlin), berlin, time.Date(2026, 12, 23, 21, 30, 0, 0, berlin)},
		{"now's minute, later in it, is tomorrow", "21:30", time.Date(2026, 12, 22, 21, 30, 59, 999, berlin), berlin, time.Date(2026, 12, 23, 21, 30, 0, 0, berlin)},
		{"a nil location is UTC", "22:00", time.Date(2026, 12, 22, 22, 30, 0, 0, berlin), nil, utc(12, 22, 22, 0)},
		{"+DURATION is elapsed time, whatever the clocks do", "+2h", utc(10, 25, 0, 0), berlin, utc(10, 25, 2, 0)},
		{"RFC 3339 is its own instant, even in the past", "2026-01-01T00:00:00+01:00", utc(12, 22, 0, 0), berlin, utc(1, 1, 0, 0).Add(-time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := startOf(t, tt.start).Resolve(tt.now, tt.loc)
			loc := tt.loc
			if loc == nil {
				loc = time.UTC
			}
			if !got.Equal(tt.want) || got.Location() != loc {
				t.Errorf("--start %s at %v: Resolve = %v, want %v", tt.start, tt.now.In(loc), got, tt.want.In(loc))
			}
		})
	}
}

func TestStartZero(t *testing.T) {
	c, err := command.Parse("request prod-admin 1h fixing replica lag")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Start.IsZero() || c.Start.String() != "" {
		t.Errorf("no --start: Start = %+v (%q), want the zero Start", c.Start, c.Start)
	}
	now := time.Date(2026, 12, 22, 21, 30, 0, 0, time.UTC)
	if got := c.Start.Resolve(now, nil); !got.Equal(now) {
		t.Errorf("zero Start resolves to %v, want now, %v", got, now)
	}
}
