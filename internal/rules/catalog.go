package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/google/cel-go/cel"
)

// Built-in defaults, used when the catalog's defaults section leaves them out.
const (
	DefaultMaxDuration     = 4 * time.Hour
	DefaultDefaultDuration = time.Hour
	DefaultRequestTTL      = 30 * time.Minute
)

// Catalog is a loaded, validated role catalog. It is not changed after
// Parse.
type Catalog struct {
	Path     string
	SHA256   string // hex SHA-256 of the file, recorded as evidence of the rules in force
	Defaults Defaults
	Roles    map[string]*Role

	names []string // sorted once by Parse: /jit roles lists them at every call
}

// Defaults apply to every role that does not set its own.
type Defaults struct {
	MaxDuration, DefaultDuration, RequestTTL time.Duration
}

// Role is one requestable role.
type Role struct {
	Name, Description string
	Backend           string // "aws_sts" or "aws_iam_group"
	RoleARN           string // aws_sts
	SessionPolicy     string // aws_sts, optional JSON policy
	Group             string // aws_iam_group
	Reconcile         string // "off", "report" or "enforce"; aws_iam_group only

	MaxDuration, DefaultDuration, RequestTTL time.Duration

	Approvers         []string // Slack user IDs and "@handle" user groups
	ApprovalsRequired int

	Eligible, AutoApprove, IAMUser string // CEL source ("" when absent)

	IncidentPattern *regexp.Regexp // optional: what an incident reference must look like
	BreakglassLimit int            // optional: auto-approvals per user per 24h; 0 means no limit
	ReviewWithin    time.Duration  // when an unreviewed break-glass grant is escalated; default 24h

	// AllowGuests opens the role to guests and Slack Connect users
	// (third parties), who then need at least two approvers and get at
	// most GuestMaxDuration (default 1h).
	AllowGuests      bool
	GuestMaxDuration time.Duration

	eligible, autoApprove, iamUser *program
}

// Role returns the role with the given name.
func (c *Catalog) Role(name string) (*Role, bool) {
	r, ok := c.Roles[name]
	return r, ok
}

// All yields the roles in name order.
func (c *Catalog) All() iter.Seq[*Role] {
	names := c.names
	if names == nil {
		names = sortedNames(c.Roles)
	}
	return func(yield func(*Role) bool) {
		for _, n := range names {
			if !yield(c.Roles[n]) {
				return
			}
		}
	}
}

// Matching returns the roles whose name or description contains every
// word of query, ignoring case, in their order; roles itself for a blank
// query. /jit roles <words…> finds roles in a large catalog with it.
func Matching(roles []*Role, query string) []*Role {
	words := strings.Fields(strings.ToLower(query))
	if len(words) == 0 {
		return roles
	}
	var out []*Role
	for _, r := range roles {
		text := strings.ToLower(r.Name + "\n" + r.Description)
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(text, w) }) {
			out = append(out, r)
		}
	}
	return out
}

// Names returns the role names, sorted.
func (c *Catalog) Names() []string {
	if c.names != nil {
		return slices.Clone(c.names)
	}
	return sortedNames(c.Roles)
}

func sortedNames(roles map[string]*Role) []string {
	names := make([]string, 0, len(roles))
	for n := range roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Users returns the approvers that are Slack user IDs.
func (r *Role) Users() []string {
	var out []string
	for _, a := range r.Approvers {
		if !strings.HasPrefix(a, "@") {
			out = append(out, a)
		}
	}
	return out
}

// Groups returns the approving user-group handles, without the @.
func (r *Role) Groups() []string {
	var out []string
	for _, a := range r.Approvers {
		if h, ok := strings.CutPrefix(a, "@"); ok {
			out = append(out, h)
		}
	}
	return out
}

// IsEligible evaluates the role's eligible rule.
func (r *Role) IsEligible(u User, in Input, now time.Time) (bool, error) {
	if r.eligible == nil {
		return false, fmt.Errorf("role %s has no eligible rule", r.Name)
	}
	return r.eligible.evalBool(u, in, now)
}

// IsAutoApproved evaluates the role's auto_approve rule; false when the
// role has none.
func (r *Role) IsAutoApproved(u User, in Input, now time.Time) (bool, error) {
	if r.autoApprove == nil {
		return false, nil
	}
	return r.autoApprove.evalBool(u, in, now)
}

// IAMUserName evaluates the role's iam_user rule.
func (r *Role) IAMUserName(u User, in Input, now time.Time) (string, error) {
	if r.iamUser == nil {
		return "", fmt.Errorf("role %s has no iam_user rule", r.Name)
	}
	return r.iamUser.evalString(u, in, now)
}

// Problem is one thing wrong with a catalog, at a line of its file.
type Problem struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// LoadError lists every problem found in a catalog, in file order.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and parses the catalog at path.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read the role catalog: %v", errors.Unwrap(err))}}}
	}
	return Parse(path, data)
}

