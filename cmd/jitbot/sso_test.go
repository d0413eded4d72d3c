package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/jitbot/jitbot/internal/testenv"
)

// ssoRoles are Identity Center roles on top of slackCatalog. Account
// 222222222222 (prod) is only for on-call people.
const ssoRoles = `  admin-sso:
    description: AdministratorAccess in a workload account
    backend: aws_sso
    permission_set: AdministratorAccess
    accounts: {staging: "111111111111", prod: "222222222222"}
    reconcile: enforce
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups && (request.account != "222222222222" || "oncall" in user.groups)'
  billing-sso:
    backend: aws_sso_group
    sso_group: Billing Admins
    approvers: ["@platform-leads"]
    eligible: '"sre" in user.groups'
`

const portal = "https://acme.awsapps.com/start"

// ssoBot is a bot with Identity Center roles, and moto's Identity Center
// seen from the test: one permission set, a group, and Identity Center
// users for bob and alice (whose Slack emails are their user names).
type ssoBot struct {
	*bot
	admin      *ssoadmin.Client
	ids        *identitystore.Client
	instance   string
	storeID    string
	permission string // AdministratorAccess's ARN
	group      string // Billing Admins' ID
	users      map[string]string
}

func startSSOBot(t *testing.T, users ...string) *ssoBot {
	t.Helper()
	return startSSOBotWith(t, func(*ssoBot) string { return ssoRoles }, users...)
}

