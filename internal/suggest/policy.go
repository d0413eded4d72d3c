package suggest

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Policy is an IAM policy document, as session_policy takes it.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one Allow statement.
type Statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// JSON is the policy indented, ready for a catalog's session_policy.
func (p Policy) JSON() string {
	b, _ := json.MarshalIndent(p, "", "  ") // cannot fail: strings only
	return string(b)
}

// policyFor allows exactly the used actions. Actions are grouped by
// service and, within it, by the resources they named, one statement per
// group: s3:GetObject and s3:ListBucket on the same bucket share one. An
// action whose calls did not all name an ARN is allowed on "*": CloudTrail
// does not say what it touched, and a policy that guessed would break the
// next grant. Exact actions, no wildcards: a wildcard would allow actions
// nobody used.
func policyFor(uses []Use) Policy {
	p := Policy{Version: "2012-10-17", Statement: []Statement{}}
	index := map[string]int{} // service + resources → statement
	perService := map[string]int{}
	for _, u := range uses {
		res := []string{"*"}
		if len(u.Resources) > 0 {
			res = make([]string, len(u.Resources))
			for i, r := range u.Resources {
				res[i] = literalARN.Replace(r)
			}
		}
		key := u.Action.Service + "\x00" + strings.Join(res, "\x00")
		i, ok := index[key]
		if !ok {
			perService[u.Action.Service]++
			sid := sidOf(u.Action.Service)
			if n := perService[u.Action.Service]; n > 1 {
				sid += strconv.Itoa(n)
			}
			p.Statement = append(p.Statement, Statement{Sid: sid, Effect: "Allow", Resource: res})
			i = len(p.Statement) - 1
			index[key] = i
		}
		p.Statement[i].Action = append(p.Statement[i].Action, u.Action.String())
	}
	for i := range p.Statement {
		slices.Sort(p.Statement[i].Action)
	}
	return p
}

// literalARN writes the characters IAM reads as wildcards in a Resource
// as IAM's escapes for them (${*}, ${?}, ${$}), so that an S3 key named
// "report*" allows that one object, not every key it prefixes.
var literalARN = strings.NewReplacer("*", "${*}", "?", "${?}", "$", "${$}")

// sidOf makes a statement ID (alphanumeric only) from a service: "s3" →
// "S3", "resource-groups" → "ResourceGroups".
func sidOf(service string) string {
	var b strings.Builder
	up := true
	for _, r := range service {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}
