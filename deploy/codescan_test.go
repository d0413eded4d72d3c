package deploy_test

// The scan of jitbot's code for the AWS calls it makes, which the policy
// tests compare with the policies of deploy/iam.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// apiCall is an AWS API operation the code calls, and where.
type apiCall struct {
	action string // IAM name, e.g. iam:AddUserToGroup
	pkg    string // package path inside the module
	fn     string // enclosing function
	pos    string
}

// iamName maps an SDK operation to the IAM action that authorises it,
// where the two differ.
var iamName = map[string]string{
	"s3:ListObjectsV2": "s3:ListBucket",
}

// credentialProviders are SDK functions outside the service clients that
// call AWS with jitbot's credentials, by import path and name: the
// provider of jitbot-member's credentials assumes it.
var credentialProviders = map[string]string{
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds.NewAssumeRoleProvider": "sts:AssumeRole",
}

// needsNoPermission are the actions AWS allows every principal whatever
// its policies say: a policy naming them would mislead.
var needsNoPermission = map[string]string{
	"sts:GetCallerIdentity": "how the aws_sts backend learns jitbot's own account",
}

// sdkClients are the AWS services jitbot's code may import, by the last
// element of their import path.
var sdkClients = map[string]reflect.Type{
	"cloudtrail":    reflect.TypeFor[*cloudtrail.Client](),
	"iam":           reflect.TypeFor[*iam.Client](),
	"identitystore": reflect.TypeFor[*identitystore.Client](),
	"organizations": reflect.TypeFor[*organizations.Client](),
	"s3":            reflect.TypeFor[*s3.Client](),
	"ssoadmin":      reflect.TypeFor[*ssoadmin.Client](),
	"sts":           reflect.TypeFor[*sts.Client](),
}

// iamPrefix is the IAM service prefix of an SDK service, where the two
// differ: Identity Center's admin API authorises as sso:.
var iamPrefix = map[string]string{
	"ssoadmin": "sso",
}

// operations lists a client's API operations: its methods that take a
// *<Operation>Input after the context.
func operations(client reflect.Type) map[string]bool {
	ops := map[string]bool{}
	for i := range client.NumMethod() {
		m := client.Method(i)
		if m.Type.NumIn() >= 3 && m.Type.In(2).Kind() == reflect.Pointer && m.Type.In(2).Elem().Name() == m.Name+"Input" {
			ops[m.Name] = true
		}
	}
	return ops
}

// awsCalls finds every AWS operation that the code of `jitbot` (cmd/jitbot
// and the module packages it imports, tests excluded) calls: in a package
// that imports an AWS service, a call of a method named like one of the
// service's operations, or of its New<Operation>Paginator. (A name shared
// with one of jitbot's own methods would count too: the scan errs towards
// asking for a permission, never towards missing one.) AssumeRole with
// session tags and a source identity also needs sts:TagSession and
// sts:SetSourceIdentity.
func awsCalls(t *testing.T) []apiCall {
	t.Helper()
	var calls []apiCall
	ops := map[string]map[string]bool{}
	for svc, client := range sdkClients {
		ops[svc] = operations(client)
	}
	fset := token.NewFileSet()
	seen := map[string]bool{}
	queue := []string{"cmd/jitbot"}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if seen[pkg] {
			continue
		}
		seen[pkg] = true
		files := goFiles(t, fset, filepath.Join("..", pkg))
		services := map[string]string{} // local name → service, over the package
		imported := map[string]string{} // local name → import path, over the package
		for _, f := range files {
			name := fset.File(f.Pos()).Name()
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if imp.Name != nil {
					imported[imp.Name.Name] = p
				} else {
					imported[p[strings.LastIndexByte(p, '/')+1:]] = p
				}
				if rest, ok := strings.CutPrefix(p, module); ok {
					queue = append(queue, rest)
				}
				svc, ok := strings.CutPrefix(p, sdkService)
				if !ok || strings.Contains(svc, "/") {
					continue
				}
				if sdkClients[svc] == nil {
					t.Fatalf("%s imports the AWS service %s; add its client to sdkClients", name, svc)
				}
				local := svc
				if imp.Name != nil {
					local = imp.Name.Name
				}
				services[local] = svc
			}
		}
		if len(services) == 0 {
			continue
		}
		first := len(calls) // this package's calls start here
		sendsTags, sendsSourceIdentity := false, false
		for _, f := range files {
			for _, decl := range f.Decls {
				fn := "(package level)"
				if fd, ok := decl.(*ast.FuncDecl); ok {
					fn = fd.Name.Name
				}
				ast.Inspect(decl, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.KeyValueExpr:
						if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Tags" {
							sendsTags = true
						}
					case *ast.SelectorExpr:
						if n.Sel.Name == "SourceIdentity" {
							sendsSourceIdentity = true
						}
					case *ast.CallExpr:
						sel, ok := n.Fun.(*ast.SelectorExpr)
						if !ok {
							return true
						}
						if x, ok := sel.X.(*ast.Ident); ok {
							if action, ok := credentialProviders[imported[x.Name]+"."+sel.Sel.Name]; ok {
								calls = append(calls, apiCall{action: action, pkg: pkg, fn: fn, pos: fset.Position(n.Pos()).String()})
							}
						}
						for local, svc := range services {
							op := sel.Sel.Name
							if x, ok := sel.X.(*ast.Ident); ok && x.Name == local {
								// svc.NewXxxPaginator(client, …) calls Xxx.
								op = strings.TrimSuffix(strings.TrimPrefix(op, "New"), "Paginator")
							}
							if !ops[svc][op] {
								continue
							}
							prefix := svc
							if p, ok := iamPrefix[svc]; ok {
								prefix = p
							}
							action := prefix + ":" + op
							if v, ok := iamName[action]; ok {
								action = v
							}
							calls = append(calls, apiCall{action: action, pkg: pkg, fn: fn, pos: fset.Position(n.Pos()).String()})
						}
					}
					return true
				})
			}
		}
		for _, c := range slices.Clone(calls[first:]) {
			if c.action == "sts:AssumeRole" {
				if sendsTags {
					calls = append(calls, apiCall{action: "sts:TagSession", pkg: pkg, fn: c.fn, pos: c.pos})
				}
				if sendsSourceIdentity {
					calls = append(calls, apiCall{action: "sts:SetSourceIdentity", pkg: pkg, fn: c.fn, pos: c.pos})
				}
			}
		}
	}
	return calls
}

// goFiles parses the Go files of the package in dir, tests left out.
func goFiles(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("package %s: no Go files (%v)", dir, err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}
