package command_test

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/command"
	"github.com/jitbot/jitbot/internal/rules"
)

// These patterns restate the grammar independently of the parser's code.
var (
	roleRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	idRE     = regexp.MustCompile(`^JIT-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}$`)
	userRE   = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)
	clockRE  = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)
	slack    = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")
	fuzzLocs []*time.Location // where the fuzz target resolves each --start
	fuzzNows = []time.Time{   // and when: on days the clocks of fuzzLocs change
		time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC),
		time.Date(2026, 10, 25, 0, 45, 0, 0, time.UTC),
		time.Date(2026, 9, 6, 3, 59, 59, 999, time.UTC),
		time.Date(2026, 10, 3, 15, 15, 0, 0, time.UTC),
		time.Date(2011, 12, 30, 9, 30, 0, 0, time.UTC),
	}
)

// FuzzParse checks what the rest of jitbot relies on, whatever is typed:
// no panic; either a Command or an *Error, never both; and every Command
// within the limits of the grammar. The seed corpus is here and in
// testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		" \u00a0\t\n",
		"help",
		"-h",
		"request prod-readonly 1h investigating INC-42 latency",
		"request prod-admin 30m --incident INC-42 restart the stuck replica",
		"request prod-admin --incident=INC-42 1d restart the stuck replica",
		"REQUEST Prod-Admin 1h30m <!channel> <@U123|bob> look at this",
		"request prod-admin 1h &lt;!channel&gt; &amp;amp; R&amp;D",
		"request prod-admin 0s fixing it now please",
		"request prod-admin 99999999999999999999d overflow please",
		"request prod-admin 1h --incident",
		"request prod-admin —incident INC-1 —incident INC-2 go",
		"request prod-admin 1h fix",
		"request prod-admin 1h " + strings.Repeat("é", 500),
		"request prod-admin 1h " + strings.Repeat("x", 501),
		"request \u212Aafka 1h fixing the consumer lag",
		"request prod\u00a0admin\u00a02h\u00a0line one\nline two",
		"roles",
		"roles prod  db",
		"roles &lt;!channel&gt;\u00a0*bold*",
		"roles " + strings.Repeat("é", 101),
		"list extra",
		"revoke jit-7k3qx2",
		"revoke `JIT-7K3QX2`.",
		"extend JIT-7K3QX2 30m",
		"extend JIT-7K3QX2",
		"extend JIT-ILOU01 -1h",
		"requets prod-admin 1h fixing lag",
		"prod-admin 1h fixing lag",
		"request prod-admin 1h fixing \xff\xfe lag",
		"request prod-admin 1h fixing \x00\x1b[2J lag",
		"request prod-admin 2h --start 22:00 --for <@U024BE7LH|alice> run the migration tonight",
		"request prod-admin --start=+2h check the backfill afterwards",
		"request prod-admin --start 2026-12-24T22:00:00+01:00 1h watch the christmas deploy",
		"request prod-admin --start 25:00 --start +0m fixing lag now",
		"request prod-admin --for @alice --for &lt;@U024BE7LH&gt; fixing lag now",
		"request prod-admin --for <#C024BE7LR|general> fixing lag now",
		"request prod-admin 1h &lt;@U024BE7LH&gt; asked me to look",
	} {
		f.Add(s)
	}
	fuzzLocs = []*time.Location{nil, time.UTC}
	for _, name := range []string{"Europe/Berlin", "America/Santiago", "Australia/Lord_Howe", "Pacific/Apia"} {
		fuzzLocs = append(fuzzLocs, load(f, name))
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := command.Parse(in)
		if err != nil {
			checkError(t, in, c, err)
			return
		}
		checkCommand(t, in, c)
	})
}

func checkError(t *testing.T, in string, c command.Command, err error) {
	t.Helper()
	var pe *command.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Parse(%q) error %T is not a *command.Error: %v", in, err, err)
	}
	if pe.Msg == "" || pe.Usage == "" {
		t.Fatalf("Parse(%q) error has an empty part: %+v", in, pe)
	}
	if c != (command.Command{}) {
		t.Fatalf("Parse(%q) returned %+v together with error %v", in, c, err)
	}
	if !utf8.ValidString(pe.Msg) {
		t.Fatalf("Parse(%q) error message is not valid UTF-8: %q", in, pe.Msg)
	}
	// Error messages echo at most a short piece of the input.
	if n := utf8.RuneCountInString(pe.Msg); n > 400 {
		t.Fatalf("Parse(%q) error message is %d runes long: %q", in, n, pe.Msg)
	}
}

func checkCommand(t *testing.T, in string, c command.Command) {
	t.Helper()
	text := slack.Replace(in)
	if (c.Kind == command.Modal) != (strings.TrimSpace(text) == "") {
		t.Fatalf("Parse(%q) kind %q; want modal exactly for blank text", in, c.Kind)
	}
	if c.Duration < 0 {
		t.Fatalf("Parse(%q) duration %v is negative", in, c.Duration)
	}
	switch c.Kind {
	case command.Modal, command.Help, command.List:
		if c != (command.Command{Kind: c.Kind}) {
			t.Fatalf("Parse(%q) = %+v; want only the Kind set", in, c)
		}
	case command.Roles:
		checkRoles(t, in, text, c)
	case command.Request:
		checkRequest(t, in, text, c)
	case command.Revoke, command.Extend:
		if !idRE.MatchString(c.ID) {
			t.Fatalf("Parse(%q) ID %q does not look like JIT-7K3QX2", in, c.ID)
		}
		if c.Role != "" || c.Reason != "" || c.Incident != "" || c.Account != "" || c.For != "" || !c.Start.IsZero() {
			t.Fatalf("Parse(%q) = %+v; want only ID and duration", in, c)
		}
		if c.Kind == command.Extend && c.Duration <= 0 {
			t.Fatalf("Parse(%q) extends by %v", in, c.Duration)
		}
		if c.Kind == command.Revoke && c.Duration != 0 {
			t.Fatalf("Parse(%q) revoke has a duration %v", in, c.Duration)
		}
	default:
		t.Fatalf("Parse(%q) returned unknown kind %q", in, c.Kind)
	}
}

