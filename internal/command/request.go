package command

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// parseRequest parses what follows "/jit request", still escaped as Slack
// sent it (see Parse):
//
//	<role> [<duration>] [--start <RFC 3339 | HH:MM | +DURATION>] [--for <@user>]
//	    [--account <id-or-alias>] [--incident <ref>] <reason…>
//
// The duration and the flags may come in any order. A word that
// rules.ParseDuration accepts is the duration; any other word begins the
// reason (docs/design.md §2.2: without a duration the role's default_duration
// applies), so "2x fixing it" is a reason, not a bad duration.
func parseRequest(rest string) (Command, *Error) {
	u := Usage(Request)
	word, rest := cut(rest)
	if word == "" {
		return Command{}, errorf(u, "say which role you need; /jit roles lists the roles you can request")
	}
	role, err := parseRole(decode(word))
	if err != nil {
		return Command{}, err
	}
	c := Command{Kind: Request, Role: role}
	for {
		word, after := cut(rest)
		if f, ok := flag(word); ok {
			if rest, err = c.requestFlag(f, after); err != nil {
				return Command{}, err
			}
			continue
		}
		if c.Duration != 0 {
			break
		}
		if _, err := rules.ParseDuration(word); err != nil {
			break
		}
		if c.Duration, err = parseDuration(word, u); err != nil {
			return Command{}, err
		}
		rest = after
	}
	if c.Reason, err = parseReason(decode(rest)); err != nil {
		return Command{}, err
	}
	return c, nil
}

// requestFlag records one flag of /jit request, taking its value from the
// next word unless it came as --name=<value>. f is the flag without its
// dashes, still escaped. It returns the text after the flag and its value.
func (c *Command) requestFlag(f, after string) (string, *Error) {
	u := Usage(Request)
	name, value, hasValue := strings.Cut(f, "=")
	name = asciiLower(decode(name))
	given, known := c.hasFlag(name)
	if !known {
		return "", errorf(u, "unknown flag %s; the flags are --start <RFC 3339 | HH:MM | +DURATION>, --for <@user>, --account <id-or-alias> and --incident <ref>", quote("--"+name))
	}
	if given {
		return "", errorf(u, "--%s is given twice; give it once", name)
	}
	if !hasValue {
		value, after = cut(after)
		if _, isFlag := flag(value); isFlag {
			value = ""
		}
	}
	switch name {
	case "for":
		// Escaped: a mention is told from typed text by its raw brackets.
		return after, c.forFlag(value)
	case "start":
		return after, c.startFlag(decode(value))
	case "account":
		return after, c.accountFlag(decode(value))
	}
	return after, c.incidentFlag(decode(value))
}

// hasFlag reports whether name is a flag of /jit request and whether c
// has it already.
func (c *Command) hasFlag(name string) (given, known bool) {
	switch name {
	case "start":
		return !c.Start.IsZero(), true
	case "for":
		return c.For != "", true
	case "account":
		return c.Account != "", true
	case "incident":
		return c.Incident != "", true
	}
	return false, false
}

// incidentFlag checks and records an --incident reference.
func (c *Command) incidentFlag(ref string) *Error {
	u := Usage(Request)
	if ref == "" {
		return errorf(u, "--incident needs a reference, as in --incident INC-42")
	}
	if n, fit := grants.MeasureIncident(ref); fit == grants.TooLong {
		return errorf(u, "the incident reference is %d characters; the limit is %d", n, MaxIncident)
	}
	if strings.IndexFunc(ref, unicode.IsControl) >= 0 {
		return errorf(u, "the incident reference contains a control character; write it as INC-42 or a link")
	}
	c.Incident = ref
	return nil
}

// accountFlag checks and records an --account: a 12-digit account ID or
// an alias from the catalog (lower-case letters, digits and dashes).
// Whether the role has it is for the domain to say.
func (c *Command) accountFlag(account string) *Error {
	u := Usage(Request)
	account = asciiLower(account)
	if account == "" {
		return errorf(u, "--account needs an account ID or alias, as in --account prod or --account 111111111111")
	}
	if !validAccount(account) {
		return errorf(u, "%s is not an account: give a 12-digit account ID or an alias of the role's (a-z, 0-9 and '-'); /jit roles lists them", quote(account))
	}
	c.Account = account
	return nil
}

