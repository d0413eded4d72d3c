package blockkit

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes user text safe in mrkdwn: &, < and > become &amp;, &lt; and
// &gt;, the three characters Slack asks apps to escape. Then <!channel>,
// <@U…> and <https://…|links> typed by a user are shown as typed and never
// become mentions or links. It is the one escaper of the project: escape
// every piece of user text exactly once, right where it joins mrkdwn.
func Escape(s string) string { return escaper.Replace(s) }

var userIDRE = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// Mention renders a Slack user ID as a mention, <@U…>. Anything that does
// not look like a user ID (^[UW][A-Z0-9]{2,20}$), such as "auto" or a
// corrupted record, is shown escaped in backticks instead, so it can never
// turn into <!channel> or someone else's mention. An empty ID is "someone".
func Mention(userID string) string {
	switch {
	case userIDRE.MatchString(userID):
		return "<@" + userID + ">"
	}
	if c := code(userID, 40); c != "" {
		return c
	}
	return "someone"
}

// code shows s as inline code. Backticks cannot be escaped in mrkdwn, so
// they become quotes, and line breaks become spaces because inline code
// cannot span lines.
func code(s string, max int) string {
	if t, ok := codeText(s, max); ok {
		return "`" + t + "`"
	}
	return ""
}

// codeText is what code puts between the backticks; false for blank s,
// which code leaves out.
func codeText(s string, max int) (string, bool) {
	s = oneLine(strings.ReplaceAll(s, "`", "'"))
	if s == "" {
		return "", false
	}
	return cut(Escape(s), max), true
}

// quote shows user text as a mrkdwn block quote, every line of it.
func quote(s string, max int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(cut(Escape(s), max), "\n")
	for i, l := range lines {
		lines[i] = ">" + l
	}
	return strings.Join(lines, "\n")
}

// inline escapes user text, folded onto one line, and cuts it to max.
func inline(s string, max int) string { return cut(Escape(oneLine(s)), max) }

// oneLine folds s onto one line: runs of white space become one space,
// and leading and trailing space goes. Text that is one line already, as
// names and descriptions usually are, comes back as it is, uncopied.
func oneLine(s string) string {
	prevSpace := true // no space may lead
	for i := 0; i < len(s); {
		c, size, space := s[i], 1, false
		if c < utf8.RuneSelf {
			space = c == ' ' || c >= '\t' && c <= '\r' // unicode.IsSpace, for ASCII
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			space = unicode.IsSpace(r)
		}
		if space && (c != ' ' || prevSpace) {
			return strings.Join(strings.Fields(s), " ")
		}
		prevSpace = space
		i += size
	}
	if prevSpace && s != "" {
		return strings.Join(strings.Fields(s), " ") // a trailing space
	}
	return s
}

// runeCount is utf8.RuneCount without the copy it makes of text that is
// not ASCII (a " · " is enough).
func runeCount(b []byte) int {
	n := 0
	for i := 0; i < len(b); n++ {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, size := utf8.DecodeRune(b[i:])
		i += size
	}
	return n
}

const ellipsis = "…"

// cut shortens mrkdwn to at most max characters, ending in "…" when it
// had to cut. It never cuts inside an entity (&amp;) or a <…> sequence
// (a mention or a date), which would show broken markup or, worse, leave
// a half sequence that joins with what follows.
func cut(s string, max int) string {
	// No more bytes than max means no more characters: no need to count.
	if len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	n, end := 0, 0
	for i := 0; i < len(s); {
		size := atom(s[i:])
		w := utf8.RuneCountInString(s[i : i+size])
		if n+w > max-1 {
			break
		}
		n += w
		i += size
		end = i
	}
	return s[:end] + ellipsis
}

// atom returns the length in bytes of the indivisible piece s starts with:
// an entity such as &amp; or &#8212;, a <…> sequence, or one character.
func atom(s string) int {
	switch s[0] {
	case '&':
		for i := 1; i < len(s) && i <= 10; i++ {
			c := s[i]
			if c == ';' && i > 1 {
				return i + 1
			}
			if !(c == '#' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				break
			}
		}
	case '<':
		if i := strings.IndexAny(s[1:], "<>\n"); i >= 0 && s[1+i] == '>' {
			return i + 2
		}
	}
	_, size := utf8.DecodeRuneInString(s)
	return size
}

// cutPlain shortens plain_text, which Slack shows literally, to max
// characters.
func cutPlain(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + ellipsis
		}
		n++
	}
	return s
}

// date renders t in Slack's date format: each reader sees it in their own
// time zone; clients that cannot show it get RFC 3339 in UTC.
func date(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format(time.RFC3339))
}

// timeLeft says how long d is the way people say it: "5 minutes",
// "1h30m", "less than a minute".
func timeLeft(d time.Duration) string {
	switch {
	case d <= 0:
		return "no time"
	case d < time.Minute:
		return "less than a minute"
	}
	d = d.Round(time.Minute)
	if d < time.Hour {
		return plural(int(d/time.Minute), "minute")
	}
	return rules.FormatDuration(d)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// reqID shows a request ID the one way jitbot always does: in backticks.
func reqID(v grants.RequestID) string { return code(string(v), 40) }

// dur shows a duration the way people type it: 1h, 30m, 1h30m.
func dur(d time.Duration) string { return rules.FormatDuration(d) }

// andList joins words as people do: "a", "a and b", "a, b and c".
func andList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
