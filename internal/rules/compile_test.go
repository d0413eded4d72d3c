package rules

import (
	"errors"
	"strings"
	"testing"
)

// TestSharedRuleCompiledOnce: roles with the same rule text share one
// compiled program, and a broken rule that several roles share is still
// reported for each of them, at its own line.
func TestSharedRuleCompiledOnce(t *testing.T) {
	const src = `roles:
  a:
    backend: aws_sts
    role_arn: arn:aws:iam::111111111111:role/a
    approvers: [U0AAA]
    eligible: '"sre" in user.groups'
  b:
    backend: aws_iam_group
    group: jit-b
    iam_user: 'user.email'
    approvers: [U0AAA]
    eligible: '"sre" in user.groups'
  c:
    backend: aws_iam_group
    group: jit-c
    iam_user: 'user.email'
    approvers: [U0AAA]
    eligible: '"dba" in user.groups'
`
	c, err := Parse("roles.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a, b, cc := c.Roles["a"], c.Roles["b"], c.Roles["c"]
	if a.eligible != b.eligible || a.eligible == cc.eligible || b.iamUser != cc.iamUser {
		t.Errorf("programs a=%p b=%p c=%p, iam_user b=%p c=%p: want one program per distinct rule",
			a.eligible, b.eligible, cc.eligible, b.iamUser, cc.iamUser)
	}

	broken := strings.ReplaceAll(src, `'"sre" in user.groups'`, `'"sre" in user.grups'`)
	_, err = Parse("roles.yaml", []byte(broken))
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a *LoadError", err)
	}
	var got []string
	for _, p := range le.Problems {
		got = append(got, p.String())
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "roles.yaml:6: role a: eligible:") ||
		!strings.HasPrefix(got[1], "roles.yaml:12: role b: eligible:") || !strings.Contains(got[1], "grups") {
		t.Errorf("problems:\n%s\nwant the broken rule reported for a at line 6 and b at line 12", strings.Join(got, "\n"))
	}
}
