package command

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jitbot/jitbot/internal/rules"
)

// parseRevoke parses what follows "/jit revoke": <id>.
func parseRevoke(rest string) (Command, *Error) {
	u := Usage(Revoke)
	word, rest := cut(rest)
	if word == "" {
		return Command{}, errorf(u, "say which request to revoke, as in /jit revoke JIT-7K3QX2; /jit list shows yours")
	}
	id, err := parseID(word, u)
	if err != nil {
		return Command{}, err
	}
	if err := noMore(Revoke, rest, "only the request ID"); err != nil {
		return Command{}, err
	}
	return Command{Kind: Revoke, ID: id}, nil
}

// parseExtend parses what follows "/jit extend": <id> <duration>.
func parseExtend(rest string) (Command, *Error) {
	u := Usage(Extend)
	word, rest := cut(rest)
	if word == "" {
		return Command{}, errorf(u, "say which request to extend and by how much, as in /jit extend JIT-7K3QX2 1h")
	}
	id, err := parseID(word, u)
	if err != nil {
		return Command{}, err
	}
	word, rest = cut(rest)
	if word == "" {
		return Command{}, errorf(u, "say how much longer you need, as in /jit extend %s 1h", id)
	}
	d, err := parseDuration(word, u)
	if err != nil {
		return Command{}, err
	}
	if err := noMore(Extend, rest, "only the request ID and a duration"); err != nil {
		return Command{}, err
	}
	return Command{Kind: Extend, ID: id, Duration: d}, nil
}

// idAlphabet is grants' alphabet for request IDs: no 0, 1, I, L, O or U.
const idAlphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"

// parseID upper-cases a request ID and checks its shape, JIT-XXXXXX.
// Formatting that comes along when an ID is copied from a Slack message
// (`code`, *bold*, _italic_, a trailing full stop) is trimmed first; what
// is left must be a whole ID, so trimming never changes which one it is.
func parseID(word, usage string) (string, *Error) {
	id := asciiUpper(strings.Trim(word, "`*_~'\".,;:()[]"))
	ok := len(id) == len("JIT-XXXXXX") && strings.HasPrefix(id, "JIT-")
	for i := len("JIT-"); ok && i < len(id); i++ {
		ok = strings.IndexByte(idAlphabet, id[i]) >= 0
	}
	if !ok {
		return "", errorf(usage, "%s is not a request ID: IDs look like JIT-7K3QX2 and never contain 0, 1, I, L, O or U; /jit list shows yours", quote(word))
	}
	return id, nil
}

// unknown explains an unknown sub-command, with a suggestion when one fits.
func unknown(word, rest string) *Error {
	msg := quote(word) + " is not a /jit sub-command"
	if s := suggest(asciiLower(word)); s != "" {
		msg += " (did you mean " + s + "?)"
	} else if next, _ := cut(rest); validRole(asciiLower(word)) && isDuration(next) {
		// "/jit prod-admin 1h …": the user left out "request".
		msg += " (did you mean /jit request " + asciiLower(word) + " " + next + " …?)"
	}
	return errorf(synopsis, "%s; the sub-commands are help, request, roles, list, revoke, extend and report", msg)
}

func isDuration(word string) bool {
	d, err := rules.ParseDuration(word)
	return err == nil && d > 0
}

// aliases are words people reach for instead of a sub-command. They are
// suggested, never accepted, so that the grammar stays one way to say each
// thing.
var aliases = map[string]Kind{
	"req": Request, "ask": Request, "grant": Request, "access": Request, "new": Request,
	"ls": List, "status": List, "show": List, "mine": List, "pending": List,
	"cancel": Revoke, "relinquish": Revoke, "drop": Revoke, "end": Revoke, "remove": Revoke, "stop": Revoke, "done": Revoke,
	"renew": Extend, "more": Extend, "prolong": Extend, "extension": Extend,
	"role":  Roles,
	"usage": Help, "h": Help,
}

// suggest returns the sub-command that word is probably a typo of, or "".
// A typo is at most two edits away (a swap of neighbours counts as one) and
// at most half the sub-command's length, so short words do not match
// everything.
func suggest(word string) string {
	if k, ok := aliases[word]; ok {
		return string(k)
	}
	if len(word) > 20 {
		return ""
	}
	best, bestDist := "", 3
	for _, k := range []Kind{Request, Roles, List, Revoke, Extend, Help} {
		d := distance(word, string(k))
		if d < bestDist && d <= len(k)/2 {
			best, bestDist = string(k), d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b, in
// bytes: insertions, deletions, substitutions and swaps of neighbours.
func distance(a, b string) int {
	// Three rows of the dynamic programming table are enough.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// asciiLower lower-cases ASCII letters only. strings.ToLower would also map
// look-alikes such as the Kelvin sign (U+212A) to "k", letting them pass
// for ASCII names.
func asciiLower(s string) string {
	return mapASCII(s, 'A', 'Z', 'a'-'A')
}

// asciiUpper upper-cases ASCII letters only; strings.ToUpper maps the long
// s (U+017F) to "S".
func asciiUpper(s string) string {
	return mapASCII(s, 'a', 'z', 'A'-'a')
}

func mapASCII(s string, lo, hi byte, delta int) string {
	b := []byte(s)
	for i, c := range b {
		if lo <= c && c <= hi {
			b[i] = byte(int(c) + delta)
		}
	}
	return string(b)
}

// maxQuoted is how many runes of the user's text an error message repeats.
const maxQuoted = 40

// quote quotes user text for an error message, shortened to maxQuoted runes
// so that a pasted novel does not come back as the error.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	i := 0
	for n := 0; n < maxQuoted; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return strconv.Quote(s[:i]) + "…"
}
