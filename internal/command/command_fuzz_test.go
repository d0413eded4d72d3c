package command_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/command"
)

// These patterns restate the grammar independently of the parser's code.
var (
	roleRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	idRE   = regexp.MustCompile(`^JIT-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}$`)
	slack  = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")
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
	} {
		f.Add(s)
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
		if c.Role != "" || c.Reason != "" || c.Incident != "" {
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
}
