package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const (
	botPolicyFile   = "iam/iam-policy.json"
	trustPolicyFile = "iam/trust-policy.json"
	module          = "github.com/jitbot/jitbot/"
	sdkService      = "github.com/aws/aws-sdk-go-v2/service/"
)

// policyDoc is an IAM policy document as deploy/iam writes them: Action a
// list, Resource a single string.
type policyDoc struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Sid       string
	Effect    string
	Principal map[string]string
	Action    []string
	Resource  string
	Condition map[string]map[string]any
}

func readPolicy(t *testing.T, path string) policyDoc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDoc
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if doc.Version != "2012-10-17" {
		t.Errorf("%s: Version %q; want 2012-10-17 (older versions have no policy variables)", path, doc.Version)
	}
	return doc
}

// notTheBot are functions in jitbot's packages that call AWS but are never
// run under jitbot's role: they are libraries for auditors, who use their
// own credentials. TestBotPolicyAllowsExactlyWhatTheCodeCalls fails if
// the bot starts calling them.
var notTheBot = map[string]string{
	"internal/auditlog/s3export.ReadAll": "reads the exported log back, for auditors",
	"internal/auditlog/s3export.get":     "called by ReadAll only",
}

// auditorCommands are the files of the binary that may call notTheBot:
// `jitbot audit verify` runs on an auditor's machine with the auditor's
// credentials, never under jitbot's role.
var auditorCommands = map[string]string{
	"../cmd/jitbot/auditanchors.go": "jitbot audit verify reads the anchors in the S3 export",
}

