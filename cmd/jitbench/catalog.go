package main

import (
	"fmt"
	"strings"
)

// The bench's world: G IAM groups (one aws_iam_group role each), U
// engineers with IAM users of the same name, one aws_sts role, one aws_sso
// role (sso.go), and filler aws_sts roles up to the catalog size. A grant is a (group, user) pair,
// so no two seeded grants share a membership.
const (
	account      = "123456789012" // moto's default account
	stsRoleName  = "jit-bench"
	stsRoleARN   = "arn:aws:iam::" + account + ":role/" + stsRoleName
	stsRole      = "sts"
	approverID   = "UAPPROVER"
	auditChannel = "C0AUDIT001"
	// The channel the commands are typed in.
	benchChannel = "C0INCIDENT1"
	// floodRoles are the incident flood's roles, each with an approver of
	// its own: Slack delivers about one message a second to a person's DM,
	// so at 1,000 requests a minute no approver may be asked more than
	// about once a second.
	floodRoles = 25
)

func floodRole(k int) string     { return fmt.Sprintf("flood-%02d", k) }
func floodApprover(k int) string { return fmt.Sprintf("UFLOOD%02d", k) }

// layout sizes the world for a run.
type layout struct {
	groups, users, roles int
}

// newLayout makes room for pairs distinct (group, user) pairs in a catalog
// of roles roles: as many groups as half the catalog allows, up to 100, and
// enough users to fill them.
func newLayout(pairs, roles int) layout {
	g := min(100, max(1, roles/2))
	return layout{groups: g, users: max(1, (pairs+g-1)/g), roles: roles}
}

func groupRole(i int) string { return fmt.Sprintf("grp-%03d", i) }
func groupName(i int) string { return fmt.Sprintf("jit-g%03d", i) }
func userID(i int) string    { return fmt.Sprintf("UB%04d", i) }
func iamUser(i int) string   { return fmt.Sprintf("b%04d", i) }
func email(i int) string     { return iamUser(i) + "@example.com" }

// pair k is group k mod G and user k div G.
func (l layout) pair(k int) (group, user int) { return k % l.groups, k / l.groups }

// fillerRules are the eligibility rules of the filler roles, varied so
// that /jit roles evaluates different CEL programs, as a real catalog
// would.
var fillerRules = []string{
	`'"sre" in user.groups'`,
	`'user.email.endsWith("@example.com") && !user.is_guest'`,
	`'"oncall" in user.groups || request.duration <= duration("1h")'`,
	`'user.name.startsWith("b") && size(user.groups) > 0'`,
}

// catalogYAML is the role catalog of the run, with l.roles roles.
func catalogYAML(l layout) string {
	var b strings.Builder
	b.WriteString("defaults:\n  max_duration: 4h\n  default_duration: 1h\n  request_ttl: 30m\nroles:\n")
	for i := range l.groups {
		fmt.Fprintf(&b, `  %s:
    description: Bench IAM group %d
    backend: aws_iam_group
    group: %s
    iam_user: 'user.email.split("@")[0]'
    approvers: [%s]
    eligible: 'user.email.endsWith("@example.com")'
`, groupRole(i), i, groupName(i), approverID)
	}
	fmt.Fprintf(&b, `  %s:
    description: Bench STS role
    backend: aws_sts
    role_arn: %s
    max_duration: 2h
    approvers: [%s]
    eligible: 'user.email.endsWith("@example.com")'
`, stsRole, stsRoleARN, approverID)
	fmt.Fprintf(&b, `  %s:
    description: Bench Identity Center permission set
    backend: aws_sso
    permission_set: %s
    accounts: [`, ssoRole, ssoPermissionSet)
	for i := range ssoAccounts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"%s"`, ssoAccount(i))
	}
	fmt.Fprintf(&b, `]
    approvers: [%s]
    eligible: 'user.email.endsWith("@example.com")'
`, approverID)
	for k := range floodRoles {
		fmt.Fprintf(&b, `  %s:
    description: Incident flood role %d
    backend: aws_sts
    role_arn: %s
    max_duration: 1h
    approvers: [%s]
    eligible: 'user.email.endsWith("@example.com")'
`, floodRole(k), k, stsRoleARN, floodApprover(k))
	}
	for i := range max(0, l.roles-l.groups-2-floodRoles) {
		fmt.Fprintf(&b, `  svc-%04d:
    description: Filler role %d of a large catalog
    backend: aws_sts
    role_arn: %s
    max_duration: 1h
    approvers: ["@platform-leads"]
    eligible: %s
`, i, i, stsRoleARN, fillerRules[i%len(fillerRules)])
	}
	return b.String()
}
