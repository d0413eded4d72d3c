// Package command is the /jit grammar (docs/design.md §2.2): it turns the text a
// user typed after /jit into a Command, or into an *Error that says what was
// wrong and how to write it right.
//
// The package is pure: no I/O, no Slack, no clock. Limits that depend on the
// role catalog or the configuration (a role's max_duration, JIT_MIN_DURATION,
// whether the role exists) are checked by the grants domain, not here.
package command

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Kind names a sub-command.
type Kind string

const (
	Modal   Kind = "modal" // bare /jit (empty or whitespace-only text): open the request modal
	Help    Kind = "help"
	Request Kind = "request"
	Roles   Kind = "roles"
	List    Kind = "list"
	Revoke  Kind = "revoke"
	Extend  Kind = "extend"
	Report  Kind = "report" // for approvers: the access report of the last Duration (default 30d)
)

// Limits on what a user may type, in runes. Those of the reason and the
// incident are the service's (docs/design.md §2.2), applied by the same
// functions (grants.MeasureReason, grants.MeasureIncident), so the parser
// never passes text the service refuses, nor refuses text it would take.
const (
	MinReason   = grants.MinReason
	MaxReason   = grants.MaxReason
	MaxIncident = grants.MaxIncident
	MaxFilter   = 100 // /jit roles <words…>
)

// Command is one parsed /jit invocation.
type Command struct {
	Kind     Kind
	Role     string        // request: lower-case catalog key, e.g. prod-readonly
	Duration time.Duration // request (0 = the role's default_duration); extend (always > 0); report (0 = 30d)
	Incident string        // request: the --incident reference, as typed
	Account  string        // request: the --account ID or alias, lower-cased
	Start    Start         // request: the --start, as typed; zero: at once
	For      string        // request: the --for person, a Slack user ID such as U024BE7LH; "": the requester
	Reason   string        // request: as typed, ends trimmed, inner whitespace kept; never escaped
	ID       string        // revoke, extend: upper-case request ID, e.g. JIT-7K3QX2
	Filter   string        // roles: the words a role must match, as typed, white space folded; never escaped
}

// Error is a parse error fit to show the user: what was wrong (Msg) and the
// right form of the sub-command (Usage). Both are plain text, not mrkdwn,
// and Msg may quote what the user typed: escape both before posting.
type Error struct {
	Msg   string // e.g. `"2x" is not a duration: …`
	Usage string // e.g. "/jit extend <id> <duration>"
}

// Error returns Msg and Usage as one message, readable as a single
// ephemeral reply.
func (e *Error) Error() string {
	if e.Usage == "" {
		return e.Msg
	}
	return e.Msg + "\nUsage: " + e.Usage
}

// synopsis is the usage of /jit as a whole, for errors that happen before
// the sub-command is known.
const synopsis = "/jit [help | request | roles | list | revoke | extend | report] …"

var usages = map[Kind]string{
	Modal:   "/jit",
	Help:    "/jit help",
	Request: "/jit request <role> [<duration>] [--start <RFC 3339 | HH:MM | +DURATION>] [--for <@user>] [--account <id-or-alias>] [--incident <ref>] <reason…>",
	Roles:   "/jit roles [<words…>]",
	List:    "/jit list",
	Revoke:  "/jit revoke <id>",
	Extend:  "/jit extend <id> <duration>",
	Report:  "/jit report [<duration>]",
}

// Usage returns the usage line of a sub-command, or the synopsis of /jit as
// a whole for a Kind it does not know.
func Usage(k Kind) string {
	if u, ok := usages[k]; ok {
		return u
	}
	return synopsis
}

// Examples returns realistic invocations for /jit help, as the user types
// them. Each one parses as Slack sends it, where @alice, picked from the
// autocomplete, comes as the mention <@U…|alice>.
func Examples() []string {
	return []string{
		"/jit request prod-readonly 1h investigating INC-42 latency in checkout",
		"/jit request prod-admin 30m --incident INC-42 restart the stuck replica",
		"/jit request admin-sso 1h --account prod rotate the leaked key",
		"/jit request prod-admin 2h --start 22:00 run the schema migration in the maintenance window",
		"/jit request prod-readonly 1h --start +2h check the backfill once it has run",
		"/jit request prod-readonly 4h --for @alice she is on call tonight and has no access yet",
		"/jit roles prod",
		"/jit extend JIT-7K3QX2 30m",
	}
}

