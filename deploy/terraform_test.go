package deploy_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// The Terraform module cannot be planned here (terraform init downloads
// the AWS provider), so these tests evaluate its expressions with HCL
// itself, with the few Terraform functions the module uses, and check what
// it would send to AWS.

const (
	tfDir      = "iam/terraform"
	tfAccount  = "123456789012"
	tfBotARN   = "arn:aws:iam::" + tfAccount + ":role/jitbot"
	tfOIDCHost = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"
)

type tfModule struct {
	vars      map[string]cty.Value // defaults, converted to their types
	types     map[string]cty.Type
	locals    map[string]hcl.Expression
	resources map[string]*hclsyntax.Body // "type.name"
	outputs   map[string]hcl.Expression
	bodies    []*hclsyntax.Body
}

func loadModule(t *testing.T) *tfModule {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(tfDir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s: %v", tfDir, err)
	}
	m := &tfModule{vars: map[string]cty.Value{}, types: map[string]cty.Type{}, locals: map[string]hcl.Expression{},
		resources: map[string]*hclsyntax.Body{}, outputs: map[string]hcl.Expression{}}
	p := hclparse.NewParser()
	for _, name := range files {
		f, diags := p.ParseHCLFile(name)
		if diags.HasErrors() {
			t.Fatalf("%v", diags)
		}
		body := f.Body.(*hclsyntax.Body)
		m.bodies = append(m.bodies, body)
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				typ := cty.DynamicPseudoType
				if a, ok := b.Body.Attributes["type"]; ok {
					if typ, diags = typeexpr.TypeConstraint(a.Expr); diags.HasErrors() {
						t.Fatalf("variable %s: %v", b.Labels[0], diags)
					}
				}
				m.types[b.Labels[0]] = typ
				a, ok := b.Body.Attributes["default"]
				if !ok {
					t.Errorf("variable %s has no default; the module should work with the defaults of everything but who runs jitbot", b.Labels[0])
					continue
				}
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() {
					t.Fatalf("variable %s: %v", b.Labels[0], diags)
				}
				if m.vars[b.Labels[0]], err = convert.Convert(v, typ); err != nil {
					t.Fatalf("variable %s: default does not fit its type: %v", b.Labels[0], err)
				}
			case "locals":
				for name, a := range b.Body.Attributes {
					m.locals[name] = a.Expr
				}
			case "resource":
				m.resources[b.Labels[0]+"."+b.Labels[1]] = b.Body
			case "output":
				m.outputs[b.Labels[0]] = b.Body.Attributes["value"].Expr
			}
		}
	}
	return m
}

// moduleEval is the module evaluated for one set of variables.
type moduleEval struct {
	ctx  *hcl.EvalContext
	read []string // files read by file()
}

// eval evaluates every local of the module with vars over the defaults,
// in dependency order, with jitbot's role already created.
func (m *tfModule) eval(t *testing.T, vars map[string]cty.Value) *moduleEval {
	t.Helper()
	e := &moduleEval{}
	v := maps.Clone(m.vars)
	for name, val := range vars {
		typ, ok := m.types[name]
		if !ok {
			t.Fatalf("the module has no variable %s", name)
		}
		conv, err := convert.Convert(val, typ)
		if err != nil {
			t.Fatalf("variable %s: %v", name, err)
		}
		v[name] = conv
	}
	file := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := filepath.Clean(args[0].AsString())
			e.read = append(e.read, p)
			b, err := os.ReadFile(p)
			return cty.StringVal(string(b)), err
		},
	})
	e.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(v),
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(tfDir)}),
			"data": cty.ObjectVal(map[string]cty.Value{"aws_caller_identity": cty.ObjectVal(map[string]cty.Value{
				"current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(tfAccount)})})}),
			"aws_iam_role": cty.ObjectVal(map[string]cty.Value{"bot": cty.ObjectVal(map[string]cty.Value{
				"arn": cty.StringVal(tfBotARN), "id": cty.StringVal("jitbot"), "name": cty.StringVal("jitbot")})}),
		},
		// Terraform's functions of these names are go-cty's stdlib.
		Functions: map[string]function.Function{
			"file": file, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
			"merge": stdlib.MergeFunc, "replace": stdlib.ReplaceFunc, "concat": stdlib.ConcatFunc,
			"compact": stdlib.CompactFunc, "element": stdlib.ElementFunc, "split": stdlib.SplitFunc,
			"length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc,
		},
	}
	locals := map[string]cty.Value{}
	for len(locals) < len(m.locals) {
		progress := false
		for name, expr := range m.locals {
			if _, done := locals[name]; done || !ready(expr, locals) {
				continue
			}
			e.ctx.Variables["local"] = cty.ObjectVal(locals)
			val, diags := expr.Value(e.ctx)
			if diags.HasErrors() {
				t.Fatalf("local.%s: %v", name, diags)
			}
			locals[name] = val
			progress = true
		}
		if !progress {
			t.Fatalf("locals %v refer to missing locals or to each other", slices.Sorted(maps.Keys(m.locals)))
		}
	}
	e.ctx.Variables["local"] = cty.ObjectVal(locals)
	return e
}

func ready(expr hcl.Expression, locals map[string]cty.Value) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		if attr, ok := tr[1].(hcl.TraverseAttr); ok {
			if _, done := locals[attr.Name]; !done {
				return false
			}
		}
	}
	return true
}

