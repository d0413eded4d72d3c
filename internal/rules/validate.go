package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/google/cel-go/cel"
)

var (
	roleARNRE   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/([\w+=,.@/-]+/)?[\w+=,.@-]{1,64}$`)
	groupNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	userIDRE    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	handleRE    = regexp.MustCompile(`^@[a-z0-9][a-z0-9._-]*$`)
)

// maxSTSSession is the longest DurationSeconds sts:AssumeRole accepts.
const maxSTSSession = 12 * time.Hour

// checkRole checks what involves more than one key, and compiles the
// role's rules. A problem points at the key it is about or, when that key
// is missing, at the role's name.
func (l *loader) checkRole(r *Role, at *ast.MappingValueNode, keys map[string]*ast.MappingValueNode) {
	node := func(key string) ast.Node {
		if kv := keys[key]; kv != nil {
			return kv.Value
		}
		return at.Key
	}
	l.checkBackend(r, at, keys, node)
	l.checkDurations(r, keys, node)
	l.checkApprovers(r, keys, node)
	l.checkTiming(r, keys, node)
	if r.Eligible == "" {
		l.addf(at.Key, "role %s: missing eligible (a CEL rule saying who may request it, e.g. '\"sre\" in user.groups')", r.Name)
	}
	r.eligible = l.compile(r, "eligible", r.Eligible, boolType, keys)
	r.autoApprove = l.compile(r, "auto_approve", r.AutoApprove, boolType, keys)
	r.iamUser = l.compile(r, "iam_user", r.IAMUser, stringType, keys)
	r.approverRule = l.compileIn(l.approverEnv, r, "approver_rule", r.ApproverRule, boolType, keys)
	r.requestForOthers = l.compileForOthers(r, keys)
}

// checkBackend checks the backend and the keys that belong to it.
func (l *loader) checkBackend(r *Role, at *ast.MappingValueNode, keys map[string]*ast.MappingValueNode, node func(string) ast.Node) {
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
		for _, k := range []string{"role_arn", "session_policy", "allow_role_chaining"} {
			if keys[k] != nil {
				l.addf(keys[k].Key, "role %s: %s applies only to backend aws_sts", name, k)
			}
		}
	case "aws_sso", "aws_sso_group":
		l.checkSSO(r, keys, node)
	case "":
		l.addf(at.Key, "role %s: missing backend (aws_sts, aws_iam_group, aws_sso or aws_sso_group)", name)
	default:
		l.addf(node("backend"), "role %s: unknown backend %q (known: aws_sts, aws_iam_group, aws_sso, aws_sso_group)", name, r.Backend)
	}
	if r.Backend != "aws_sso" && r.Backend != "aws_sso_group" {
		for _, k := range []string{"permission_set", "accounts", "organizational_unit", "sso_group", "sso_user"} {
			if keys[k] != nil {
				l.addf(keys[k].Key, "role %s: %s applies only to the Identity Center backends (aws_sso, aws_sso_group)", name, k)
			}
		}
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
}

// checkDurations checks the role's durations against each other and
// against what the backend can issue.
func (l *loader) checkDurations(r *Role, keys map[string]*ast.MappingValueNode, node func(string) ast.Node) {
	name := r.Name
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
}

func (l *loader) checkApprovers(r *Role, keys map[string]*ast.MappingValueNode, node func(string) ast.Node) {
	if keys["approval_steps"] != nil {
		l.checkApprovalSteps(r, keys)
		return
	}
	if len(r.Approvers) == 0 {
		l.addf(node("approvers"), "role %s: approvers is empty: list Slack user IDs (U…) or user groups (@handle)", r.Name)
	}
	l.checkApproverList(r, "approvers", r.Approvers, node("approvers"), node("approvals_required"))
	if r.ApprovalsRequired < 1 {
		l.addf(node("approvals_required"), "role %s: approvals_required must be at least 1, got %d", r.Name, r.ApprovalsRequired)
	}
	l.checkAccountApprovers(r, keys, node)
}

// checkApproverList checks one list of approvers (what is the key it came
// from, at where it is): its entries, and enough of them for
// approvals_required (at countAt) when they are all users.
func (l *loader) checkApproverList(r *Role, what string, list []string, at, countAt ast.Node) {
	l.checkApproverEntries("role "+r.Name, what, list, at)
	in := ""
	if what != "approvers" {
		in = " in " + what
	}
	if users := len(UserIDs(list)); r.ApprovalsRequired >= 1 && len(GroupHandles(list)) == 0 && len(list) > 0 && r.ApprovalsRequired > users {
		l.addf(countAt, "role %s: approvals_required is %d but only %d approver(s) are listed%s", r.Name, r.ApprovalsRequired, users, in)
	}
}

// checkApproverEntries checks the entries of one list of approvers of who
// (a role, or the defaults): Slack user IDs or @handles, none twice, and
// at least one unless it is a role's approvers, which checkApprovers
// reports as missing.
func (l *loader) checkApproverEntries(who, what string, list []string, at ast.Node) {
	in := ""
	if what != "approvers" {
		in = " in " + what
	}
	seen := map[string]bool{}
	for _, a := range list {
		switch {
		case seen[a]:
			l.addf(at, "%s: approver %s is listed twice%s", who, a, in)
		case !userIDRE.MatchString(a) && !handleRE.MatchString(a):
			l.addf(at, "%s: approver %q%s is neither a Slack user ID (U…) nor a user group (@handle)", who, a, in)
		}
		seen[a] = true
	}
	if len(list) == 0 && what != "approvers" {
		l.addf(at, "%s: %s is empty: list Slack user IDs (U…) or user groups (@handle)", who, what)
	}
}

// compile compiles one CEL expression of a role; problems point at the
// expression's line in the YAML file plus the line within the expression.
func (l *loader) compile(r *Role, key, src string, want *cel.Type, keys map[string]*ast.MappingValueNode) *program {
	return l.compileIn(l.env, r, key, src, want, keys)
}

// compileIn is compile in env: that of approver_rule declares approver
// instead of user.
func (l *loader) compileIn(env *cel.Env, r *Role, key, src string, want *cel.Type, keys map[string]*ast.MappingValueNode) *program {
	if strings.TrimSpace(src) == "" {
		return nil
	}
	c, ok := l.compiled[compileKey{src, want, env}]
	if !ok {
		c.p, c.err = compile(env, src, want)
		l.compiled[compileKey{src, want, env}] = c
	}
	p, err := c.p, c.err
	if err != nil {
		n := keys[key].Value
		wenv, _ := celWorkloadEnv()
		ln, msg := line(n), undeclaredHint(err.Error(), env == wenv)
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
