package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Text is the report for people, in a fixed-width layout that reads the
// same in a terminal and in a Slack code block: a header, the totals, one
// block per role in name order, then the roles nobody asked for.
//
//	Access report, 2026-10-24 08:00 UTC to 2026-11-23 08:00 UTC (30d)
//
//	readonly
//	  requests          3 (extensions 0, third-party 0)
//	  approvals         2 (refused 0)
//	  granted           3 (break-glass 1)
//	  not granted       denied 0, timed out 0, cancelled 0, failed 0
//	  time to approval  median 4m30s, p95 12m (2 samples)
//	  elevated hours    1.5
//	  in 222222222222   requests 2, granted 2, elevated hours 1.0
//	  top requesters    2  UALICE alice@example.com
//	                    1  UBOB bob@example.com
//
//	never requested (candidates for removal):
//	  ops, pager, quick
//
// Blocks are separated by a blank line and each stays well under Slack's
// 3,000-character limit of a section, so a caller can split the text there.
// The text is not escaped for Slack mrkdwn; the caller does that.
func Text(r Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Access report, %s to %s (%s)\n", r.Since.UTC().Format(stamp), r.Until.UTC().Format(stamp),
		FormatDuration(r.Until.Sub(r.Since)))
	if len(r.Roles) == 0 {
		b.WriteString("\nno activity in this window\n")
	} else {
		b.WriteString("\n")
		writeRole(&b, "all roles", r.Total)
	}
	for _, s := range r.Roles {
		name := oneLine(s.Role)
		if s.NotInCatalog {
			name += " (no longer in the catalog)"
		}
		b.WriteString("\n")
		writeRole(&b, name, s)
	}
	b.WriteString("\nnever requested (candidates for removal):\n")
	if len(r.NeverRequested) == 0 {
		b.WriteString("  none\n")
	}
	writeWrapped(&b, r.NeverRequested)
	return b.String()
}

const stamp = "2006-01-02 15:04 MST"

func writeRole(b *strings.Builder, name string, s RoleStats) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(b, "  %-16s  %s\n", label, fmt.Sprintf(format, args...))
	}
	b.WriteString(name + "\n")
	line("requests", "%d (extensions %d, third-party %d)", s.Requests, s.Extensions, s.ThirdParty)
	line("approvals", "%d (refused %d)", s.Approvals, s.Refused)
	line("granted", "%d (break-glass %d)", s.Granted, s.BreakGlass)
	line("not granted", "denied %d, timed out %d, cancelled %d, failed %d", s.Denials, s.Timeouts, s.Cancelled, s.Failed)
	if l := s.TimeToApproval; l.Samples > 0 {
		line("time to approval", "median %s, p95 %s (%d %s)", seconds(l.MedianSeconds), seconds(l.P95Seconds),
			l.Samples, plural(l.Samples, "sample", "samples"))
	} else {
		line("time to approval", "-")
	}
	line("elevated hours", "%.1f", s.ElevatedHours)
	for _, a := range s.Accounts {
		line("in "+oneLine(a.Account), "requests %d, granted %d, elevated hours %.1f", a.Requests, a.Granted, a.ElevatedHours)
	}
	if s.UsageLooked > 0 {
		line("never used", "%d of %d grants looked up in CloudTrail", s.NeverUsed, s.UsageLooked)
	}
	// One requester a line, counts right-aligned, so a long email does
	// not push the line past a terminal's width.
	if len(s.TopRequesters) == 0 {
		line("top requesters", "-")
		return
	}
	width := len(strconv.Itoa(s.TopRequesters[0].Requests)) // the first has the most
	for i, r := range s.TopRequesters {
		label := ""
		if i == 0 {
			label = "top requesters"
		}
		who := oneLine(r.ID)
		if r.Email != "" {
			who += " " + oneLine(r.Email)
		}
		line(label, "%*d  %s", width, r.Requests, who)
	}
}

// writeWrapped lists names two spaces in, comma separated, in lines of at
// most about 72 characters, so a long catalog stays readable.
func writeWrapped(b *strings.Builder, names []string) {
	width := 0
	for i, n := range names {
		n = oneLine(n)
		if i < len(names)-1 {
			n += ","
		}
		switch {
		case width == 0:
			b.WriteString("  " + n)
			width = 2 + len(n)
		case width+1+len(n) > 72:
			b.WriteString("\n  " + n)
			width = 2 + len(n)
		default:
			b.WriteString(" " + n)
			width += 1 + len(n)
		}
	}
	if width > 0 {
		b.WriteString("\n")
	}
}

func seconds(s float64) string {
	return FormatDuration(time.Duration(s * float64(time.Second)))
}

// FormatDuration writes d as people read it in a report: 450ms, 45s, 4m30s,
// 1h5m, 2d3h. It keeps two units at most, rounding to the second below an
// hour, to the minute below a day and to the hour beyond: nobody needs the
// seconds of a wait that took hours.
func FormatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + FormatDuration(-d)
	case d == 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	d = d.Round(time.Second)
	if d >= time.Hour {
		d = d.Round(time.Minute)
	}
	if d >= 24*time.Hour {
		d = d.Round(time.Hour)
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		size time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			d -= n * u.size
		}
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// oneLine keeps a value read from the log on its line: a newline or other
// control character in an email would otherwise break the layout.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