// attr evaluates an attribute of a resource (nested blocks by name, as in
// "lifecycle", "precondition", "condition").
func (m *tfModule) attr(t *testing.T, e *moduleEval, resource string, path ...string) cty.Value {
	t.Helper()
	body, ok := m.resources[resource]
	if !ok {
		t.Fatalf("no resource %s in %s", resource, tfDir)
	}
	for _, name := range path[:len(path)-1] {
		i := slices.IndexFunc(body.Blocks, func(b *hclsyntax.Block) bool { return b.Type == name })
		if i < 0 {
			t.Fatalf("%s has no %s block", resource, name)
		}
		body = body.Blocks[i].Body
	}
	a, ok := body.Attributes[path[len(path)-1]]
	if !ok {
		t.Fatalf("%s has no attribute %s", resource, strings.Join(path, "."))
	}
	v, diags := a.Expr.Value(e.ctx)
	if diags.HasErrors() {
		t.Fatalf("%s.%s: %v", resource, strings.Join(path, "."), diags)
	}
	return v
}

// jsonOf decodes a policy document, from a file or from a JSON string
// Terraform would send, into plain values for comparison.
func jsonOf(t *testing.T, text string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("not a JSON document: %v\n%s", err, text)
	}
	return v
}

func fileJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return jsonOf(t, string(b))
}

func pretty(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// TestTerraformAppliesTheTestedPolicies evaluates the module and checks
// that the policy it puts on jitbot's role is deploy/iam/iam-policy.json
// (the one checked against the code) with only the account and the audit
// bucket filled in, minus the statements of features that are off, and
// that its example target role trusts jitbot through
// deploy/iam/trust-policy.json.
func TestTerraformAppliesTheTestedPolicies(t *testing.T) {
	m := loadModule(t)
	tests := []struct {
		name     string
		vars     map[string]cty.Value
		optional bool // usage lookups, audit export and OU listing on
		bucket   string
	}{
		{name: "defaults"},
		{name: "usage and export on", optional: true, bucket: "evidence/team-a/audit", vars: map[string]cty.Value{
			"usage_lookup": cty.True, "audit_s3_bucket": cty.StringVal("evidence"), "audit_s3_prefix": cty.StringVal("team-a/audit"),
			"organizational_units": cty.True}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := m.eval(t, tt.vars)
			got := jsonOf(t, m.attr(t, e, "aws_iam_role_policy.bot", "policy").AsString())

			want := fileJSON(t, botPolicyFile)
			var kept []any
			for _, s := range want["Statement"].([]any) {
				st := s.(map[string]any)
				actions := st["Action"].([]any)
				if !tt.optional && (slices.Contains(actions, any("cloudtrail:LookupEvents")) || slices.Contains(actions, any("s3:PutObject")) ||
					slices.Contains(actions, any("organizations:ListAccountsForParent"))) {
					continue
				}
				res := st["Resource"].(string)
				if tt.bucket != "" {
					res = strings.Replace(res, "arn:aws:s3:::jit-audit-evidence/jitbot/audit/", "arn:aws:s3:::"+tt.bucket+"/", 1)
				}
				st["Resource"] = res
				kept = append(kept, st)
			}
			want["Statement"] = kept
			// The account goes into every IAM ARN: Resource and the
			// permissions boundary conditions.
			want = jsonOf(t, strings.ReplaceAll(pretty(want), "arn:aws:iam::*:", "arn:aws:iam::"+tfAccount+":"))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("policy on jitbot's role:\n%s\nwant %s with the account and bucket filled in:\n%s", pretty(got), botPolicyFile, pretty(want))
			}
			if !slices.Contains(e.read, filepath.Clean(botPolicyFile)) || !slices.Contains(e.read, filepath.Clean(trustPolicyFile)) {
				t.Errorf("the module read %v; want %s and %s", e.read, botPolicyFile, trustPolicyFile)
			}

			trust := jsonOf(t, m.attr(t, e, "aws_iam_role.example", "assume_role_policy").AsString())
			wantTrust := fileJSON(t, trustPolicyFile)
			for _, s := range wantTrust["Statement"].([]any) {
				s.(map[string]any)["Principal"] = map[string]any{"AWS": tfBotARN}
			}
			if !reflect.DeepEqual(trust, wantTrust) {
				t.Errorf("trust policy of jit-example-readonly:\n%s\nwant %s naming jitbot's role:\n%s", pretty(trust), trustPolicyFile, pretty(wantTrust))
			}
		})
	}
}

