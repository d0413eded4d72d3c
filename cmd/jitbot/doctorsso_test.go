package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// TestDoctorIdentityCenterThroughTheBinary: a permission set assigned in
// moto's Identity Center to a user who holds no grant is standing access,
// named; a permission set that does not exist is named too, and what an
// existing one gives is listed.
func TestDoctorIdentityCenterThroughTheBinary(t *testing.T) {
	moto, rds, slack := testenv.StartMoto(t), testenv.StartRedis(t), slackfake.Start(t)
	cfg := testenv.AWSConfig(t, moto.URL())
	admin, ids := ssoadmin.NewFromConfig(cfg), identitystore.NewFromConfig(cfg)
	ctx := t.Context()
	inst, err := admin.ListInstances(ctx, &ssoadmin.ListInstancesInput{})
	if err != nil || len(inst.Instances) != 1 {
		t.Fatalf("moto's Identity Center instance: %v, %v", inst, err)
	}
	instance, storeID := inst.Instances[0].InstanceArn, inst.Instances[0].IdentityStoreId
	ps, err := admin.CreatePermissionSet(ctx, &ssoadmin.CreatePermissionSetInput{InstanceArn: instance, Name: aws.String("AdministratorAccess"),
		SessionDuration: aws.String("PT1H"), Tags: []ssotypes.Tag{{Key: aws.String("jit-managed"), Value: aws.String("true")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AttachManagedPolicyToPermissionSet(ctx, &ssoadmin.AttachManagedPolicyToPermissionSetInput{InstanceArn: instance,
		PermissionSetArn: ps.PermissionSet.PermissionSetArn, ManagedPolicyArn: aws.String("arn:aws:iam::aws:policy/AdministratorAccess")}); err != nil {
		t.Fatal(err)
	}
	eve, err := ids.CreateUser(ctx, &identitystore.CreateUserInput{IdentityStoreId: storeID, UserName: aws.String("eve@example.com"),
		DisplayName: aws.String("eve"), Name: &idtypes.Name{GivenName: aws.String("Eve"), FamilyName: aws.String("Example")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{InstanceArn: instance,
		PermissionSetArn: ps.PermissionSet.PermissionSetArn, TargetId: aws.String("111111111111"), TargetType: ssotypes.TargetTypeAwsAccount,
		PrincipalId: eve.UserId, PrincipalType: ssotypes.PrincipalTypeUser}); err != nil {
		t.Fatal(err)
	}
	roles := `  admin-sso:
    backend: aws_sso
    permission_set: AdministratorAccess
    accounts: ["111111111111"]
    approvers: [ULEAD1]
    eligible: 'true'
  missing-sso:
    backend: aws_sso
    permission_set: NoSuchSet
    accounts: ["111111111111"]
    approvers: [ULEAD1]
    eligible: 'true'
`
	r := runBinary(t, doctorEnv(t, moto, rds, slack, roles), "doctor")
	t.Logf("jitbot doctor:\n%s", r.stdout)
	for _, want := range []string{
		"WRONG   role admin-sso    standing access: eve@example.com holds permission set AdministratorAccess in account 111111111111 with no live grant",
		"WRONG   role missing-sso  permission set NoSuchSet in account 111111111111 does not exist",
		"INFO    role admin-sso    permission set AdministratorAccess gives: arn:aws:iam::aws:policy/AdministratorAccess",
	} {
		if r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("exit %d, want 1 and %q", r.code, want)
		}
	}
}
