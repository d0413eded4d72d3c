package rules

// Rule tests pin what a catalog's rules decide, so that a changed rule that
// lets the wrong people in, or locks the right ones out, fails in CI before
// it is deployed. `jitbot rules test FILE` runs them. A test file:
//
//	catalog: roles.yaml        # optional; relative to this file. Default: $JIT_RULES, else rules/roles.yaml
//	now: 2026-11-23T10:00:00Z  # optional; default DefaultTestTime, so results never depend on the clock
//	cases:
//	  - name: sre asks for prod-readonly during an incident
//	    now: 2026-11-23T22:00:00Z    # optional; this case's time, for rules that look at the clock
//	    user: {id: U0ALICE, name: alice, email: alice@example.com, groups: [sre, oncall],
//	           is_guest: false, is_external: false, oncall: true, oncall_schedules: [Primary]}
//	    request: {role: prod-readonly, duration: 1h, reason: "fixing INC-42 replica lag", incident: INC-42}
//	    expect: {eligible: true, auto_approve: true}
//
// Decisions:
//   - Every key is checked, as in the catalog: an unknown key, a value of the
//     wrong type, a bad duration or time, a case without a name or with a
//     name used before is a Problem at file:line, and every problem is
//     reported at once. Roles are checked against the catalog by Check,
//     since the file alone cannot know them.
//   - user: every key is optional and a missing one is its zero value, as for
//     a user the directory knows little about; the key itself is required.
//     request: role is required; a missing duration is the role's
//     default_duration, what the bot uses when a request names none.
//   - expect gives eligible, auto_approve or both; one left out is not checked.
//   - A case tests the role's own rules, exactly what Role.IsEligible and
//     Role.IsAutoApproved return. The fixed checks package grants applies on
//     top are not repeated here (they would drift from the real ones):
//     deactivated users and bots are refused; guests and Slack Connect users
//     get only allow_guests roles, within guest_max_duration, and never
//     automatically; request.duration must lie within JIT_MIN_DURATION and
//     max_duration. So a case can pin a rule's own limit even where
//     max_duration makes it redundant today. auto_approve is evaluated even
//     for an ineligible user, so that each rule is pinned on its own. A role
//     without an auto_approve rule is never auto-approved.
//   - A rule that fails at run time (a CEL error such as an index out of
//     range) fails the case with the error; it never stops the run.
//   - YAML anchors, aliases and merge keys (<<: *alice) work, so a file can
//     describe each user once.

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

// DefaultTestTime is `now` for a test file that sets none: a fixed Monday,
// 10:00 UTC, inside office hours as rules usually mean them, so that a
// file's results do not change with the time of day it runs.
var DefaultTestTime = time.Date(2026, time.January, 5, 10, 0, 0, 0, time.UTC)

// TestFile is a loaded rule test file.
type TestFile struct {
	Path string
	// Catalog is the catalog the file names, resolved against the file's
	// directory; "" when it names none and the caller picks the default.
	Catalog string
	Now     time.Time
	Cases   []TestCase
}

// TestCase is one request and what the rules must decide about it.
type TestCase struct {
	Name    string
	Line    int       // where the case starts in the file
	Now     time.Time // the file's now unless the case sets its own
	User    User
	Request Input // Duration 0 means the role's default_duration
	Expect  Expectation

	roleLine int // where request.role is, for Check
}

// Expectation is what a case expects; nil means not checked.
type Expectation struct {
	Eligible, AutoApprove *bool
}

// TestResult is the outcome of one case. Failures say, one per failed
// expectation, what the rule gave, what was expected and what the rule is.
type TestResult struct {
	Name     string
	Pass     bool
	Failures []string
}

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
	testCaseKeys = []string{"name", "now", "user", "request", "expect"}
	testUserKeys = []string{"id", "name", "email", "groups", "is_guest", "is_external", "oncall", "oncall_schedules"}
	testReqKeys  = []string{"role", "duration", "reason", "incident"}
	testExpKeys  = []string{"eligible", "auto_approve"}
)

// maxMerge bounds how deep merge keys and aliases are followed, and
// maxMerged how many mappings merge keys may pull in over the whole file,
// so that an anchor that refers to itself, or a few that fan out
// ({<<: [*a, *a, *a]} over and over), is a problem, not a hang.
const (
	maxMerge  = 16
	maxMerged = 10_000
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
	for _, k := range []string{"user", "request", "expect"} {
		if keys[k] == nil {
			l.addf(n, "%s: missing %s", what, k)
		}
	}
	return tc, tc.Name != "" && len(l.problems) == problems
}

