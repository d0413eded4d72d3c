package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// LoadTests reads and parses the rule test file at path. Problems come back
// as a *LoadError, like the catalog's.
func LoadTests(path string) (*TestFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read the rule test file: %v", errors.Unwrap(err))}}}
	}
	return ParseTests(path, data)
}

var (
	testFileKeys = []string{"catalog", "now", "cases"}
	testCaseKeys = []string{"name", "now", "user", "workload", "approver", "grantee", "request", "expect"}
	testUserKeys = []string{"id", "name", "email", "groups", "is_guest", "is_external", "oncall", "oncall_schedules"}
	testReqKeys  = []string{"role", "duration", "reason", "incident", "start"}
	testExpKeys  = []string{"eligible", "auto_approve", "may_approve", "may_request_for"}
)

// testLoader is the parse state of one test file.
type testLoader struct {
	file     string
	problems []Problem
	anchors  []*ast.AnchorNode // in file order
	merged   int               // mappings pulled in by merge keys so far
	// mergeFailed is set once merge keys went too deep or too far.
	mergeFailed bool
}

func (l *testLoader) addf(n ast.Node, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line(n), Msg: fmt.Sprintf(format, args...)})
}

// ParseTests parses a rule test file. name is used in problem messages and
// to resolve the catalog path. Every problem is reported, not just the first.
func ParseTests(name string, data []byte) (*TestFile, error) {
	l := &testLoader{file: name}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		cl := &loader{file: name}
		cl.syntaxError(err)
		return nil, &LoadError{Problems: cl.problems}
	}
	tf := &TestFile{Path: name, Now: DefaultTestTime}
	var root []*ast.MappingValueNode
	var rootNode ast.Node
	if len(f.Docs) > 0 && f.Docs[0].Body != nil {
		rootNode = f.Docs[0].Body
		ast.Walk(anchorCollector{l}, rootNode)
		root = l.entries(rootNode, "the test file", 0)
		if len(f.Docs) > 1 {
			l.addf(f.Docs[1].Body, "the test file must be a single YAML document")
		}
	}
	if root == nil && len(l.problems) == 0 {
		l.problems = append(l.problems, Problem{File: name, Line: 1, Msg: "the test file is empty: it needs a cases list"})
		return nil, &LoadError{Problems: l.problems}
	}
	var casesNode *ast.MappingValueNode
	for _, kv := range root {
		switch key := keyOf(kv); key {
		case "catalog":
			if isNull(kv.Value) {
				l.addf(kv.Key, "catalog is empty: give the path of the role catalog, or leave the key out")
			} else if p := l.str(kv, "catalog"); p != "" && !filepath.IsAbs(p) {
				tf.Catalog = filepath.Join(filepath.Dir(name), p)
			} else {
				tf.Catalog = p
			}
		case "now":
			l.timestamp(kv, "now", &tf.Now)
		case "cases":
			casesNode = kv
		default:
			l.addf(kv.Key, "unknown key %q (known: %s)", key, strings.Join(testFileKeys, ", "))
		}
	}
	if casesNode == nil {
		if rootNode != nil && root != nil {
			l.addf(rootNode, "missing cases: the test file must list at least one case")
		}
	} else {
		seq, ok := l.resolve(casesNode.Value).(*ast.SequenceNode)
		switch {
		case !ok && !isNull(casesNode.Value):
			l.addf(casesNode.Value, "cases must be a list of cases, each starting with - name:")
		case !ok || len(seq.Values) == 0:
			l.addf(casesNode.Key, "cases is empty: list at least one case")
		default:
			seen := map[string]int{}
			for i, n := range seq.Values {
				tc, ok := l.testCase(n, i+1, tf.Now)
				if !ok {
					continue
				}
				if first, dup := seen[tc.Name]; dup {
					l.addf(n, "case %q: the name is used before, at line %d; give each case its own name", tc.Name, first)
				} else {
					seen[tc.Name] = tc.Line
				}
				tf.Cases = append(tf.Cases, tc)
			}
		}
	}
	if len(l.problems) > 0 {
		slices.SortStableFunc(l.problems, func(a, b Problem) int { return a.Line - b.Line })
		return nil, &LoadError{Problems: l.problems}
	}
	return tf, nil
}

