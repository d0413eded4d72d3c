package doctor

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// policy is an IAM policy document, as much of it as a trust check reads.
// IAM writes a single statement, action or principal either as one value
// or as a list; oneOrMore reads both.
type policy struct {
	Statement oneOrMoreStatements
}

type statement struct {
	Sid          string
	Effect       string
	Principal    principals
	NotPrincipal *principals
	Action       oneOrMore
	NotAction    oneOrMore
	Condition    map[string]map[string]json.RawMessage
}

type oneOrMoreStatements []statement

func (s *oneOrMoreStatements) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var one statement
		err := json.Unmarshal(b, &one)
		*s = oneOrMoreStatements{one}
		return err
	}
	return json.Unmarshal(b, (*[]statement)(s))
}

type oneOrMore []string

func (o *oneOrMore) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var one string
		err := json.Unmarshal(b, &one)
		*o = oneOrMore{one}
		return err
	}
	return json.Unmarshal(b, (*[]string)(o))
}

// principals are a statement's principals as "<kind>:<value>" ("AWS:arn…",
// "Service:ec2.amazonaws.com"), or "*" for everyone.
type principals []string

func (p *principals) UnmarshalJSON(b []byte) error {
	if string(b) == `"*"` {
		*p = principals{"*"}
		return nil
	}
	var byKind map[string]oneOrMore
	if err := json.Unmarshal(b, &byKind); err != nil {
		return err
	}
	for kind, values := range byKind {
		for _, v := range values {
			*p = append(*p, kind+":"+v)
		}
	}
	slices.Sort(*p)
	return nil
}

// trust is what a role's trust policy lets jitbot and others do.
type trust struct {
	// others are the principals other than jitbot that may assume the
	// role, each with the statement that lets them: standing paths.
	others []string
	// jitbot is whether some statement lets jitbot assume the role; the
	// other fields are about those statements.
	jitbot bool
	// tagSession and setSourceIdentity are whether jitbot may set
	// session tags and a source identity; requireSourceIdentity whether
	// every statement that lets jitbot in requires one.
	tagSession, setSourceIdentity, requireSourceIdentity bool
}

// readTrust reads a trust policy (as GetRole returns it, URL-encoded or
// not) for the principal self. A Deny statement is not weighed against
// the Allows: a principal an Allow names is reported even if a Deny
// happens to shut it out, since the next edit of the Deny opens the path.
func readTrust(doc, self string) (trust, error) {
	if d, err := url.QueryUnescape(doc); err == nil && strings.HasPrefix(strings.TrimSpace(d), "{") {
		doc = d
	}
	var p policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return trust{}, fmt.Errorf("trust policy is not valid JSON: %w", err)
	}
	t := trust{requireSourceIdentity: true}
	for i, s := range p.Statement {
		if s.Effect != "Allow" || !allows(s, "sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML") {
			continue
		}
		name := s.Sid
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		if s.NotPrincipal != nil {
			t.others = append(t.others, fmt.Sprintf("everyone but %s (NotPrincipal, statement %s)", strings.Join(*s.NotPrincipal, ", "), name))
			continue
		}
		for _, pr := range s.Principal {
			if !samePrincipal(pr, self) {
				t.others = append(t.others, fmt.Sprintf("%s (statement %s)", describePrincipal(pr), name))
				continue
			}
			t.jitbot = true
			t.tagSession = t.tagSession || allows(s, "sts:TagSession")
			t.setSourceIdentity = t.setSourceIdentity || allows(s, "sts:SetSourceIdentity")
			t.requireSourceIdentity = t.requireSourceIdentity && hasConditionKey(s, "sts:SourceIdentity")
		}
	}
	return t, nil
}

// allows reports whether s allows any of actions, wildcards and NotAction
// included.
func allows(s statement, actions ...string) bool {
	for _, a := range actions {
		if len(s.NotAction) > 0 {
			if !slices.ContainsFunc(s.NotAction, func(p string) bool { return matchAction(p, a) }) {
				return true
			}
			continue
		}
		if slices.ContainsFunc(s.Action, func(p string) bool { return matchAction(p, a) }) {
			return true
		}
	}
	return false
}

// matchAction matches an action against a policy's pattern, where * is
// any run of characters; IAM compares actions without regard to case.
func matchAction(pattern, action string) bool {
	pattern, action = strings.ToLower(pattern), strings.ToLower(action)
	prefix, rest, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == action
	}
	if !strings.HasPrefix(action, prefix) {
		return false
	}
	action = action[len(prefix):]
	for i := 0; i <= len(action); i++ {
		if matchAction(rest, action[i:]) {
			return true
		}
	}
	return false
}

// hasConditionKey reports whether any condition of s tests key.
func hasConditionKey(s statement, key string) bool {
	for _, byKey := range s.Condition {
		for k := range byKey {
			if strings.EqualFold(k, key) {
				return true
			}
		}
	}
	return false
}

// samePrincipal reports whether a trust policy principal ("AWS:arn…")
// is exactly self. An account ("AWS:123456789012" or its root ARN) is
// not: it delegates to every principal of the account that an identity
// policy lets in, which is a standing path.
func samePrincipal(p, self string) bool {
	v, ok := strings.CutPrefix(p, "AWS:")
	if !ok || self == "" {
		return false
	}
	if v == self {
		return true
	}
	// A session's ARN drops its role's path: arn:…:role/team/jitbot is
	// the role arn:…:role/jitbot of the caller.
	vAcct, vRole, vOK := strings.Cut(v, ":role/")
	sAcct, sRole, sOK := strings.Cut(self, ":role/")
	return vOK && sOK && vAcct == sAcct && !strings.Contains(sRole, "/") && vRole[strings.LastIndexByte(vRole, '/')+1:] == sRole
}

func describePrincipal(p string) string {
	if p == "*" || p == "AWS:*" {
		return "everyone (Principal *)"
	}
	kind, v, _ := strings.Cut(p, ":")
	if kind == "AWS" && (isAccountID(v) || strings.HasSuffix(v, ":root")) {
		return "every principal of account " + strings.TrimSuffix(strings.TrimPrefix(v, "arn:aws:iam::"), ":root") + " that its policies allow"
	}
	if kind == "AWS" {
		return v
	}
	return kind + " " + v
}

func isAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// PrincipalARN is the ARN a trust policy names for the caller ARN that
// STS GetCallerIdentity returns: an assumed-role session
// (arn:aws:sts::A:assumed-role/R/S) is its role (arn:aws:iam::A:role/R;
// a role with a path is named with it, which the session ARN lacks).
func PrincipalARN(caller string) string {
	parts := strings.SplitN(caller, ":", 6)
	if len(parts) != 6 || parts[2] != "sts" {
		return caller
	}
	partition, account, resource := parts[1], parts[4], parts[5]
	if rest, ok := strings.CutPrefix(resource, "assumed-role/"); ok {
		role, _, _ := strings.Cut(rest, "/")
		return "arn:" + partition + ":iam::" + account + ":role/" + role
	}
	// moto and some tools name a user with the sts service.
	return "arn:" + partition + ":iam::" + account + ":" + resource
}