func (l *testLoader) user(kv *ast.MappingValueNode, what string) User {
	var u User
	what += ": user"
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
		default:
			l.addf(kv.Key, "%s: unknown key %q (known: %s)", what, key, strings.Join(testExpKeys, ", "))
		}
	}
	if e.Eligible == nil && e.AutoApprove == nil && (entries != nil || isNull(kv.Value)) {
		l.addf(kv.Value, "%s: give eligible, auto_approve or both (true or false)", what)
	}
	return e
}

// anchorCollector records every anchor in file order, so that an alias can
// be resolved to the last anchor of its name before it, as YAML says.
type anchorCollector struct{ l *testLoader }

func (a anchorCollector) Visit(n ast.Node) ast.Visitor {
	if an, ok := n.(*ast.AnchorNode); ok {
		a.l.anchors = append(a.l.anchors, an)
	}
	return a
}

// resolve sees through anchors, tags and aliases to the value they stand
// for; an alias whose anchor is unknown or refers to itself resolves to nil.
func (l *testLoader) resolve(n ast.Node) ast.Node {
	for range maxMerge {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			n = l.anchor(v)
			if n == nil {
				return nil
			}
		default:
			return n
		}
	}
	return nil
}

func (l *testLoader) anchor(alias *ast.AliasNode) ast.Node {
	name := strings.TrimSpace(alias.Value.String())
	var found ast.Node
	for _, a := range l.anchors {
		if strings.TrimSpace(a.Name.String()) == name && before(a, alias) {
			found = a.Value
		}
	}
	return found
}

// before reports whether a starts before b in the file.
func before(a, b ast.Node) bool {
	ta, tb := a.GetToken(), b.GetToken()
	if ta == nil || tb == nil || ta.Position == nil || tb.Position == nil {
		return false
	}
	pa, pb := ta.Position, tb.Position
	return pa.Line < pb.Line || pa.Line == pb.Line && pa.Column < pb.Column
}

// entries returns the keys and values of mapping n, with those of merge
// keys (<<) first so that the mapping's own keys override them; nil, after
// reporting a problem, when n is not a mapping. what names n in problems.
func (l *testLoader) entries(n ast.Node, what string, depth int) []*ast.MappingValueNode {
	if depth > maxMerge || l.merged > maxMerged {
		// Reported once; merge keys are not expanded any further.
		if !l.mergeFailed {
			l.addf(n, "%s: merge keys (<<) nest too deeply, refer to themselves or pull in too much", what)
		}
		l.mergeFailed = true
		return nil
	}
	var values []*ast.MappingValueNode
	switch m := l.resolve(n).(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	case nil:
		if alias, ok := unwrap(n).(*ast.AliasNode); ok {
			l.addf(n, "%s: alias %s names no anchor (&name) before it, or one that refers to itself", what, strings.TrimSpace(alias.String()))
		}
		return nil
	case *ast.NullNode:
		return nil
	default:
		l.addf(n, "%s must be a mapping of keys to values", what)
		return nil
	}
	var merged, own []*ast.MappingValueNode
	for _, kv := range values {
		if _, ok := kv.Key.(*ast.MergeKeyNode); !ok {
			own = append(own, kv)
			continue
		}
		sources := []ast.Node{kv.Value}
		if seq, ok := l.resolve(kv.Value).(*ast.SequenceNode); ok {
			sources = seq.Values
		}
		for _, src := range sources {
			if l.mergeFailed {
				break
			}
			l.merged++
			merged = append(merged, l.entries(src, what, depth+1)...)
		}
	}
	if merged == nil && own == nil {
		return []*ast.MappingValueNode{} // an empty mapping, not a missing one
	}
	return append(merged, own...)
}

func (l *testLoader) str(kv *ast.MappingValueNode, what string) string {
	if s, ok := scalar(l.resolve(kv.Value)); ok {
		return s
	}
	l.addf(kv.Value, "%s must be a string", what)
	return ""
}