// testCase parses the i-th case (from 1); ok is false when it is too
// broken to run.
func (l *testLoader) testCase(n ast.Node, i int, now time.Time) (tc TestCase, ok bool) {
	entries := l.entries(n, fmt.Sprintf("case %d", i), 0)
	if entries == nil {
		if isNull(l.resolve(n)) {
			l.addf(n, "case %d is empty: it needs name, user, request and expect", i)
		}
		return tc, false
	}
	tc = TestCase{Line: line(n), Now: now}
	// The name comes first so that every other problem can say which case
	// it is in, wherever the name is written.
	what := fmt.Sprintf("case %d", i)
	keys := map[string]*ast.MappingValueNode{}
	for _, kv := range entries {
		key := keyOf(kv)
		keys[key] = kv
		if key == "name" {
			if tc.Name = strings.TrimSpace(l.str(kv, what+": name")); tc.Name != "" {
				what = fmt.Sprintf("case %q", tc.Name)
			}
		}
	}
	problems := len(l.problems)
	for _, kv := range entries {
		switch key := keyOf(kv); key {
		case "name":
		case "now":
			l.timestamp(kv, what+": now", &tc.Now)
		case "user":
			tc.User = l.user(kv, what)
		case "workload":
			w := l.workload(kv, what)
			tc.Workload, tc.workloadLine = &w, line(kv.Key)
		case "approver":
			tc.Approver = l.user(kv, what)
		case "grantee":
			tc.Grantee = l.user(kv, what)
		case "request":
			tc.Request, tc.roleLine = l.request(kv, what)
		case "expect":
			tc.Expect = l.expect(kv, what)
		default:
			l.addf(kv.Key, "%s: unknown key %q (known: %s)", what, key, strings.Join(testCaseKeys, ", "))
		}
	}
	if tc.Name == "" {
		l.addf(n, "%s: missing name: say what the case shows, e.g. \"sre asks for prod-admin\"", what)
	}
	for _, k := range []string{"request", "expect"} {
		if keys[k] == nil {
			l.addf(n, "%s: missing %s", what, k)
		}
	}
	switch {
	case keys["user"] == nil && keys["workload"] == nil:
		l.addf(n, "%s: missing user (or workload, for a CI job or agent)", what)
	case keys["user"] != nil && keys["workload"] != nil:
		l.addf(keys["workload"].Key, "%s: give user or workload, not both: a request comes from a person or a workload", what)
	}
	if tc.Expect.MayApprove != nil && keys["approver"] == nil {
		l.addf(n, "%s: expect: may_approve needs an approver", what)
	}
	l.checkGrantee(n, what, tc, keys)
	return tc, tc.Name != "" && len(l.problems) == problems
}

// user reads a person: the case's user, approver or grantee.
func (l *testLoader) user(kv *ast.MappingValueNode, what string) User {
	var u User
	what += ": " + keyOf(kv)
	for _, kv := range l.entries(kv.Value, what, 0) {
		switch key := keyOf(kv); key {
		case "id":
			u.ID = l.str(kv, what+": id")
		case "name":
			u.Name = l.str(kv, what+": name")
		case "email":
			u.Email = l.str(kv, what+": email")
		case "groups":
			u.Groups = l.strList(kv, what+": groups")
		case "is_guest":
			u.IsGuest = l.boolean(kv, what+": is_guest")
		case "is_external":
			u.IsExternal = l.boolean(kv, what+": is_external")
		case "oncall":
			u.OnCall = l.boolean(kv, what+": oncall")
		case "oncall_schedules":
			u.OnCallSchedules = l.strList(kv, what+": oncall_schedules")
		default:
			l.addf(kv.Key, "%s: unknown key %q (known: %s)", what, key, strings.Join(testUserKeys, ", "))
		}
	}
	return u
}

func (l *testLoader) request(kv *ast.MappingValueNode, what string) (Input, int) {
	var in Input
	roleLine := 0
	what += ": request"
	entries := l.entries(kv.Value, what, 0)
	for _, kv := range entries {
		switch key := keyOf(kv); key {
		case "role":
			in.Role, roleLine = l.str(kv, what+": role"), line(kv.Value)
		case "duration":
			l.duration(kv, what+": duration", &in.Duration)
		case "reason":
			in.Reason = l.str(kv, what+": reason")
		case "incident":
			in.Incident = l.str(kv, what+": incident")
		case "start":
			l.timestamp(kv, what+": start", &in.Start)
		default:
			l.addf(kv.Key, "%s: unknown key %q (known: %s)", what, key, strings.Join(testReqKeys, ", "))
		}
	}
	switch {
	case isNull(kv.Value):
		l.addf(kv.Key, "%s is empty: it needs at least a role", what)
	case in.Role == "" && entries != nil:
		l.addf(kv.Value, "%s: missing role: name the role that is requested", what)
	}
	return in, roleLine
}

func (l *testLoader) expect(kv *ast.MappingValueNode, what string) Expectation {
	var e Expectation
	what += ": expect"
	entries := l.entries(kv.Value, what, 0)
	for _, kv := range entries {
		switch key := keyOf(kv); key {
		case "eligible":
			v := l.boolean(kv, what+": eligible")
			e.Eligible = &v
		case "auto_approve":
			v := l.boolean(kv, what+": auto_approve")
			e.AutoApprove = &v
		case "may_approve":
			v := l.boolean(kv, what+": may_approve")
			e.MayApprove = &v
		case "may_request_for":
			v := l.boolean(kv, what+": may_request_for")
			e.MayRequestFor = &v
		default:
			l.addf(kv.Key, "%s: unknown key %q (known: %s)", what, key, strings.Join(testExpKeys, ", "))
		}
	}
	if e == (Expectation{}) && (entries != nil || isNull(kv.Value)) {
		l.addf(kv.Value, "%s: give eligible, auto_approve, may_approve, may_request_for or several (true or false)", what)
	}
	return e
}

// checkGrantee checks what expect: may_request_for needs: a grantee, and
// a user to file the request, which a workload cannot be.
func (l *testLoader) checkGrantee(n ast.Node, what string, tc TestCase, keys map[string]*ast.MappingValueNode) {
	if tc.Expect.MayRequestFor == nil {
		return
	}
	if keys["grantee"] == nil {
		l.addf(n, "%s: expect: may_request_for needs a grantee (who the user files the request for)", what)
	}
	if keys["workload"] != nil {
		l.addf(keys["workload"].Key, "%s: expect: may_request_for is about a person filing for another, not a workload", what)
	}
}