// startSSOBotWith is startSSOBot with the Identity Center roles that
// roles gives, called once the Identity Center fixtures exist, so that it
// can make more in moto (an organization) and name them.
func startSSOBotWith(t *testing.T, roles func(*ssoBot) string, users ...string) *ssoBot {
	t.Helper()
	b := &ssoBot{bot: startBot(t, "JIT_MIN_DURATION=1s", "JIT_SSO_START_URL="+portal), users: map[string]string{}}
	cfg := testenv.AWSConfig(t, b.moto.URL())
	b.admin, b.ids = ssoadmin.NewFromConfig(cfg), identitystore.NewFromConfig(cfg)
	ctx := t.Context()
	inst, err := b.admin.ListInstances(ctx, &ssoadmin.ListInstancesInput{})
	if err != nil || len(inst.Instances) != 1 {
		t.Fatalf("moto's Identity Center instance: %v, %v", inst, err)
	}
	b.instance, b.storeID = aws.ToString(inst.Instances[0].InstanceArn), aws.ToString(inst.Instances[0].IdentityStoreId)
	ps, err := b.admin.CreatePermissionSet(ctx, &ssoadmin.CreatePermissionSetInput{
		InstanceArn: aws.String(b.instance), Name: aws.String("AdministratorAccess"), SessionDuration: aws.String("PT1H"), // moto's default, 3600, does not decode
		Tags: []ssotypes.Tag{{Key: aws.String("jit-managed"), Value: aws.String("true")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.permission = aws.ToString(ps.PermissionSet.PermissionSetArn)
	g, err := b.ids.CreateGroup(ctx, &identitystore.CreateGroupInput{IdentityStoreId: aws.String(b.storeID), DisplayName: aws.String("Billing Admins")})
	if err != nil {
		t.Fatal(err)
	}
	b.group = aws.ToString(g.GroupId)
	for _, u := range users {
		out, err := b.ids.CreateUser(ctx, &identitystore.CreateUserInput{
			IdentityStoreId: aws.String(b.storeID), UserName: aws.String(u), DisplayName: aws.String(u),
			Name: &idtypes.Name{GivenName: aws.String("Test"), FamilyName: aws.String(u)},
		})
		if err != nil {
			t.Fatal(err)
		}
		b.users[u] = aws.ToString(out.UserId)
	}
	b.restartWithRoles(t, roles(b))
	return b
}

// assigned lists the Identity Center user IDs assigned AdministratorAccess
// in account, each once.
func (b *ssoBot) assigned(t *testing.T, account string) []string {
	t.Helper()
	out, err := b.admin.ListAccountAssignments(t.Context(), &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(b.instance), AccountId: aws.String(account), PermissionSetArn: aws.String(b.permission),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range out.AccountAssignments {
		if id := aws.ToString(a.PrincipalId); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (b *ssoBot) waitAssigned(t *testing.T, what, account string, want ...string) {
	t.Helper()
	b.slack.WaitFor(t, what, 20*time.Second, func() bool {
		got := b.assigned(t, account)
		slices.Sort(got)
		slices.Sort(want)
		return slices.Equal(got, want)
	})
}

// TestSlackSSOGrantInAChosenAccount: a permission set granted in the
// account the requester named, through Slack, and taken away at expiry;
// the DM says where to sign in and holds no secret.
func TestSlackSSOGrantInAChosenAccount(t *testing.T) {
	b := startSSOBot(t, "alice@example.com", "bob@example.com")
	if got := b.command(t, "UALICE", "request admin-sso 1h checking the staging replica"); !strings.Contains(got, "name one with --account: staging (111111111111), prod (222222222222)") {
		t.Errorf("no account: %s", got)
	}
	if got := b.command(t, "UALICE", "request admin-sso 1h --account prod checking the prod replica"); !strings.Contains(got, "not eligible") {
		t.Errorf("alice, not on call, asked for prod: %s", got)
	}
	id := requestID(t, b.command(t, "UBOB", "request admin-sso 3s --account prod checking the prod replica"))
	dm := b.approvalDM(t, "ULEAD1", id)
	if !strings.Contains(dm.Text+visible(dm), "222222222222") {
		t.Errorf("the approval DM does not name the account:\n%s", visible(dm))
	}
	b.click(t, "ULEAD1", dm, "jit_approve", id)
	granted := b.dmWith(t, "UBOB", id, "AdministratorAccess")
	text := visible(granted)
	for _, want := range []string{"permission set `AdministratorAccess` in account `222222222222` for `bob@example.com`", portal, "sso_account_id = 222222222222"} {
		if !strings.Contains(text, want) {
			t.Errorf("grant DM lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("an Identity Center grant DM shows credentials:\n%s", text)
	}
	if got := b.assigned(t, "222222222222"); !slices.Equal(got, []string{b.users["bob@example.com"]}) {
		t.Fatalf("assigned in prod: %v, want bob", got)
	}
	if got := b.assigned(t, "111111111111"); len(got) != 0 {
		t.Errorf("assigned in staging, which nobody asked for: %v", got)
	}
	b.waitAssigned(t, "bob's assignment removed at expiry", "222222222222")
	b.slack.WaitFor(t, "the audit thread says it ended", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(id), "expired")
	})
}

// TestSlackSSOAssignmentSharedAndMissingUser: two grants of the same
// assignment are one, removed only when the second ends; a requester with
// no Identity Center user is told so, and nothing is assigned.
func TestSlackSSOAssignmentSharedAndMissingUser(t *testing.T) {
	b := startSSOBot(t, "bob@example.com")
	var ids []string
	for range 2 {
		id := requestID(t, b.command(t, "UBOB", "request admin-sso 1h --account staging checking the staging replica"))
		b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
		b.dmWith(t, "UBOB", id, "AdministratorAccess")
		ids = append(ids, id)
	}
	bob := b.users["bob@example.com"]
	if got := b.assigned(t, "111111111111"); !slices.Equal(got, []string{bob}) {
		t.Fatalf("assigned after two grants: %v, want bob once", got)
	}
	if got := b.command(t, "UBOB", "revoke "+ids[0]); !strings.Contains(got, "Revoked") {
		t.Fatalf("revoke: %s", got)
	}
	time.Sleep(time.Second) // what a wrong removal would take
	if got := b.assigned(t, "111111111111"); !slices.Equal(got, []string{bob}) {
		t.Fatalf("after the first grant ended: %v, want bob still (the second holds it)", got)
	}
	b.command(t, "UBOB", "revoke "+ids[1])
	b.waitAssigned(t, "the assignment removed with the last grant", "111111111111")

	id := requestID(t, b.command(t, "UALICE", "request admin-sso 1h --account staging checking the staging replica"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	dm := b.dmWith(t, "UALICE", id, "could not be issued")
	if !strings.Contains(visible(dm), "alice@example.com") {
		t.Errorf("the failure does not name the missing user:\n%s", visible(dm))
	}
	b.slack.WaitFor(t, "the audit thread names the failure", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(id), "alice@example.com")
	})
	if got := b.assigned(t, "111111111111"); len(got) != 0 {
		t.Errorf("assigned after a failed grant: %v", got)
	}
}

// TestSlackSSOStrayAssignmentReconciled: an assignment of a reconciled
// role's permission set made behind jitbot's back is removed by the
// periodic pass and posted to the audit channel.
func TestSlackSSOStrayAssignmentReconciled(t *testing.T) {
	b := startSSOBot(t, "bob@example.com")
	if _, err := b.admin.CreateAccountAssignment(t.Context(), &ssoadmin.CreateAccountAssignmentInput{
		InstanceArn: aws.String(b.instance), PermissionSetArn: aws.String(b.permission),
		TargetId: aws.String("222222222222"), TargetType: ssotypes.TargetTypeAwsAccount,
		PrincipalId: aws.String(b.users["bob@example.com"]), PrincipalType: ssotypes.PrincipalTypeUser,
	}); err != nil {
		t.Fatal(err)
	}
	b.waitAssigned(t, "the stray assignment removed (reconcile: enforce, every 10s)", "222222222222")
	b.slack.WaitFor(t, "the stray posted to the audit channel", 10*time.Second, func() bool {
		for _, m := range b.slack.Messages(auditChannel) {
			if strings.Contains(m.Text+visible(m), "Identity Center user bob@example.com was assigned AdministratorAccess in account 222222222222") {
				return true
			}
		}
		return false
	})
}

// TestSlackSSOGroupGrant: membership of an Identity Center group for the
// grant, gone when it is revoked.
func TestSlackSSOGroupGrant(t *testing.T) {
	b := startSSOBot(t, "bob@example.com")
	id := requestID(t, b.command(t, "UBOB", "request billing-sso 1h checking the billing export"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	dm := b.dmWith(t, "UBOB", id, "Billing Admins")
	if !strings.Contains(visible(dm), "Identity Center group `Billing Admins`") {
		t.Errorf("grant DM:\n%s", visible(dm))
	}
	if got := b.groupMembersSSO(t); !slices.Equal(got, []string{b.users["bob@example.com"]}) {
		t.Fatalf("Billing Admins members: %v, want bob", got)
	}
	b.command(t, "UBOB", "revoke "+id)
	b.slack.WaitFor(t, "bob out of Billing Admins", 20*time.Second, func() bool { return len(b.groupMembersSSO(t)) == 0 })
}

func (b *ssoBot) groupMembersSSO(t *testing.T) []string {
	t.Helper()
	out, err := b.ids.ListGroupMemberships(t.Context(), &identitystore.ListGroupMembershipsInput{IdentityStoreId: aws.String(b.storeID), GroupId: aws.String(b.group)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range out.GroupMemberships {
		if u, ok := m.MemberId.(*idtypes.MemberIdMemberUserId); ok && !slices.Contains(ids, u.Value) {
			ids = append(ids, u.Value)
		}
	}
	return ids
}