// TestBotPolicyAllowsExactlyWhatTheCodeCalls checks deploy/iam/iam-policy.json
// against the code: every AWS operation jitbot can call is allowed, and
// nothing else is. (internal/awsgrant's TestDeployPolicyAllowsEveryCall
// checks the same policy against the calls seen on the wire.) Each action
// is also limited to the resources jitbot works on: jit-* roles and
// groups, the audit prefix in S3.
func TestBotPolicyAllowsExactlyWhatTheCodeCalls(t *testing.T) {
	doc := readPolicy(t, botPolicyFile)
	allowed := map[string][]string{} // action → resources, sorted
	for _, s := range doc.Statement {
		if s.Effect == "Deny" && s.Sid != "" && s.Principal == nil {
			continue // the boundary guards; TestBotPolicyKeepsJitRolesBounded checks them
		}
		// The conditions allowed: PutRolePolicy only on roles that carry
		// the permissions boundary; account assignments only of
		// permission sets tagged jit-managed=true.
		bounded := reflect.DeepEqual(s.Condition, boundaryCondition("ArnLike")) && slices.Equal(s.Action, []string{"iam:PutRolePolicy"})
		// sts:AssumeRole (and its tags) on jit-* roles and jitbot-member of
		// other accounts only within jitbot's organisation.
		orgWide := reflect.DeepEqual(s.Condition, organisationCondition) &&
			!slices.ContainsFunc(s.Action, func(a string) bool { return !slices.Contains(issueActions, a) })
		ownAccount := reflect.DeepEqual(s.Condition, ownAccountCondition) && slices.Equal(s.Action, issueActions)
		tagged := reflect.DeepEqual(s.Condition, jitManaged) && s.Resource == permissionSets && slices.Equal(slices.Sorted(slices.Values(s.Action)), jitManagedActions)
		if s.Effect != "Allow" || s.Sid == "" || (len(s.Condition) > 0 && !bounded && !tagged && !orgWide && !ownAccount) || s.Principal != nil {
			t.Errorf("statement %+v: want a named Allow without conditions or principal", s)
		}
		resource := s.Resource
		if orgWide {
			resource += inTheOrganisation
		}
		if ownAccount {
			resource += inOwnAccount
		}
		for _, a := range s.Action {
			if strings.Contains(a, "*") {
				t.Errorf("statement %s allows %s; name each action", s.Sid, a)
			}
			// An action may appear in several statements, one for each
			// kind of resource it needs (Identity Center's need up to
			// four), but never twice on the same resource.
			if slices.Contains(allowed[a], resource) {
				t.Errorf("%s is allowed twice on %s", a, resource)
			}
			allowed[a] = append(allowed[a], resource)
			slices.Sort(allowed[a])
		}
	}

	calls := awsCalls(t)
	used := map[string][]apiCall{}
	for _, c := range calls {
		if why, ok := notTheBot[c.pkg+"."+c.fn]; ok {
			t.Logf("%s in %s.%s: not the bot's (%s)", c.action, c.pkg, c.fn, why)
			continue
		}
		if why, ok := needsNoPermission[c.action]; ok {
			t.Logf("%s in %s: needs no permission (%s)", c.action, c.fn, why)
			continue
		}
		used[c.action] = append(used[c.action], c)
		t.Logf("%s called at %s in %s", c.action, c.pos, c.fn)
	}
	if len(used) < 8 {
		t.Fatalf("found only %d AWS actions in the code (%v); the scan is broken", len(used), slices.Sorted(maps.Keys(used)))
	}
	for _, a := range slices.Sorted(maps.Keys(used)) {
		if _, ok := allowed[a]; !ok {
			t.Errorf("the code calls %s (%s in %s) but %s does not allow it", a, used[a][0].pos, used[a][0].fn, botPolicyFile)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(allowed)) {
		if _, ok := used[a]; !ok {
			t.Errorf("%s allows %s, which the code never calls; least privilege: remove it", botPolicyFile, a)
		}
	}
	for key := range notTheBot {
		pkg, fn, _ := strings.Cut(key, ".")
		callers := slices.DeleteFunc(callersOutside(t, pkg, fn), func(p string) bool { return auditorCommands[p] != "" })
		if len(callers) > 0 {
			t.Errorf("%s is now called by jitbot itself (%v): its AWS calls need jitbot's policy", key, callers)
		}
	}

	// Where each action may act. IAM actions on roles and groups are
	// limited to names starting with jit-; GetUser only names a missing
	// user, so any user; LookupEvents and ListInstances have no
	// resource-level permissions, and the two Organizations listings get
	// "*" too (jitbot reads whichever OU the catalog names). Identity Center actions need every kind
	// of resource they touch allowed: assignments need the instance, the
	// account and the permission set (the last only if tagged
	// jit-managed=true, see jitManaged); identity store calls need the
	// store and each user, group or membership. Identity store groups
	// carry no tags, so group membership cannot be narrowed further here.
	s3Prefix := envDefault(t, "JIT_AUDIT_S3_PREFIX")
	const (
		instance    = "arn:aws:sso:::instance/*"
		accounts    = "arn:aws:sso:::account/*"
		store       = "arn:aws:identitystore::*:identitystore/*"
		users       = "arn:aws:identitystore:::user/*"
		groups      = "arn:aws:identitystore:::group/*"
		memberships = "arn:aws:identitystore:::membership/*"
	)
	want := map[string][]string{
		"sts:AssumeRole":          {"arn:aws:iam::*:role/jit-*" + inOwnAccount, "arn:aws:iam::*:role/jit-*" + inTheOrganisation, "arn:aws:iam::*:role/jitbot-member" + inTheOrganisation},
		"sts:TagSession":          {"arn:aws:iam::*:role/jit-*" + inOwnAccount, "arn:aws:iam::*:role/jit-*" + inTheOrganisation},
		"sts:SetSourceIdentity":   {"arn:aws:iam::*:role/jit-*" + inOwnAccount, "arn:aws:iam::*:role/jit-*" + inTheOrganisation},
		"iam:GetRole":             {"arn:aws:iam::*:role/jit-*"},
		"iam:GetRolePolicy":       {"arn:aws:iam::*:role/jit-*"},
		"iam:PutRolePolicy":       {"arn:aws:iam::*:role/jit-*"},
		"iam:DeleteRolePolicy":    {"arn:aws:iam::*:role/jit-*"},
		"iam:AddUserToGroup":      {"arn:aws:iam::*:group/jit-*"},
		"iam:RemoveUserFromGroup": {"arn:aws:iam::*:group/jit-*"},
		"iam:GetGroup":            {"arn:aws:iam::*:group/jit-*"},
		// jitbot doctor lists what a role's group gives (read-only).
		"iam:ListAttachedGroupPolicies": {"arn:aws:iam::*:group/jit-*"},
		"iam:ListGroupPolicies":         {"arn:aws:iam::*:group/jit-*"},
		"iam:GetUser":                   {"arn:aws:iam::*:user/*"},
		"cloudtrail:LookupEvents":       {"*"},
		"s3:PutObject":                  {"arn:aws:s3:::jit-audit-evidence/" + s3Prefix + "/*"},

		"sso:ListInstances":         {"*"},
		"sso:ListPermissionSets":    {instance},
		"sso:DescribePermissionSet": {instance, permissionSets},
		// jitbot doctor lists what a permission set gives (read-only).
		"sso:ListManagedPoliciesInPermissionSet":                 {instance, permissionSets},
		"sso:ListCustomerManagedPolicyReferencesInPermissionSet": {instance, permissionSets},
		"sso:GetInlinePolicyForPermissionSet":                    {instance, permissionSets},
		"sso:DescribeAccountAssignmentCreationStatus":            {instance},
		"sso:DescribeAccountAssignmentDeletionStatus":            {instance},
		"sso:CreateAccountAssignment":                            {accounts, instance, permissionSets},
		"sso:DeleteAccountAssignment":                            {accounts, instance, permissionSets},
		"sso:ListAccountAssignments":                             {accounts, instance, permissionSets},

		"identitystore:GetUserId":                     {store, users},
		"identitystore:DescribeUser":                  {store, users},
		"identitystore:GetGroupId":                    {store, groups},
		"identitystore:CreateGroupMembership":         {store, groups, users},
		"identitystore:DeleteGroupMembership":         {store, groups, memberships, users},
		"identitystore:ListGroupMemberships":          {store, groups, memberships},
		"identitystore:ListGroupMembershipsForMember": {store, memberships, users},

		"organizations:ListAccountsForParent":            {"*"},
		"organizations:ListOrganizationalUnitsForParent": {"*"},
	}
	for a, res := range allowed {
		w, ok := want[a]
		switch {
		case !ok:
			t.Errorf("%s: no expected resource in this test; add one", a)
		case !slices.Equal(res, slices.Sorted(slices.Values(w))):
			t.Errorf("%s on %q; want %q", a, res, w)
		}
	}
}

// callersOutside lists the files of jitbot's packages, other than pkg
// itself, that refer to pkg's function fn.
func callersOutside(t *testing.T, pkg, fn string) []string {
	t.Helper()
	name := filepath.Base(pkg) + "." + fn + "("
	var found []string
	for _, root := range []string{"../cmd", "../internal"} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			if filepath.Dir(p) == filepath.Join("..", pkg) {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), name) {
				found = append(found, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// TestTargetTrustPolicy checks the trust policy that every role jitbot
// hands out must have: only jitbot's role may assume it, only with a
// source identity (the requester, named in CloudTrail for the whole
// session) and the jit-request session tag (which an early revocation's
// deny matches), and with no session tags but the ones jitbot sets.
func TestTargetTrustPolicy(t *testing.T) {
	doc := readPolicy(t, trustPolicyFile)
	if len(doc.Statement) != 1 {
		t.Fatalf("%d statements; want one", len(doc.Statement))
	}
	s := doc.Statement[0]
	if s.Effect != "Allow" || len(s.Principal) != 1 || !strings.HasPrefix(s.Principal["AWS"], "arn:aws:iam::") || !strings.Contains(s.Principal["AWS"], ":role/") {
		t.Errorf("statement %+v; want Allow for jitbot's role alone", s)
	}
	if got, want := slices.Sorted(slices.Values(s.Action)), []string{"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}; !slices.Equal(got, want) {
		t.Errorf("actions %v; want %v", got, want)
	}

	tags := sessionTags(t)
	null := s.Condition["Null"]
	for _, key := range []string{"sts:SourceIdentity", "aws:RequestTag/" + tags[0]} {
		if null[key] != "false" {
			t.Errorf("Condition Null %s = %v; want \"false\": AssumeRole without it must be refused", key, null[key])
		}
	}
	keys, _ := s.Condition["ForAllValues:StringEquals"]["aws:TagKeys"].([]any)
	var allowedKeys []string
	for _, k := range keys {
		allowedKeys = append(allowedKeys, k.(string))
	}
	if !slices.Equal(slices.Sorted(slices.Values(allowedKeys)), slices.Sorted(slices.Values(tags))) {
		t.Errorf("aws:TagKeys %v; want exactly the tags jitbot sends %v", allowedKeys, tags)
	}
}

// sessionTags reads the session tag keys that internal/awsgrant sends with
// AssumeRole (its constants tagRequest, tagApprover), the request tag
// first.
func sessionTags(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../internal/awsgrant/sts.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, id := range vs.Names {
				if i >= len(vs.Values) || !strings.HasPrefix(id.Name, "tag") {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					consts[id.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
		return true
	})
	if consts["tagRequest"] == "" || len(consts) < 2 {
		t.Fatalf("session tag constants in internal/awsgrant/sts.go: %v", consts)
	}
	tags := []string{consts["tagRequest"]}
	for name, v := range consts {
		if name != "tagRequest" {
			tags = append(tags, v)
		}
	}
	return tags
}