// validAccount reports whether s matches ^[a-z0-9][a-z0-9-]{0,62}$, the
// form of account IDs and of the catalog's aliases.
func validAccount(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && c == '-':
		default:
			return false
		}
	}
	return true
}

// flag reports whether word is a flag, "--name" or "--name=value", and
// returns it without the dashes. The em or en dash that autocorrect makes
// of "--" counts as "--".
func flag(word string) (string, bool) {
	f, ok := strings.CutPrefix(flagDashes(word), "--")
	return f, ok && f != ""
}

// flagDashes turns a leading em dash (—) or en dash (–) into "--": macOS and
// iOS replace a typed "--" with one of them.
func flagDashes(word string) string {
	for _, d := range []string{"—", "–"} {
		if rest, ok := strings.CutPrefix(word, d); ok {
			return "--" + rest
		}
	}
	return word
}

// parseRole lower-cases a role name and checks it is a plausible catalog
// key. Whether the role exists is for the domain to say; keeping names to
// [a-z0-9_.-] here keeps mrkdwn and control characters out of them.
func parseRole(word string) (string, *Error) {
	u := Usage(Request)
	role := asciiLower(word)
	if _, isFlag := flag(role); isFlag {
		return "", errorf(u, "say which role you need before %s; /jit roles lists the roles you can request", quote(word))
	}
	if _, err := rules.ParseDuration(role); err == nil {
		return "", errorf(u, "%s is a duration; the role comes first, as in /jit request prod-readonly 1h <reason>", quote(word))
	}
	if len(role) > maxRole {
		return "", errorf(u, "the role name %s is too long; role names have at most %d characters", quote(word), maxRole)
	}
	if !validRole(role) {
		return "", errorf(u, "%s is not a role name: role names use only a-z, 0-9, '-', '_' and '.'; /jit roles lists them", quote(word))
	}
	return role, nil
}

const maxRole = 64

// validRole reports whether s matches ^[a-z0-9][a-z0-9_.-]{0,63}$.
func validRole(s string) bool {
	if s == "" || len(s) > maxRole {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '-' || c == '_' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// parseReason trims the ends of the reason and checks its length in runes.
// The inner text stays as typed (newlines included) and is not escaped:
// the renderer escapes it. Control characters other than tab, newline and CR
// are refused because they can hide or rewrite text in the audit trail.
func parseReason(rest string) (string, *Error) {
	u := Usage(Request)
	reason := strings.TrimSpace(rest)
	n, fit := grants.MeasureReason(reason)
	switch {
	case n == 0:
		return "", errorf(u, "a reason is required: say what you will do with the access")
	case fit == grants.TooShort:
		return "", errorf(u, "the reason needs at least %d characters (got %d): say what you will do with the access", MinReason, n)
	case fit == grants.TooLong:
		return "", errorf(u, "the reason is %d characters; the limit is %d", n, MaxReason)
	}
	if i := strings.IndexFunc(reason, badInReason); i >= 0 {
		r, _ := utf8.DecodeRuneInString(reason[i:])
		return "", errorf(u, "the reason contains the control character %U; write plain text", r)
	}
	return reason, nil
}

func badInReason(r rune) bool {
	return unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r'
}

// durationHint is how to write a duration, for error messages.
const durationHint = "write it as 90s, 15m, 1h30m, 2h or 1d"

// parseDuration parses a duration that must be there, as in /jit extend.
func parseDuration(word, usage string) (time.Duration, *Error) {
	d, err := rules.ParseDuration(word)
	if err != nil {
		return 0, errorf(usage, "%s is not a duration: %s", quote(word), durationHint)
	}
	if d <= 0 {
		return 0, errorf(usage, "the duration must be more than zero (got %s); %s", quote(word), durationHint)
	}
	return d, nil
}