// TestTerraformExamplesAndWiring checks the module's resources: the example
// role and group carry jit- names (so jitbot's policy reaches them), can be
// left out, the inline policy sits on jitbot's role, and every reference
// names a declared variable, local or resource (what terraform validate
// would say, without the provider).
func TestTerraformExamplesAndWiring(t *testing.T) {
	m := loadModule(t)
	e := m.eval(t, nil)
	for resource, want := range map[string]string{
		"aws_iam_role.bot":      "jitbot",
		"aws_iam_role.example":  "jit-example-readonly",
		"aws_iam_group.example": "jit-example-admins",
	} {
		if got := m.attr(t, e, resource, "name").AsString(); got != want {
			t.Errorf("%s name %q; want %q", resource, got, want)
		}
	}
	for _, r := range []string{"aws_iam_role.example", "aws_iam_role_policy_attachment.example", "aws_iam_group.example", "aws_iam_group_policy_attachment.example"} {
		if n := m.attr(t, e, r, "count"); !n.Equals(cty.NumberIntVal(1)).True() {
			t.Errorf("%s count %#v with create_examples on", r, n)
		}
		off := m.eval(t, map[string]cty.Value{"create_examples": cty.False})
		if n := m.attr(t, off, r, "count"); !n.Equals(cty.NumberIntVal(0)).True() {
			t.Errorf("%s count %#v with create_examples off", r, n)
		}
	}
	if got := m.attr(t, e, "aws_iam_role_policy.bot", "role").AsString(); got != "jitbot" {
		t.Errorf("the policy is put on role %q; want jitbot's", got)
	}

	declared := map[string]bool{"var": true, "local": true, "path": true, "data": true, "count": true}
	for _, body := range m.bodies {
		for _, b := range body.Blocks {
			if b.Type == "resource" || b.Type == "data" {
				declared[b.Labels[0]] = true
			}
		}
	}
	for _, body := range m.bodies {
		for _, tr := range traversals(body) {
			root := tr.RootName()
			var attr string
			if len(tr) > 1 {
				if a, ok := tr[1].(hcl.TraverseAttr); ok {
					attr = a.Name
				}
			}
			switch {
			case !declared[root]:
				t.Errorf("%s: %s is not declared", tr.SourceRange(), root)
			case root == "var" && m.types[attr] == cty.NilType:
				t.Errorf("%s: variable %s is not declared", tr.SourceRange(), attr)
			case root == "local" && m.locals[attr] == nil:
				t.Errorf("%s: local %s is not defined", tr.SourceRange(), attr)
			case strings.HasPrefix(root, "aws_") && m.resources[root+"."+attr] == nil:
				t.Errorf("%s: resource %s.%s does not exist", tr.SourceRange(), root, attr)
			}
		}
	}
}

// traversals lists every variable reference in a body, nested blocks
// included (but not the type constraints of variables, which are not
// references, nor the iteration variables of for expressions).
func traversals(body *hclsyntax.Body) []hcl.Traversal {
	var out []hcl.Traversal
	for _, a := range body.Attributes {
		out = append(out, a.Expr.Variables()...)
	}
	for _, b := range body.Blocks {
		inner := traversals(b.Body)
		if b.Type == "variable" {
			inner = slices.DeleteFunc(inner, func(tr hcl.Traversal) bool {
				return b.Body.Attributes["type"] != nil && b.Body.Attributes["type"].Expr.Range().Overlaps(tr.SourceRange())
			})
		}
		out = append(out, inner...)
	}
	return out
}

