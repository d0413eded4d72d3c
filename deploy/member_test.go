package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// The member-account side of aws_sts across the organisation: jitbot's
// policy reaches jit-* roles and jitbot-member of other accounts only
// within its organisation, and jitbot-member may do on its account's
// jit-* roles exactly what the backend asks of it.

const (
	memberPolicyFile      = "iam/member-policy.json"
	memberTrustPolicyFile = "iam/member-trust-policy.json"
	memberTFDir           = "iam/terraform/member"
	stsBackendType        = "STS" // internal/awsgrant's aws_sts backend
)

// organisationCondition limits a statement to resources of jitbot's own
// organisation, whatever their account.
var organisationCondition = map[string]map[string]any{"StringEquals": {"aws:ResourceOrgID": "${aws:PrincipalOrgID}"}}

// ownAccountCondition limits a statement to resources of jitbot's own
// account, so that the policy file holds without the Terraform module
// putting the account in its ARNs.
var ownAccountCondition = map[string]map[string]any{"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}

// inOwnAccount marks, in TestBotPolicyAllowsExactlyWhatTheCodeCalls, a
// resource allowed under ownAccountCondition.
const inOwnAccount = " in jitbot's account"

// TestBotPolicyAssumesRolesOnlyInItsAccountOrOrganisation: whoever holds
// jitbot's credentials must not assume a jit-* role (or any role) of an
// account outside jitbot's organisation. Every statement that allows
// sts:AssumeRole is bounded to jitbot's own account or its organisation
// in the policy file itself: the Terraform module narrows the ARNs too,
// but the file is also applied as it is. IssueStsGrants allowed
// arn:aws:iam::*:role/jit-* with no condition, which made
// IssueStsGrantsInTheOrganisation's bound moot.
func TestBotPolicyAssumesRolesOnlyInItsAccountOrOrganisation(t *testing.T) {
	for _, s := range readPolicy(t, botPolicyFile).Statement {
		if s.Effect != "Allow" || !slices.ContainsFunc(s.Action, func(a string) bool { return strings.HasPrefix(a, "sts:") }) {
			continue
		}
		if !reflect.DeepEqual(s.Condition, ownAccountCondition) && !reflect.DeepEqual(s.Condition, organisationCondition) {
			t.Errorf("statement %s allows %v on %s in any account: want it bounded by aws:ResourceAccount or aws:ResourceOrgID", s.Sid, s.Action, s.Resource)
		}
	}
}

// inTheOrganisation marks, in TestBotPolicyAllowsExactlyWhatTheCodeCalls,
// a resource allowed under organisationCondition.
const inTheOrganisation = " in the organisation"

// issueActions are what issuing an aws_sts grant takes.
var issueActions = []string{"sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"}

// stsBackendIAMCalls are the IAM actions the aws_sts backend calls: those
// of the files of internal/awsgrant that declare methods of STS. Every one
// of them goes to the client of the role's account, jitbot-member's in a
// member account.
func stsBackendIAMCalls(t *testing.T) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range goFiles(t, fset, "../internal/awsgrant") {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil && receiverType(fd) == stsBackendType {
				files[filepath.Clean(fset.File(f.Pos()).Name())] = true
			}
		}
	}
	got := map[string]bool{}
	for _, c := range awsCalls(t) {
		file := filepath.Clean(c.pos[:strings.IndexByte(c.pos, ':')])
		if c.pkg == "internal/awsgrant" && files[file] && strings.HasPrefix(c.action, "iam:") {
			got[c.action] = true
		}
	}
	if len(files) < 2 || len(got) < 4 {
		t.Fatalf("the aws_sts backend's files %v call %v; the scan is broken", slices.Sorted(maps.Keys(files)), slices.Sorted(maps.Keys(got)))
	}
	return got
}

func receiverType(fd *ast.FuncDecl) string {
	typ := fd.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	id, _ := typ.(*ast.Ident)
	if id == nil {
		return ""
	}
	return id.Name
}

