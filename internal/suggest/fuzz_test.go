package suggest

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
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

// FuzzPolicyResource: whatever resource name CloudTrail gives, the policy
// is valid JSON, allows the action, and allows it either on "*" (no ARN)
// or on exactly that ARN: no bare wildcard, and unescaping gives it back.
func FuzzPolicyResource(f *testing.F) {
	for _, s := range []string{"arn:aws:s3:::bucket/key", "arn:aws:s3:::bucket/report*", "arn:aws:s3:::b/${x}?", "i-0123", "arn:bad", ""} {
		f.Add(s)
	}
	unescape := strings.NewReplacer("${*}", "*", "${?}", "?", "${$}", "$")
	f.Fuzz(func(t *testing.T, res string) {
		a := Action{Service: "s3", Name: "GetObject"}
		s := Build("r", time.Hour, []Grant{{Calls: []Call{{Action: a, Resources: []string{res}}}}})
		var p Policy
		if err := json.Unmarshal([]byte(s.Policy.JSON()), &p); err != nil {
			t.Fatalf("policy for %q is not JSON: %v", res, err)
		}
		if len(p.Statement) != 1 || len(p.Statement[0].Resource) != 1 || !slices.Equal(p.Statement[0].Action, []string{"s3:GetObject"}) {
			t.Fatalf("policy for %q: %+v", res, p)
		}
		got := p.Statement[0].Resource[0]
		if got == "*" {
			if len(arnsOf([]string{res})) != 0 {
				t.Fatalf("ARN %q became *", res)
			}
			return
		}
		bare := strings.NewReplacer("${*}", "", "${?}", "", "${$}", "").Replace(got)
		if strings.ContainsAny(bare, "*?") || unescape.Replace(got) != res {
			t.Fatalf("resource %q is in the policy as %q", res, got)
		}
	})
}
