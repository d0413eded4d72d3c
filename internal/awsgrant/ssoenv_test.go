package awsgrant_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/testenv"
)

// ssoEnv is an env with moto's Identity Center: the one instance moto
// creates for each account and region, and its identity store (moto makes
// a store on first use of its ID).
type ssoEnv struct {
	*env
	admin    *ssoadmin.Client      // straight to moto
	store    *identitystore.Client // straight to moto
	instance string
	storeID  string
}

func newSSOEnv(t *testing.T) *ssoEnv {
	t.Helper()
	return ssoEnvOn(t, newEnv(t))
}

// ssoEnvOn is the ssoEnv of an env already started.
func ssoEnvOn(t *testing.T, base *env) *ssoEnv {
	t.Helper()
	e := &ssoEnv{env: base}
	e.admin = ssoadmin.NewFromConfig(e.direct)
	e.store = identitystore.NewFromConfig(e.direct)
	out, err := e.admin.ListInstances(t.Context(), &ssoadmin.ListInstancesInput{})
	if err != nil {
		t.Fatalf("list instances: %v", err)
	}
	if len(out.Instances) != 1 {
		t.Fatalf("moto has %d Identity Center instances, want the 1 it creates", len(out.Instances))
	}
	e.instance = aws.ToString(out.Instances[0].InstanceArn)
	e.storeID = aws.ToString(out.Instances[0].IdentityStoreId)
	return e
}

// createSSOUser creates an Identity Center user and returns its ID.
func (e *ssoEnv) createSSOUser(t *testing.T, name string) string {
	t.Helper()
	out, err := e.store.CreateUser(t.Context(), &identitystore.CreateUserInput{
		IdentityStoreId: aws.String(e.storeID), UserName: aws.String(name), DisplayName: aws.String(name),
		Name: &idtypes.Name{GivenName: aws.String("Test"), FamilyName: aws.String(name)},
	})
	if err != nil {
		t.Fatalf("create Identity Center user %s: %v", name, err)
	}
	return aws.ToString(out.UserId)
}

func (e *ssoEnv) deleteSSOUser(t *testing.T, id string) {
	t.Helper()
	if _, err := e.store.DeleteUser(t.Context(), &identitystore.DeleteUserInput{IdentityStoreId: aws.String(e.storeID), UserId: aws.String(id)}); err != nil {
		t.Fatalf("delete Identity Center user %s: %v", id, err)
	}
}

// createSSOGroup creates an Identity Center group and returns its ID.
func (e *ssoEnv) createSSOGroup(t *testing.T, name string) string {
	t.Helper()
	out, err := e.store.CreateGroup(t.Context(), &identitystore.CreateGroupInput{IdentityStoreId: aws.String(e.storeID), DisplayName: aws.String(name)})
	if err != nil {
		t.Fatalf("create Identity Center group %s: %v", name, err)
	}
	return aws.ToString(out.GroupId)
}

// createPermissionSet creates a permission set tagged jit-managed=true
// and returns its ARN.
func (e *ssoEnv) createPermissionSet(t *testing.T, name string) string {
	t.Helper()
	out, err := e.admin.CreatePermissionSet(t.Context(), &ssoadmin.CreatePermissionSetInput{
		InstanceArn: aws.String(e.instance), Name: aws.String(name),
		// Given, because moto's default is the number 3600 where AWS
		// sends a duration string, which the SDK refuses to decode.
		SessionDuration: aws.String("PT1H"),
		Tags:            []ssotypes.Tag{{Key: aws.String("jit-managed"), Value: aws.String("true")}},
	})
	if err != nil {
		t.Fatalf("create permission set %s: %v", name, err)
	}
	return aws.ToString(out.PermissionSet.PermissionSetArn)
}

// assignedUsers lists the user IDs assigned psARN in account, as moto has
// them, one entry per assignment (so a duplicate shows twice).
func (e *ssoEnv) assignedUsers(t *testing.T, account, psARN string) []string {
	t.Helper()
	out, err := e.admin.ListAccountAssignments(t.Context(), &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(e.instance), AccountId: aws.String(account), PermissionSetArn: aws.String(psARN),
	})
	if err != nil {
		t.Fatalf("list assignments of %s in %s: %v", psARN, account, err)
	}
	var ids []string
	for _, a := range out.AccountAssignments {
		ids = append(ids, aws.ToString(a.PrincipalId))
	}
	return ids
}

// groupMembers lists the user IDs in a group as moto has them, one entry
// per membership.
func (e *ssoEnv) groupMembers(t *testing.T, groupID string) []string {
	t.Helper()
	out, err := e.store.ListGroupMemberships(t.Context(), &identitystore.ListGroupMembershipsInput{IdentityStoreId: aws.String(e.storeID), GroupId: aws.String(groupID)})
	if err != nil {
		t.Fatalf("list memberships of group %s: %v", groupID, err)
	}
	var ids []string
	for _, m := range out.GroupMemberships {
		if u, ok := m.MemberId.(*idtypes.MemberIdMemberUserId); ok {
			ids = append(ids, u.Value)
		}
	}
	return ids
}

func ssoGrant(user, account, permissionSet string) grants.Grant {
	start := time.Now()
	return grants.Grant{
		RequestID:      grants.NewRequestID(),
		Backend:        grants.BackendSSO,
		Target:         grants.SSOTarget(account, permissionSet),
		Principal:      user,
		RequesterEmail: user,
		Approvers:      []string{"U0APPROVER1"},
		Start:          start,
		Expires:        start.Add(time.Hour),
	}
}

func ssoGroupGrant(user, group string) grants.Grant {
	g := ssoGrant(user, motoAccount, "unused")
	g.Backend, g.Target = grants.BackendSSOGroup, group
	return g
}

// setStatus returns a fix that sets the Status (and FailureReason, when
// given) of the operation status object key.
func setStatus(key, status, reason string) func(map[string]any) {
	return func(body map[string]any) {
		st, _ := body[key].(map[string]any)
		if st == nil {
			return
		}
		st["Status"] = status
		if reason != "" {
			st["FailureReason"] = reason
		}
	}
}

// rewritten is a second proxy in front of e's recording one, for backends
// whose answers a test rewrites while the others' stay as moto gives them.
func (e *ssoEnv) rewritten(t *testing.T) (*testenv.Proxy, aws.Config) {
	t.Helper()
	rw := testenv.StartProxy(t, e.proxy.URL())
	return rw, testenv.AWSConfig(t, rw.URL())
}
