package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	yaml "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/google/cel-go/cel"
)

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

var roleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

var roleKeys = []string{"description", "backend", "role_arn", "session_policy", "group", "iam_user", "reconcile",
	"max_duration", "default_duration", "request_ttl", "approvers", "approvals_required", "eligible", "auto_approve", "approver_rule",
	"incident_pattern", "breakglass_limit", "review_within", "allow_guests", "guest_max_duration", "allow_role_chaining",
	"permission_set", "accounts", "organizational_unit", "account_approvers", "sso_group", "sso_user", "workloads",
	"remind_after", "escalate_after", "escalation_approvers", "max_lead_time", "end_with_incident", "request_for_others", "approval_steps"}

// parse state: the problems found so far, the CEL environment and what
// it compiled.
type loader struct {
	file        string
	env         *cel.Env
	approverEnv *cel.Env // approver_rule's: approver, not user
	problems    []Problem
	// compiled holds each distinct rule once: a large catalog repeats a
	// few rules over many roles, and compiling is most of a load's work.
	// Programs hold no state between evaluations, so roles share them.
	compiled map[compileKey]compiled
	// workloadRoles are the workloads keys of the roles, which need
	// workload_issuers in the catalog.
	workloadRoles []workloadRole
}

type compileKey struct {
	src  string
	want *cel.Type
	env  *cel.Env
}

type compiled struct {
	p   *program
	err error
}

func (l *loader) addf(n ast.Node, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line(n), Msg: fmt.Sprintf(format, args...)})
}

// Parse parses and validates a catalog. name is used in problem messages.
// Every problem is reported, not just the first.
func Parse(name string, data []byte) (*Catalog, error) {
	sum := sha256.Sum256(data)
	c := &Catalog{Path: name, SHA256: hex.EncodeToString(sum[:]), Roles: map[string]*Role{},
		Defaults: Defaults{MaxDuration: DefaultMaxDuration, DefaultDuration: DefaultDefaultDuration, RequestTTL: DefaultRequestTTL,
			MaxLeadTime: DefaultMaxLeadTime}}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("set up CEL: %w", err)
	}
	approverEnv, err := celApproverEnv()
	if err != nil {
		return nil, fmt.Errorf("set up CEL: %w", err)
	}
	l := &loader{file: name, env: env, approverEnv: approverEnv, compiled: map[compileKey]compiled{}}
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
	var rolesNode, issuersNode *ast.MappingValueNode
	for _, kv := range root.Values {
		switch key := keyOf(kv); key {
		case "defaults":
			l.defaults(kv.Value, &c.Defaults)
		case "workload_issuers":
			issuersNode = kv
			c.workloadIssuers = l.workloadIssuers(kv)
		case "roles":
			rolesNode = kv
		default:
			l.addf(kv.Key, "unknown key %q (the catalog has defaults, workload_issuers and roles)", key)
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
	l.checkWorkloadRoles(issuersNode)
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
	keys := map[string]*ast.MappingValueNode{}
	for _, kv := range m.Values {
		key := keyOf(kv)
		keys[key] = kv
		switch key {
		case "max_duration":
			l.duration(kv, &d.MaxDuration)
		case "default_duration":
			l.duration(kv, &d.DefaultDuration)
		case "request_ttl":
			l.duration(kv, &d.RequestTTL)
		default:
			if !l.timingDefault(d, key, kv) {
				l.addf(kv.Key, "unknown key %q in defaults (known: max_duration, default_duration, request_ttl, %s)", key, strings.Join(timingKeys, ", "))
			}
		}
	}
	if d.DefaultDuration > d.MaxDuration {
		l.addf(n, "defaults: default_duration %s exceeds max_duration %s", FormatDuration(d.DefaultDuration), FormatDuration(d.MaxDuration))
	}
	l.checkDefaultTiming(d, n, keys)
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
	r := &Role{Name: name, Reconcile: "off", ApprovalsRequired: 1, MaxDuration: d.MaxDuration, RequestTTL: d.RequestTTL,
		RemindAfter: d.RemindAfter, EscalateAfter: d.EscalateAfter, EscalationApprovers: slices.Clone(d.EscalationApprovers),
		MaxLeadTime: d.MaxLeadTime}
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
		l.setting(r, key, kv, &defaultSet)
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

// setting reads one known key of role r into it. defaultSet says whether
// the role's default_duration is its own, so that role falls back to the
// catalog's default only when it is not.
func (l *loader) setting(r *Role, key string, kv *ast.MappingValueNode, defaultSet *bool) {
	name := r.Name
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
		*defaultSet = l.duration(kv, &r.DefaultDuration)
	case "request_ttl":
		l.duration(kv, &r.RequestTTL)
	case "review_within":
		l.duration(kv, &r.ReviewWithin)
	case "allow_guests":
		r.AllowGuests = l.boolean(kv, name)
	case "allow_role_chaining":
		r.AllowRoleChaining = l.boolean(kv, name)
	case "guest_max_duration":
		l.duration(kv, &r.GuestMaxDuration)
	case "approvers":
		r.Approvers = l.strList(kv, name)
	case "approvals_required":
		r.ApprovalsRequired = l.integer(kv, name)
	case "approval_steps":
		r.ApprovalSteps = l.approvalSteps(kv, name)
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
	case "approver_rule":
		r.ApproverRule = l.str(kv, name)
	case "request_for_others":
		r.RequestForOthers = l.str(kv, name)
	case "iam_user":
		r.IAMUser = l.str(kv, name)
	case "permission_set":
		r.PermissionSet = l.str(kv, name)
	case "accounts":
		r.Accounts = l.accounts(kv, name)
	case "account_approvers":
		r.AccountApprovers = l.accountApprovers(kv, name)
	case "organizational_unit":
		r.OrganizationalUnit = l.str(kv, name)
	case "sso_group":
		r.SSOGroup = l.str(kv, name)
	case "sso_user":
		r.SSOUser = l.str(kv, name)
	case "workloads":
		r.Workloads = l.workloads(kv, r)
	default:
		l.timingSetting(r, key, kv)
	}
}