// TestTerraformWhoRunsAsJitbot checks the trust policy of jitbot's own
// role for each way to run it: IRSA (the service account's OIDC subject),
// EKS Pod Identity (with its association), other principals, and none,
// which the module refuses.
func TestTerraformWhoRunsAsJitbot(t *testing.T) {
	m := loadModule(t)
	trust := func(e *moduleEval) []any {
		return jsonOf(t, m.attr(t, e, "aws_iam_role.bot", "assume_role_policy").AsString())["Statement"].([]any)
	}

	irsa := m.eval(t, map[string]cty.Value{
		"oidc_provider_arn": cty.StringVal("arn:aws:iam::" + tfAccount + ":oidc-provider/" + tfOIDCHost),
		"namespace":         cty.StringVal("security"), "service_account": cty.StringVal("jit"),
	})
	want := []any{map[string]any{
		"Sid": "EksServiceAccount", "Effect": "Allow",
		"Principal": map[string]any{"Federated": "arn:aws:iam::" + tfAccount + ":oidc-provider/" + tfOIDCHost},
		"Action":    "sts:AssumeRoleWithWebIdentity",
		"Condition": map[string]any{"StringEquals": map[string]any{
			tfOIDCHost + ":sub": "system:serviceaccount:security:jit",
			tfOIDCHost + ":aud": "sts.amazonaws.com",
		}},
	}}
	if got := trust(irsa); !reflect.DeepEqual(got, want) {
		t.Errorf("IRSA trust:\n%s\nwant\n%s", pretty(got), pretty(want))
	}
	ann, diags := m.outputs["service_account_annotations"].Value(irsa.ctx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if b, _ := ctyjson.Marshal(ann, ann.Type()); string(b) != `{"eks.amazonaws.com/role-arn":"`+tfBotARN+`"}` {
		t.Errorf("output service_account_annotations %s; want the chart's IRSA annotation", b)
	}

	pod := m.eval(t, map[string]cty.Value{"pod_identity_cluster_name": cty.StringVal("prod")})
	want = []any{map[string]any{
		"Sid": "EksPodIdentity", "Effect": "Allow",
		"Principal": map[string]any{"Service": "pods.eks.amazonaws.com"},
		"Action":    []any{"sts:AssumeRole", "sts:TagSession"},
	}}
	if got := trust(pod); !reflect.DeepEqual(got, want) {
		t.Errorf("Pod Identity trust:\n%s\nwant\n%s", pretty(got), pretty(want))
	}
	if n := m.attr(t, pod, "aws_eks_pod_identity_association.bot", "count"); !n.Equals(cty.NumberIntVal(1)).True() {
		t.Errorf("no Pod Identity association for cluster prod")
	}
	if n := m.attr(t, irsa, "aws_eks_pod_identity_association.bot", "count"); !n.Equals(cty.NumberIntVal(0)).True() {
		t.Errorf("a Pod Identity association without a cluster")
	}

	root := "arn:aws:iam::" + tfAccount + ":root"
	other := m.eval(t, map[string]cty.Value{"trusted_principal_arns": cty.ListVal([]cty.Value{cty.StringVal(root)})})
	want = []any{map[string]any{
		"Sid": "TrustedPrincipals", "Effect": "Allow",
		"Principal": map[string]any{"AWS": []any{root}},
		"Action":    "sts:AssumeRole",
	}}
	if got := trust(other); !reflect.DeepEqual(got, want) {
		t.Errorf("principal trust:\n%s\nwant\n%s", pretty(got), pretty(want))
	}

	none := m.eval(t, nil)
	if ok := m.attr(t, none, "aws_iam_role.bot", "lifecycle", "precondition", "condition"); ok.True() {
		t.Errorf("with no way to run as jitbot, the role's precondition holds; want the module to refuse")
	}
	if ok := m.attr(t, irsa, "aws_iam_role.bot", "lifecycle", "precondition", "condition"); !ok.True() {
		t.Errorf("with IRSA the role's precondition fails")
	}
}