// Parse parses the text of a /jit slash command, without the "/jit" itself.
// It never returns a Command together with an error, and every error is an
// *Error.
//
// Slack sends slash command text with &, < and > escaped as &amp;, &lt; and
// &gt;. Parse decodes exactly those three entities, once, so that Reason and
// Incident hold what the user typed; rendering must escape them again. Raw
// brackets come only around what Slack made: a mention picked from its
// autocomplete, <@U024BE7LH|alice>. That is how --for tells a person from
// text typed to look like one, so a request's words are decoded one by one,
// after the mention is read.
func Parse(text string) (Command, error) {
	c, err := parse(text)
	if err != nil {
		// Return through a plain nil, never a nil *Error in an error.
		return Command{}, err
	}
	return c, nil
}

func parse(text string) (Command, *Error) {
	if !utf8.ValidString(text) {
		return Command{}, errorf(synopsis, "the command is not valid UTF-8 text")
	}
	word, rest := cut(text)
	if word == "" {
		return Command{Kind: Modal}, nil
	}
	// No entity holds white space, so decoding a word, or the text after
	// one, decodes the same as decoding the whole.
	word = decode(word)
	kind, ok := subcommands[flagDashes(asciiLower(word))]
	if !ok {
		return Command{}, unknown(word, decode(rest))
	}
	if kind != Request {
		// A request's words are decoded one by one (see Parse).
		rest = decode(rest)
	}
	switch kind {
	case Help:
		// "/jit help request" still wants help: give it rather than an error.
		return Command{Kind: Help}, nil
	case Roles:
		return parseRoles(rest)
	case List:
		if err := noMore(kind, rest, "nothing"); err != nil {
			return Command{}, err
		}
		return Command{Kind: kind}, nil
	case Report:
		return parseReport(rest)
	case Revoke:
		return parseRevoke(rest)
	case Extend:
		return parseExtend(rest)
	default:
		return parseRequest(rest)
	}
}

// unescape undoes Slack's escaping of slash command text. A Replacer makes
// a single pass, so "&amp;lt;" becomes "&lt;", as the user typed it.
var unescape = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// decode unescapes s. Most words hold no entity, and the Replacer copies
// even when it has nothing to replace.
func decode(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return unescape.Replace(s)
}

var subcommands = map[string]Kind{
	"help": Help, "-h": Help, "--help": Help, "?": Help,
	"request": Request,
	"roles":   Roles,
	"list":    List,
	"revoke":  Revoke,
	"extend":  Extend,
	"report":  Report,
}

// cut returns the first word of s and the text after it. Words are separated
// by Unicode white space (unicode.IsSpace), which includes the no-break
// space U+00A0 that some Slack clients insert.
func cut(s string) (word, rest string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// noMore fails if anything but white space is left after a sub-command's
// last argument. takes says what the sub-command does take.
func noMore(k Kind, rest, takes string) *Error {
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return nil
	}
	return errorf(Usage(k), "/jit %s takes %s; remove %s", k, takes, quote(rest))
}

func errorf(usage, format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...), Usage: usage}
}

// parseRoles reads the optional words of /jit roles, which narrow the
// list to the roles whose name or description has each of them.
func parseRoles(rest string) (Command, *Error) {
	filter := strings.Join(strings.FieldsFunc(rest, unicode.IsSpace), " ")
	if n := utf8.RuneCountInString(filter); n > MaxFilter {
		return Command{}, errorf(usages[Roles], "the words to look for are %d characters long; at most %d", n, MaxFilter)
	}
	return Command{Kind: Roles, Filter: filter}, nil
}

// parseReport reads the optional window of /jit report.
func parseReport(rest string) (Command, *Error) {
	word, more := cut(rest)
	if word == "" {
		return Command{Kind: Report}, nil
	}
	d, err := rules.ParseDuration(word)
	if err != nil || d <= 0 {
		return Command{}, errorf(usages[Report], "%s is not a duration; %s", quote(word), durationHint)
	}
	if err := noMore(Report, more, "a duration"); err != nil {
		return Command{}, err
	}
	return Command{Kind: Report, Duration: d}, nil
}