// TestMemberPolicyAllowsExactlyWhatTheBackendAsksOfIt checks
// deploy/iam/member-policy.json, jitbot-member's policy, against the code:
// it allows every IAM call of the aws_sts backend and nothing else, on
// jit-* roles only, and PutRolePolicy only on roles bounded by
// jit-boundary.
func TestMemberPolicyAllowsExactlyWhatTheBackendAsksOfIt(t *testing.T) {
	doc := readPolicy(t, memberPolicyFile)
	allowed := map[string]bool{}
	for _, s := range doc.Statement {
		if s.Effect == "Deny" {
			continue // the boundary guards; TestMemberPolicyKeepsJitRolesBounded checks them
		}
		bounded := reflect.DeepEqual(s.Condition, boundaryCondition("ArnLike")) && slices.Equal(s.Action, []string{"iam:PutRolePolicy"})
		if s.Effect != "Allow" || s.Sid == "" || s.Principal != nil || (len(s.Condition) > 0 && !bounded) {
			t.Errorf("statement %+v: want a named Allow without principal or conditions but the boundary's", s)
		}
		if s.Resource != "arn:aws:iam::*:role/jit-*" {
			t.Errorf("statement %s on %s; want jit-* roles only", s.Sid, s.Resource)
		}
		for _, a := range s.Action {
			if allowed[a] {
				t.Errorf("%s allowed twice", a)
			}
			allowed[a] = true
		}
	}
	if PutRolePolicy := "iam:PutRolePolicy"; allowed[PutRolePolicy] && !slices.ContainsFunc(doc.Statement, func(s policyStatement) bool {
		return s.Effect == "Allow" && slices.Contains(s.Action, PutRolePolicy) && len(s.Condition) > 0
	}) {
		t.Errorf("%s allows PutRolePolicy without the boundary condition", memberPolicyFile)
	}
	calls := stsBackendIAMCalls(t)
	if got, want := slices.Sorted(maps.Keys(allowed)), slices.Sorted(maps.Keys(calls)); !slices.Equal(got, want) {
		t.Errorf("%s allows %v; the aws_sts backend calls %v", memberPolicyFile, got, want)
	}
}

// TestMemberPolicyKeepsJitRolesBounded: whoever holds jitbot-member's
// credentials can no more lift a member account's jit-* role above its
// boundary than jitbot's own.
func TestMemberPolicyKeepsJitRolesBounded(t *testing.T) { keepsJitRolesBounded(t, memberPolicyFile) }

// TestMemberTrustPolicy: jitbot-member trusts jitbot's role alone, and
// for AssumeRole alone (jitbot sends it no tags and no source identity).
func TestMemberTrustPolicy(t *testing.T) {
	doc := readPolicy(t, memberTrustPolicyFile)
	target := readPolicy(t, trustPolicyFile)
	if len(doc.Statement) != 1 {
		t.Fatalf("%d statements; want one", len(doc.Statement))
	}
	s := doc.Statement[0]
	if s.Effect != "Allow" || len(s.Principal) != 1 || s.Principal["AWS"] != target.Statement[0].Principal["AWS"] || len(s.Condition) != 0 {
		t.Errorf("statement %+v; want Allow for jitbot's role alone, as %s names it", s, trustPolicyFile)
	}
	if !slices.Equal(s.Action, []string{"sts:AssumeRole"}) {
		t.Errorf("actions %v; want sts:AssumeRole alone", s.Action)
	}
}