// checkRoles: the filter is the words typed after the sub-command, as
// typed, one space between them, within its limit.
func checkRoles(t *testing.T, in, text string, c command.Command) {
	t.Helper()
	if c != (command.Command{Kind: c.Kind, Filter: c.Filter}) {
		t.Fatalf("Parse(%q) = %+v; want only the Kind and Filter set", in, c)
	}
	if n := utf8.RuneCountInString(c.Filter); n > command.MaxFilter {
		t.Fatalf("Parse(%q) filter has %d runes, over %d", in, n, command.MaxFilter)
	}
	words := strings.FieldsFunc(text, unicode.IsSpace)[1:]
	if want := strings.Join(words, " "); c.Filter != want {
		t.Fatalf("Parse(%q) filter %q, want the words typed, %q", in, c.Filter, want)
	}
}

func checkRequest(t *testing.T, in, text string, c command.Command) {
	t.Helper()
	if !roleRE.MatchString(c.Role) {
		t.Fatalf("Parse(%q) role %q is not a valid role name", in, c.Role)
	}
	if c.ID != "" {
		t.Fatalf("Parse(%q) request has an ID %q", in, c.ID)
	}
	n := utf8.RuneCountInString(c.Reason)
	if n < command.MinReason || n > command.MaxReason {
		t.Fatalf("Parse(%q) reason has %d runes, outside %d..%d", in, n, command.MinReason, command.MaxReason)
	}
	if c.Reason != strings.TrimSpace(c.Reason) {
		t.Fatalf("Parse(%q) reason %q is not trimmed", in, c.Reason)
	}
	// The reason is the user's text, verbatim: a piece of the decoded input.
	if !strings.HasSuffix(strings.TrimSpace(text), c.Reason) {
		t.Fatalf("Parse(%q) reason %q is not the end of the text", in, c.Reason)
	}
	if !utf8.ValidString(c.Reason) {
		t.Fatalf("Parse(%q) reason is not valid UTF-8", in)
	}
	if utf8.RuneCountInString(c.Incident) > command.MaxIncident || strings.IndexFunc(c.Incident, unicode.IsSpace) >= 0 {
		t.Fatalf("Parse(%q) incident %q is too long or has white space", in, c.Incident)
	}
	if strings.IndexFunc(c.Incident+c.Reason, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r'
	}) >= 0 {
		t.Fatalf("Parse(%q) = %+v holds a control character", in, c)
	}
	if c.For != "" {
		checkFor(t, in, c.For)
	}
	if !c.Start.IsZero() {
		checkStart(t, in, c.Start)
	}
}

// checkFor: the person is a Slack user ID that came in a mention Slack
// made, raw brackets and all, never from text typed to look like one.
func checkFor(t *testing.T, in, id string) {
	t.Helper()
	if !userRE.MatchString(id) {
		t.Fatalf("Parse(%q) For %q is not a Slack user ID", in, id)
	}
	if !strings.Contains(in, "<@"+id+">") && !strings.Contains(in, "<@"+id+"|") {
		t.Fatalf("Parse(%q) For %q without a mention of it as Slack sends one", in, id)
	}
}

// checkStart: a Start reads back from its String, and resolves, wherever
// and whenever, to what its form says: an RFC 3339 time to itself, +D to
// now plus D, HH:MM to a time after now, within two days, at which the
// clock reads HH:MM unless it skipped that time.
func checkStart(t *testing.T, in string, s command.Start) {
	t.Helper()
	text := s.String()
	again, err := command.Parse("request r --start " + text + " fixing the lag")
	if err != nil || again.Start != s {
		t.Fatalf("Parse(%q) Start %q does not read back: %+v, %v", in, text, again.Start, err)
	}
	for _, loc := range fuzzLocs {
		for _, now := range fuzzNows {
			got := s.Resolve(now, loc)
			zone := loc
			if zone == nil {
				zone = time.UTC // as Resolve reads nil
			}
			if got.Location() != zone {
				t.Fatalf("Parse(%q) Start %q resolves in %v, not %v", in, text, got.Location(), zone)
			}
			if delay, ok := strings.CutPrefix(text, "+"); ok {
				d, err := rules.ParseDuration(delay)
				if err != nil || d <= 0 || !got.Equal(now.Add(d)) {
					t.Fatalf("Parse(%q) Start %q at %v resolves to %v", in, text, now, got)
				}
				continue
			}
			m := clockRE.FindStringSubmatch(text)
			if m == nil {
				if at, err := time.Parse(time.RFC3339, text); err != nil || !got.Equal(at) {
					t.Fatalf("Parse(%q) Start %q resolves to %v (%v)", in, text, got, err)
				}
				continue
			}
			hour, _ := strconv.Atoi(m[1])
			minute, _ := strconv.Atoi(m[2])
			wall := got.In(zone)
			_, offset := wall.Zone()
			_, dayBefore := wall.Add(-24 * time.Hour).Zone()
			skipped := offset != dayBefore
			if !got.After(now) || got.Sub(now) > 49*time.Hour || (!skipped && (wall.Hour() != hour || wall.Minute() != minute)) {
				t.Fatalf("Parse(%q) Start %q at %v in %v resolves to %v", in, text, now, zone, wall)
			}
		}
	}
}
