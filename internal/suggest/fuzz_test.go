package suggest

import (
	"regexp"
	"strings"
	"testing"
)

var safeActionRE = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9]+$`)

// FuzzParseAction: whatever CloudTrail sends, a parsed action is safe in a
// policy and in Slack, reparses to itself, and its verb and group are
// prefixes of its name.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"s3:GetObject", "lambda:ListFunctions20150331", "x:20150331", "s3:<b>", "a:B", ":", "s3:Get*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAction(s)
		if err != nil {
			return
		}
		str := a.String()
		if !safeActionRE.MatchString(str) {
			t.Fatalf("ParseAction(%q) = %q, which has characters IAM does not use", s, str)
		}
		again, err := ParseAction(str)
		if err != nil || again != a {
			t.Fatalf("ParseAction(%q) = %q does not reparse to itself: %v, %v", s, str, again, err)
		}
		if !strings.HasPrefix(a.Name, a.Verb()) || a.Verb() == "" {
			t.Fatalf("verb %q of %q is not a prefix of its name", a.Verb(), str)
		}
		if a.ReadOnly() != (readVerb(a.Name) != "") {
			t.Fatalf("ReadOnly(%q) disagrees with readVerb", str)
		}
		g := Groups([]Use{{Action: a, Calls: 1}, {Action: Action{a.Service, a.Verb() + "Zz"}, Calls: 1}})
		if len(g) != 1 || g[0] != a.Service+":"+a.Verb()+"*" {
			t.Fatalf("two %s actions of %s group as %v", a.Verb(), a.Service, g)
		}
	})
}