// TestTerraformMemberModule evaluates deploy/iam/terraform/member: it
// creates jitbot-member (the name the code assumes) with the tested
// policy, in this account only, trusting the jitbot role it is given;
// jit-boundary from ../boundary-policy.json; and, when asked, an example
// jit-* role that trusts jitbot through trust-policy.json.
func TestTerraformMemberModule(t *testing.T) {
	m := loadModuleIn(t, memberTFDir, "jitbot_role_arn")
	m.checkReferences(t)
	e := m.eval(t, map[string]cty.Value{"jitbot_role_arn": cty.StringVal(tfBotARN)})

	if got, want := m.attr(t, e, "aws_iam_role.member", "name").AsString(), goConst(t, "../internal/awsgrant/member.go", "MemberRoleName"); got != want {
		t.Errorf("the module creates %q; the code assumes %q", got, want)
	}
	policy := jsonOf(t, m.attr(t, e, "aws_iam_role_policy.member", "policy").AsString())
	want := jsonOf(t, strings.ReplaceAll(pretty(fileJSON(t, memberPolicyFile)), "arn:aws:iam::*:", "arn:aws:iam::"+tfAccount+":"))
	if !reflect.DeepEqual(policy, want) {
		t.Errorf("policy of jitbot-member:\n%s\nwant %s with the account filled in:\n%s", pretty(policy), memberPolicyFile, pretty(want))
	}
	if got := m.attr(t, e, "aws_iam_role_policy.member", "role").AsString(); got != "jitbot-member" {
		t.Errorf("the policy is put on %q; want jitbot-member", got)
	}
	trusts := func(file, resource string) {
		t.Helper()
		got := jsonOf(t, m.attr(t, e, resource, "assume_role_policy").AsString())
		want := fileJSON(t, file)
		for _, s := range want["Statement"].([]any) {
			s.(map[string]any)["Principal"] = map[string]any{"AWS": tfBotARN}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("trust policy of %s:\n%s\nwant %s naming jitbot's role:\n%s", resource, pretty(got), file, pretty(want))
		}
	}
	trusts(memberTrustPolicyFile, "aws_iam_role.member")
	trusts(trustPolicyFile, "aws_iam_role.example")
	if got := m.attr(t, e, "aws_iam_policy.boundary", "name").AsString(); got != "jit-boundary" {
		t.Errorf("boundary policy named %q", got)
	}
	if got := m.attr(t, e, "aws_iam_policy.boundary", "policy").AsString(); !reflect.DeepEqual(jsonOf(t, got), fileJSON(t, boundaryPolicyFile)) {
		t.Errorf("the boundary is not %s:\n%s", boundaryPolicyFile, got)
	}
	if got := m.attr(t, e, "aws_iam_role.example", "permissions_boundary").AsString(); got != "arn:aws:iam::"+tfAccount+":policy/jit-boundary" {
		t.Errorf("the example role's boundary is %q", got)
	}
	for _, file := range []string{memberPolicyFile, memberTrustPolicyFile, trustPolicyFile, boundaryPolicyFile} {
		if !slices.Contains(e.read, filepath.Clean(file)) {
			t.Errorf("the module read %v; want %s among them", e.read, file)
		}
	}

	on := m.eval(t, map[string]cty.Value{"jitbot_role_arn": cty.StringVal(tfBotARN), "create_example": cty.True})
	for _, r := range []string{"aws_iam_role.example", "aws_iam_role_policy_attachment.example"} {
		if n := m.attr(t, e, r, "count"); !n.Equals(cty.NumberIntVal(0)).True() {
			t.Errorf("%s count %#v by default; the example is optional", r, n)
		}
		if n := m.attr(t, on, r, "count"); !n.Equals(cty.NumberIntVal(1)).True() {
			t.Errorf("%s count %#v with create_example on", r, n)
		}
	}
	if ok := m.attr(t, e, "aws_iam_role.member", "lifecycle", "precondition", "condition"); !ok.True() {
		t.Errorf("the precondition refuses jitbot's role ARN %s", tfBotARN)
	}
	bad := m.eval(t, map[string]cty.Value{"jitbot_role_arn": cty.StringVal("jitbot")})
	if ok := m.attr(t, bad, "aws_iam_role.member", "lifecycle", "precondition", "condition"); ok.True() {
		t.Errorf("the precondition accepts jitbot_role_arn \"jitbot\", which is no role ARN")
	}
}

// goConst reads the string constant name from a Go file of jitbot's.
func goConst(t *testing.T, file, name string) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, id := range vs.Names {
				if id.Name != name || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					v, _ = strconv.Unquote(lit.Value)
				}
			}
		}
		return true
	})
	if v == "" {
		t.Fatalf("no string constant %s in %s", name, file)
	}
	return v
}
