package deploy_test

import (
	"reflect"
	"testing"
)

// jitManaged is the one condition on Identity Center assignments: only
// permission sets tagged jit-managed=true may be assigned or unassigned.
var jitManaged = map[string]map[string]any{"StringEquals": {"aws:ResourceTag/jit-managed": "true"}}

// jitManagedActions are the actions the jitManaged condition may guard,
// on permission sets only.
var jitManagedActions = []string{"sso:CreateAccountAssignment", "sso:DeleteAccountAssignment", "sso:ListAccountAssignments"}

const permissionSets = "arn:aws:sso:::permissionSet/*/*"

// TestBotPolicyAssignsOnlyJitManagedPermissionSets: IAM authorises an
// account assignment once for each resource it names (instance, account,
// permission set), so jitbot may assign in any account of the instance,
// but only permission sets tagged jit-managed=true. Whoever holds jitbot's
// credentials cannot hand out AdministratorAccess through a permission set
// nobody marked for just-in-time use.
func TestBotPolicyAssignsOnlyJitManagedPermissionSets(t *testing.T) {
	doc := readPolicy(t, botPolicyFile)
	allows := func(action, resource string, tags map[string]string) bool {
		for _, s := range doc.Statement {
			if s.Effect != "Allow" || !matchAny(s.Action, action) || !glob(s.Resource, resource) {
				continue
			}
			if len(s.Condition) == 0 || reflect.DeepEqual(s.Condition, jitManaged) && tags["jit-managed"] == "true" {
				return true
			}
		}
		return false
	}
	const ps = "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef"
	for _, a := range jitManagedActions {
		for _, tt := range []struct {
			resource string
			tags     map[string]string
			want     bool
		}{
			{ps, map[string]string{"jit-managed": "true"}, true},
			{ps, nil, false},
			{ps, map[string]string{"jit-managed": "false"}, false},
			{"arn:aws:sso:::instance/ssoins-1234567890abcdef", nil, true},
			{"arn:aws:sso:::account/111122223333", nil, true},
		} {
			if got := allows(a, tt.resource, tt.tags); got != tt.want {
				t.Errorf("%s on %s tagged %v: allowed=%v, want %v", a, tt.resource, tt.tags, got, tt.want)
			}
		}
	}
	// Describing any permission set is allowed: a name is found by
	// describing them all, and a description grants nothing.
	if !allows("sso:DescribePermissionSet", ps, nil) {
		t.Errorf("sso:DescribePermissionSet on an untagged permission set is refused; names could not be resolved")
	}
}