var (
	roleNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	roleARNRE   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/([\w+=,.@/-]+/)?[\w+=,.@-]{1,64}$`)
	groupNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	userIDRE    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	handleRE    = regexp.MustCompile(`^@[a-z0-9][a-z0-9._-]*$`)
)

var roleKeys = []string{"description", "backend", "role_arn", "session_policy", "group", "iam_user", "reconcile",
	"max_duration", "default_duration", "request_ttl", "approvers", "approvals_required", "eligible", "auto_approve",
	"incident_pattern", "breakglass_limit", "review_within", "allow_guests", "guest_max_duration"}

// parse state: the problems found so far, the CEL environment and what
// it compiled.
type loader struct {
	file     string
	env      *cel.Env
	problems []Problem
	// compiled holds each distinct rule once: a large catalog repeats a
	// few rules over many roles, and compiling is most of a load's work.
	// Programs hold no state between evaluations, so roles share them.
	compiled map[compileKey]compiled
}

type compileKey struct {
	src  string
	want *cel.Type
}

type compiled struct {
	p   *program
	err error
}

func (l *loader) addf(n ast.Node, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line(n), Msg: fmt.Sprintf(format, args...)})
}

func line(n ast.Node) int {
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

// Parse parses and validates a catalog. name is used in problem messages.
// Every problem is reported, not just the first.
func Parse(name string, data []byte) (*Catalog, error) {
	sum := sha256.Sum256(data)
	c := &Catalog{Path: name, SHA256: hex.EncodeToString(sum[:]), Roles: map[string]*Role{},
		Defaults: Defaults{MaxDuration: DefaultMaxDuration, DefaultDuration: DefaultDefaultDuration, RequestTTL: DefaultRequestTTL}}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("set up CEL: %w", err)
	}
	l := &loader{file: name, env: env, compiled: map[compileKey]compiled{}}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		l.syntaxError(err)
		return nil, &LoadError{Problems: l.problems}
	}
	var root *ast.MappingNode
	if len(f.Docs) > 0 && f.Docs[0].Body != nil {
		root = l.mapping(f.Docs[0].Body, "the catalog")
		if len(f.Docs) > 1 {
			l.addf(f.Docs[1].Body, "the catalog must be a single YAML document")
		}
	}
	if root == nil {
		l.problems = append(l.problems, Problem{File: name, Line: 1, Msg: "the catalog is empty: it needs a roles section"})
		return nil, &LoadError{Problems: l.problems}
	}
	var rolesNode *ast.MappingValueNode
	for _, kv := range root.Values {
		switch key := keyOf(kv); key {
		case "defaults":
			l.defaults(kv.Value, &c.Defaults)
		case "roles":
			rolesNode = kv
		default:
			l.addf(kv.Key, "unknown key %q (the catalog has defaults and roles)", key)
		}
	}
	switch {
	case rolesNode == nil:
		l.addf(root, "missing roles: the catalog must list at least one role")
	default:
		roles := l.mapping(rolesNode.Value, "roles")
		if roles == nil || len(roles.Values) == 0 {
			if roles != nil || isNull(rolesNode.Value) {
				l.addf(rolesNode.Key, "roles is empty: list at least one role")
			}
			break
		}
		for _, kv := range roles.Values {
			name := keyOf(kv)
			if !roleNameRE.MatchString(name) {
				l.addf(kv.Key, "role name %q must be lowercase letters, digits and dashes (at most 63)", name)
			}
			if _, dup := c.Roles[name]; dup {
				l.addf(kv.Key, "role %q is defined twice", name)
				continue
			}
			if r := l.role(name, kv, c.Defaults); r != nil {
				c.Roles[name] = r
			}
		}
	}
	if len(l.problems) > 0 {
		sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
		return nil, &LoadError{Problems: l.problems}
	}
	c.names = sortedNames(c.Roles)
	return c, nil
}

func (l *loader) syntaxError(err error) {
	var se *yaml.SyntaxError
	if errors.As(err, &se) && se.Token != nil && se.Token.Position != nil {
		l.problems = append(l.problems, Problem{File: l.file, Line: se.Token.Position.Line, Msg: "YAML syntax: " + se.Message})
		return
	}
	l.problems = append(l.problems, Problem{File: l.file, Msg: "YAML syntax: " + err.Error()})
}

func (l *loader) defaults(n ast.Node, d *Defaults) {
	m := l.mapping(n, "defaults")
	if m == nil {
		return
	}
	for _, kv := range m.Values {
		switch key := keyOf(kv); key {
		case "max_duration":
			l.duration(kv, &d.MaxDuration)
		case "default_duration":
			l.duration(kv, &d.DefaultDuration)
		case "request_ttl":
			l.duration(kv, &d.RequestTTL)
		default:
			l.addf(kv.Key, "unknown key %q in defaults (known: max_duration, default_duration, request_ttl)", key)
		}
	}
	if d.DefaultDuration > d.MaxDuration {
		l.addf(n, "defaults: default_duration %s exceeds max_duration %s", FormatDuration(d.DefaultDuration), FormatDuration(d.MaxDuration))
	}
}

// role parses and validates one role; nil when it is not a mapping.
func (l *loader) role(name string, kv *ast.MappingValueNode, d Defaults) *Role {
	m := l.mapping(kv.Value, "role "+name)
	if m == nil {
		if isNull(kv.Value) {
			l.addf(kv.Key, "role %s has no settings: it needs at least backend, approvers and eligible", name)
		}
		return nil
	}
	r := &Role{Name: name, Reconcile: "off", ApprovalsRequired: 1, MaxDuration: d.MaxDuration, RequestTTL: d.RequestTTL}
	keys := map[string]*ast.MappingValueNode{}
	var defaultSet bool
	for _, kv := range m.Values {
		key := keyOf(kv)
		if !slices.Contains(roleKeys, key) {
			l.addf(kv.Key, "role %s: unknown key %q", name, key)
			continue
		}
		if keys[key] != nil {
			l.addf(kv.Key, "role %s: %s is set twice", name, key)
		}
		keys[key] = kv
		switch key {
		case "description":
			r.Description = l.str(kv, name)
		case "backend":
			r.Backend = l.str(kv, name)
		case "role_arn":
			r.RoleARN = l.str(kv, name)
		case "session_policy":
			r.SessionPolicy = strings.TrimSpace(l.str(kv, name))
		case "group":
			r.Group = l.str(kv, name)
		case "reconcile":
			r.Reconcile = l.str(kv, name)
		case "max_duration":
			l.duration(kv, &r.MaxDuration)
		case "default_duration":
			defaultSet = l.duration(kv, &r.DefaultDuration)
		case "request_ttl":
			l.duration(kv, &r.RequestTTL)
		case "review_within":
			l.duration(kv, &r.ReviewWithin)
		case "allow_guests":
			r.AllowGuests = l.boolean(kv, name)
		case "guest_max_duration":
			l.duration(kv, &r.GuestMaxDuration)
		case "approvers":
			r.Approvers = l.strList(kv, name)
		case "approvals_required":
			r.ApprovalsRequired = l.integer(kv, name)
		case "breakglass_limit":
			if r.BreakglassLimit = l.integer(kv, name); r.BreakglassLimit < 0 {
				l.addf(kv.Value, "role %s: breakglass_limit must be 0 (no limit) or more, got %d", name, r.BreakglassLimit)
			}
		case "incident_pattern":
			if src := l.str(kv, name); src != "" {
				re, err := regexp.Compile(src)
				if err != nil {
					l.addf(kv.Value, "role %s: incident_pattern is not a valid regular expression: %v", name, err)
				}
				r.IncidentPattern = re
			}
		case "eligible":
			r.Eligible = l.str(kv, name)
		case "auto_approve":
			r.AutoApprove = l.str(kv, name)
		case "iam_user":
			r.IAMUser = l.str(kv, name)
		}
	}
	if !defaultSet {
		r.DefaultDuration = min(d.DefaultDuration, r.MaxDuration)
	}
	if r.ReviewWithin == 0 {
		r.ReviewWithin = DefaultReviewWithin
	}
	if r.GuestMaxDuration == 0 {
		r.GuestMaxDuration = min(DefaultGuestMaxDuration, r.MaxDuration)
	}
	l.checkRole(r, kv, keys)
	return r
}

// checkRole checks what involves more than one key.
// Defaults of the optional role settings for break-glass review and
// third-party access.
const (
	DefaultReviewWithin     = 24 * time.Hour
	DefaultGuestMaxDuration = time.Hour
)

// maxSTSSession is the longest DurationSeconds sts:AssumeRole accepts.
const maxSTSSession = 12 * time.Hour

func (l *loader) checkRole(r *Role, at *ast.MappingValueNode, keys map[string]*ast.MappingValueNode) {
	node := func(key string) ast.Node {
		if kv := keys[key]; kv != nil {
			return kv.Value
		}
		return at.Key
	}
	name := r.Name
	switch r.Backend {
	case "aws_sts":
		if r.RoleARN == "" {
			l.addf(node("backend"), "role %s: backend aws_sts needs role_arn", name)
		}
		for _, k := range []string{"group", "iam_user"} {
			if keys[k] != nil {
				l.addf(keys[k].Key, "role %s: %s applies only to backend aws_iam_group", name, k)
			}
		}
		if keys["reconcile"] != nil {
			l.addf(keys["reconcile"].Key, "role %s: reconcile applies only to backend aws_iam_group", name)
		}
	case "aws_iam_group":
		if r.Group == "" {
			l.addf(node("backend"), "role %s: backend aws_iam_group needs group", name)
		}
		if r.IAMUser == "" {
			l.addf(node("backend"), "role %s: backend aws_iam_group needs iam_user (a CEL expression giving the IAM user name, e.g. user.email)", name)
		}
		for _, k := range []string{"role_arn", "session_policy"} {
			if keys[k] != nil {
				l.addf(keys[k].Key, "role %s: %s applies only to backend aws_sts", name, k)
			}
		}
	case "":
		l.addf(at.Key, "role %s: missing backend (aws_sts or aws_iam_group)", name)
	default:
		l.addf(node("backend"), "role %s: unknown backend %q (known: aws_sts, aws_iam_group)", name, r.Backend)
	}
	if r.RoleARN != "" && !roleARNRE.MatchString(r.RoleARN) {
		l.addf(node("role_arn"), "role %s: role_arn %q is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)", name, r.RoleARN)
	}
	if r.Group != "" && !groupNameRE.MatchString(r.Group) {
		l.addf(node("group"), "role %s: group %q is not a valid IAM group name", name, r.Group)
	}
	if r.SessionPolicy != "" {
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.SessionPolicy), &doc); err != nil {
			l.addf(node("session_policy"), "role %s: session_policy is not a JSON policy document: %v", name, err)
		} else if _, ok := doc["Statement"]; !ok {
			l.addf(node("session_policy"), "role %s: session_policy has no Statement", name)
		}
	}
	switch r.Reconcile {
	case "off", "report", "enforce":
	default:
		l.addf(node("reconcile"), "role %s: reconcile must be off, report or enforce, got %q", name, r.Reconcile)
	}
	if r.MaxDuration <= 0 && keys["max_duration"] != nil {
		l.addf(node("max_duration"), "role %s: max_duration must be positive", name)
	}
	if r.DefaultDuration > r.MaxDuration {
		l.addf(node("default_duration"), "role %s: default_duration %s exceeds max_duration %s", name, FormatDuration(r.DefaultDuration), FormatDuration(r.MaxDuration))
	}
	if keys["guest_max_duration"] != nil && !r.AllowGuests {
		l.addf(keys["guest_max_duration"].Key, "role %s: guest_max_duration applies only with allow_guests: true", name)
	}
	if r.GuestMaxDuration > r.MaxDuration {
		l.addf(node("guest_max_duration"), "role %s: guest_max_duration %s exceeds max_duration %s", name, FormatDuration(r.GuestMaxDuration), FormatDuration(r.MaxDuration))
	}
	// STS caps a session at 12 h; a longer grant would end early with no
	// word to the requester, so refuse it here.
	if r.Backend == "aws_sts" && r.MaxDuration > maxSTSSession {
		l.addf(node("max_duration"), "role %s: max_duration %s exceeds %s, the longest session AWS STS issues", name, FormatDuration(r.MaxDuration), FormatDuration(maxSTSSession))
	}
	if r.RequestTTL <= 0 && keys["request_ttl"] != nil {
		l.addf(node("request_ttl"), "role %s: request_ttl must be positive", name)
	}
	l.checkApprovers(r, keys, node)
	if r.Eligible == "" {
		l.addf(at.Key, "role %s: missing eligible (a CEL rule saying who may request it, e.g. '\"sre\" in user.groups')", name)
	}
	r.eligible = l.compile(r, "eligible", r.Eligible, boolType, keys)
	r.autoApprove = l.compile(r, "auto_approve", r.AutoApprove, boolType, keys)
	r.iamUser = l.compile(r, "iam_user", r.IAMUser, stringType, keys)
}

func (l *loader) checkApprovers(r *Role, keys map[string]*ast.MappingValueNode, node func(string) ast.Node) {
	name := r.Name
	if len(r.Approvers) == 0 {
		l.addf(node("approvers"), "role %s: approvers is empty: list Slack user IDs (U…) or user groups (@handle)", name)
	}
	seen := map[string]bool{}
	for _, a := range r.Approvers {
		switch {
		case seen[a]:
			l.addf(node("approvers"), "role %s: approver %s is listed twice", name, a)
		case !userIDRE.MatchString(a) && !handleRE.MatchString(a):
			l.addf(node("approvers"), "role %s: approver %q is neither a Slack user ID (U…) nor a user group (@handle)", name, a)
		}
		seen[a] = true
	}
	if r.ApprovalsRequired < 1 {
		l.addf(node("approvals_required"), "role %s: approvals_required must be at least 1, got %d", name, r.ApprovalsRequired)
	} else if users := len(r.Users()); len(r.Groups()) == 0 && len(r.Approvers) > 0 && r.ApprovalsRequired > users {
		l.addf(node("approvals_required"), "role %s: approvals_required is %d but only %d approver(s) are listed", name, r.ApprovalsRequired, users)
	}
}

// compile compiles one CEL expression of a role; problems point at the
// expression's line in the YAML file plus the line within the expression.
func (l *loader) compile(r *Role, key, src string, want *cel.Type, keys map[string]*ast.MappingValueNode) *program {
	if strings.TrimSpace(src) == "" {
		return nil
	}
	c, ok := l.compiled[compileKey{src, want}]
	if !ok {
		c.p, c.err = compile(l.env, src, want)
		l.compiled[compileKey{src, want}] = c
	}
	p, err := c.p, c.err
	if err != nil {
		n := keys[key].Value
		ln, msg := line(n), err.Error()
		var ee *exprError
		if errors.As(err, &ee) {
			// A block scalar (| or >) starts on the line after its indicator.
			if _, block := unwrap(n).(*ast.LiteralNode); block {
				ln++
			}
			ln += max(ee.line-1, 0)
			if ee.col > 0 {
				msg = fmt.Sprintf("%s (column %d of the expression)", msg, ee.col)
			}
		}
		l.problems = append(l.problems, Problem{File: l.file, Line: ln, Msg: fmt.Sprintf("role %s: %s: %s", r.Name, key, msg)})
		return nil
	}
	return p
}

// mapping returns n as a mapping, or reports what it is instead.
func (l *loader) mapping(n ast.Node, what string) *ast.MappingNode {
	n = unwrap(n)
	switch m := n.(type) {
	case *ast.MappingNode:
		return m
	case *ast.MappingValueNode:
		return &ast.MappingNode{BaseNode: m.BaseNode, Values: []*ast.MappingValueNode{m}}
	case nil, *ast.NullNode:
		return nil
	}
	l.addf(n, "%s must be a mapping of keys to values", what)
	return nil
}

func (l *loader) str(kv *ast.MappingValueNode, role string) string {
	switch v := unwrap(kv.Value).(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return v.Value.Value
	case *ast.NullNode:
		return ""
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value
	}
	l.addf(kv.Value, "role %s: %s must be a string", role, keyOf(kv))
	return ""
}

func (l *loader) strList(kv *ast.MappingValueNode, role string) []string {
	seq, ok := unwrap(kv.Value).(*ast.SequenceNode)
	if !ok {
		l.addf(kv.Value, "role %s: %s must be a list, e.g. [U0123ABCD, \"@platform-leads\"]", role, keyOf(kv))
		return nil
	}
	var out []string
	for _, v := range seq.Values {
		s, ok := unwrap(v).(*ast.StringNode)
		if !ok {
			l.addf(v, "role %s: every entry of %s must be a string", role, keyOf(kv))
			continue
		}
		out = append(out, s.Value)
	}
	return out
}

func (l *loader) integer(kv *ast.MappingValueNode, role string) int {
	if v, ok := unwrap(kv.Value).(*ast.IntegerNode); ok {
		if n, err := strconv.Atoi(v.GetToken().Value); err == nil {
			return n
		}
	}
	l.addf(kv.Value, "role %s: %s must be a whole number, got %q", role, keyOf(kv), strings.TrimSpace(kv.Value.String()))
	return 0
}

// boolean reads true or false.
func (l *loader) boolean(kv *ast.MappingValueNode, role string) bool {
	if v, ok := unwrap(kv.Value).(*ast.BoolNode); ok {
		return v.Value
	}
	l.addf(kv.Value, "role %s: %s must be true or false, got %q", role, keyOf(kv), strings.TrimSpace(kv.Value.String()))
	return false
}

// duration parses a duration value into d and reports whether it did.
func (l *loader) duration(kv *ast.MappingValueNode, d *time.Duration) bool {
	v, err := durationNode(unwrap(kv.Value))
	if err != nil {
		l.addf(kv.Value, "%s: %q is not a duration (use e.g. 90s, 15m, 1h30m, 1d): %v", keyOf(kv), strings.TrimSpace(kv.Value.String()), err)
		return false
	}
	*d = v
	return true
}

// durationNode reads a positive duration from a YAML scalar, for the
// catalog and the rule test files alike.
func durationNode(n ast.Node) (time.Duration, error) {
	raw := ""
	switch v := n.(type) {
	case *ast.StringNode:
		raw = v.Value
	case *ast.IntegerNode, *ast.FloatNode:
		raw = v.GetToken().Value
	}
	d, err := ParseDuration(raw)
	if err == nil && d <= 0 {
		err = errors.New("must be positive")
	}
	return d, err
}

func keyOf(kv *ast.MappingValueNode) string {
	if s, ok := kv.Key.(*ast.StringNode); ok {
		return s.Value
	}
	return kv.Key.String()
}

// unwrap sees through anchors and tags to the value they mark.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
}

func isNull(n ast.Node) bool {
	_, ok := unwrap(n).(*ast.NullNode)
	return ok || unwrap(n) == nil
}
