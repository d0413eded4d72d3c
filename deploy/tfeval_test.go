package deploy_test

// An evaluator of the Terraform modules of deploy/iam: their variables,
// locals and resource attributes, with HCL and the few Terraform functions
// they use, since terraform plan needs the AWS provider.

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
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
)

// tfModule is the declarations of one module, as the evaluator reads them.
type tfModule struct {
	dir       string
	vars      map[string]cty.Value // defaults, converted to their types
	types     map[string]cty.Type
	locals    map[string]hcl.Expression
	resources map[string]*hclsyntax.Body // "type.name"
	outputs   map[string]hcl.Expression
	bodies    []*hclsyntax.Body
}

func loadModule(t *testing.T) *tfModule { return loadModuleIn(t, tfDir) }

// loadModuleIn loads the module in dir; the variables named in required
// are the ones it may leave without a default.
func loadModuleIn(t *testing.T, dir string, required ...string) *tfModule {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s: %v", dir, err)
	}
	m := &tfModule{dir: dir, vars: map[string]cty.Value{}, types: map[string]cty.Type{}, locals: map[string]hcl.Expression{},
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
				if !ok && slices.Contains(required, b.Labels[0]) {
					continue
				}
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
			"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(m.dir)}),
			"data": cty.ObjectVal(map[string]cty.Value{"aws_caller_identity": cty.ObjectVal(map[string]cty.Value{
				"current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(tfAccount)})})}),
			"aws_iam_role": cty.ObjectVal(map[string]cty.Value{"bot": cty.ObjectVal(map[string]cty.Value{
				"arn": cty.StringVal(tfBotARN), "id": cty.StringVal("jitbot"), "name": cty.StringVal("jitbot")}),
				"member": cty.ObjectVal(map[string]cty.Value{"arn": cty.StringVal("arn:aws:iam::" + tfAccount + ":role/jitbot-member"),
					"id": cty.StringVal("jitbot-member"), "name": cty.StringVal("jitbot-member")})}),
		},
		// Terraform's functions of these names are go-cty's stdlib.
		Functions: map[string]function.Function{
			"file": file, "jsondecode": stdlib.JSONDecodeFunc, "jsonencode": stdlib.JSONEncodeFunc,
			"merge": stdlib.MergeFunc, "replace": stdlib.ReplaceFunc, "concat": stdlib.ConcatFunc,
			"compact": stdlib.CompactFunc, "element": stdlib.ElementFunc, "split": stdlib.SplitFunc,
			"length": stdlib.LengthFunc, "lookup": stdlib.LookupFunc, "regexall": stdlib.RegexAllFunc,
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
		t.Fatalf("no resource %s in %s", resource, m.dir)
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

// checkReferences fails the test for every reference that names no
// declared variable, local or resource: what terraform validate would
// say, without the provider.
func (m *tfModule) checkReferences(t *testing.T) {
	t.Helper()
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