func (l *testLoader) strList(kv *ast.MappingValueNode, what string) []string {
	n := l.resolve(kv.Value)
	if isNull(n) {
		return nil
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		l.addf(kv.Value, "%s must be a list, e.g. [sre, oncall]", what)
		return nil
	}
	var out []string
	for _, v := range seq.Values {
		s, ok := l.resolve(v).(*ast.StringNode)
		if !ok {
			l.addf(v, "%s: every entry must be a string", what)
			continue
		}
		out = append(out, s.Value)
	}
	return out
}

func (l *testLoader) boolean(kv *ast.MappingValueNode, what string) bool {
	if v, ok := l.resolve(kv.Value).(*ast.BoolNode); ok {
		return v.Value
	}
	l.addf(kv.Value, "%s must be true or false, got %q", what, strings.TrimSpace(kv.Value.String()))
	return false
}

func (l *testLoader) duration(kv *ast.MappingValueNode, what string, d *time.Duration) {
	v, err := durationNode(l.resolve(kv.Value))
	if err != nil {
		l.addf(kv.Value, "%s: %q is not a duration (use e.g. 90s, 15m, 1h30m, 1d): %v", what, strings.TrimSpace(kv.Value.String()), err)
		return
	}
	*d = v
}

func (l *testLoader) timestamp(kv *ast.MappingValueNode, what string, t *time.Time) {
	raw := ""
	if v, ok := l.resolve(kv.Value).(*ast.StringNode); ok {
		raw = v.Value
	}
	v, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		l.addf(kv.Value, "%s: %q is not a time: use RFC 3339, e.g. 2026-11-23T10:00:00Z", what, strings.TrimSpace(kv.Value.String()))
		return
	}
	*t = v
}

// Check reports, as a *LoadError, every case whose role is not in c, so
// that a misspelt role is a mistake in the file rather than a failed case.
func (f *TestFile) Check(c *Catalog) error {
	var problems []Problem
	for _, tc := range f.Cases {
		if _, ok := c.Role(tc.Request.Role); !ok {
			problems = append(problems, Problem{File: f.Path, Line: tc.roleLine,
				Msg: fmt.Sprintf("case %q: unknown role %q (%s has %s)", tc.Name, tc.Request.Role, c.Path, strings.Join(c.Names(), ", "))})
		}
	}
	if problems != nil {
		return &LoadError{Problems: problems}
	}
	return nil
}

// Run evaluates every case against c, in file order. A case whose role is
// not in c, or whose rule fails at run time, is a failure, never a panic.
func (f *TestFile) Run(c *Catalog) []TestResult {
	out := make([]TestResult, 0, len(f.Cases))
	for _, tc := range f.Cases {
		out = append(out, tc.run(c))
	}
	return out
}

func (tc TestCase) run(c *Catalog) TestResult {
	res := TestResult{Name: tc.Name}
	role, ok := c.Role(tc.Request.Role)
	if !ok {
		res.Failures = []string{fmt.Sprintf("role %q is not in %s", tc.Request.Role, c.Path)}
		return res
	}
	in := tc.Request
	if in.Duration == 0 {
		in.Duration = role.DefaultDuration
	}
	if want := tc.Expect.Eligible; want != nil {
		got, err := role.IsEligible(tc.User, in, tc.Now)
		if msg := verdict("eligible", role.Eligible, role.Name, got, *want, err); msg != "" {
			res.Failures = append(res.Failures, msg)
		}
	}
	if want := tc.Expect.AutoApprove; want != nil {
		got, err := role.IsAutoApproved(tc.User, in, tc.Now)
		if msg := verdict("auto_approve", role.AutoApprove, role.Name, got, *want, err); msg != "" {
			res.Failures = append(res.Failures, msg)
		}
	}
	res.Pass = len(res.Failures) == 0
	return res
}

// verdict describes a failed expectation, or returns "" when it holds.
func verdict(key, src, role string, got, want bool, err error) string {
	if err != nil {
		return fmt.Sprintf("%s: %v", key, err)
	}
	if got == want {
		return ""
	}
	// A rule that spans lines in the file is shown on one line, as it is
	// read: the message must fit the one line of its case.
	rule := strings.Join(strings.Fields(src), " ")
	if rule == "" {
		return fmt.Sprintf("%s = %t, want %t (%s has no %s rule)", key, got, want, role, key)
	}
	return fmt.Sprintf("%s = %t, want %t (%s: '%s')", key, got, want, key, rule)
}
