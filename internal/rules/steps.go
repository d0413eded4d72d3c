package rules

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
)

// ApprovalStep is one step of a role's approval_steps: ApprovalsRequired
// distinct people among Approvers (Slack user IDs and "@handle" user
// groups) approve, once every step before it is done.
type ApprovalStep struct {
	Approvers         []string
	ApprovalsRequired int
}

// StepApprovers returns who approves step (from 0) of a request of the
// role in account: that step's approvers for a role with approval_steps,
// else, for its one step, ApproversIn(account). Past the last step there
// is nobody.
func (r *Role) StepApprovers(account string, step int) []string {
	if len(r.ApprovalSteps) == 0 {
		if step != 0 {
			return nil
		}
		return r.ApproversIn(account)
	}
	if step < 0 || step >= len(r.ApprovalSteps) {
		return nil
	}
	return r.ApprovalSteps[step].Approvers
}

// Steps returns how many steps a request of the role goes through: one,
// unless approval_steps says otherwise.
func (r *Role) Steps() int { return max(len(r.ApprovalSteps), 1) }

// approvalSteps reads approval_steps: a list of {approvers, approvals_required}.
func (l *loader) approvalSteps(kv *ast.MappingValueNode, role string) []ApprovalStep {
	seq, ok := unwrap(kv.Value).(*ast.SequenceNode)
	if !ok {
		l.addf(kv.Value, `role %s: approval_steps must be a list of steps, e.g. [{approvers: [U0123ABCD]}, {approvers: ["@security"], approvals_required: 1}]`, role)
		return nil
	}
	out := make([]ApprovalStep, 0, len(seq.Values))
	for i, v := range seq.Values {
		m, ok := unwrap(v).(*ast.MappingNode)
		if !ok {
			l.addf(v, "role %s: step %d of approval_steps must be a mapping with approvers and, optionally, approvals_required", role, i+1)
			continue
		}
		step := ApprovalStep{ApprovalsRequired: 1}
		for _, f := range m.Values {
			switch key := keyOf(f); key {
			case "approvers":
				step.Approvers = l.strList(f, role)
			case "approvals_required":
				// Not a number is reported here, once; the default stands.
				if n := l.integer(f, role); isInteger(f) {
					step.ApprovalsRequired = n
				}
			default:
				l.addf(f.Key, "role %s: unknown key %q in step %d of approval_steps (known: approvers, approvals_required)", role, key, i+1)
			}
		}
		out = append(out, step)
	}
	return out
}

// maxStepApprovals bounds one step's approvals_required: far beyond any
// real sign-off, and the sum of the steps stays a small number.
const maxStepApprovals = 50

// checkApprovalSteps checks approval_steps, which replaces approvers and
// approvals_required: at least two steps (one step is what approvers
// says), each with its own approvers and a count they can meet. The
// role's ApprovalsRequired becomes the sum, the number of approvals a
// request collects in all.
func (l *loader) checkApprovalSteps(r *Role, keys map[string]*ast.MappingValueNode) {
	kv := keys["approval_steps"]
	for _, k := range []string{"approvers", "approvals_required", "account_approvers"} {
		if keys[k] != nil {
			l.addf(keys[k].Key, "role %s: %s cannot be set beside approval_steps, which names the approvers of each step", r.Name, k)
		}
	}
	if len(r.ApprovalSteps) < 2 && kv != nil {
		l.addf(kv.Value, "role %s: approval_steps needs at least two steps; for one, use approvers and approvals_required", r.Name)
	}
	total, problems := 0, len(l.problems)
	for i, s := range r.ApprovalSteps {
		what := fmt.Sprintf("step %d of approval_steps", i+1)
		l.checkApproverEntries("role "+r.Name, what, s.Approvers, kv.Value)
		if s.ApprovalsRequired < 1 || s.ApprovalsRequired > maxStepApprovals {
			l.addf(kv.Value, "role %s: approvals_required of %s must be between 1 and %d, got %d", r.Name, what, maxStepApprovals, s.ApprovalsRequired)
		}
		if users := len(UserIDs(s.Approvers)); len(GroupHandles(s.Approvers)) == 0 && len(s.Approvers) > 0 && s.ApprovalsRequired > users {
			l.addf(kv.Value, "role %s: approvals_required of %s is %d but only %d approver(s) are listed", r.Name, what, s.ApprovalsRequired, users)
		}
		total += max(s.ApprovalsRequired, 0)
	}
	r.ApprovalsRequired = total
	if len(l.problems) == problems {
		// Each step can be met on its own; together they may not be.
		if need, can := distinctApprovers(r.ApprovalSteps); can < need {
			l.addf(kv.Value, "role %s: approval_steps cannot be completed: nobody approves two steps of one request, and the steps that list no user group need %d different people where at most %d can approve", r.Name, need, can)
		}
	}
}

// distinctApprovers counts the approvals that the steps listing no user
// group need, and how many of them different people can give, each at one
// step only: a largest matching of approvals to listed users. Steps with a
// group are left out, their members being unknown here. Each step's count
// is at most its list's length (checkApprovalSteps), so this stays small.
func distinctApprovers(steps []ApprovalStep) (need, can int) {
	var slots [][]string // per approval needed, who may give it
	for _, s := range steps {
		if len(GroupHandles(s.Approvers)) > 0 {
			continue
		}
		for range s.ApprovalsRequired {
			slots = append(slots, UserIDs(s.Approvers))
		}
	}
	holder := map[string]int{} // user → the slot they fill
	var fill func(slot int, tried map[string]bool) bool
	fill = func(slot int, tried map[string]bool) bool {
		for _, u := range slots[slot] {
			if tried[u] {
				continue
			}
			tried[u] = true
			if h, taken := holder[u]; !taken || fill(h, tried) {
				holder[u] = slot
				return true
			}
		}
		return false
	}
	for i := range slots {
		if fill(i, map[string]bool{}) {
			can++
		}
	}
	return len(slots), can
}

func isInteger(kv *ast.MappingValueNode) bool {
	_, ok := unwrap(kv.Value).(*ast.IntegerNode)
	return ok
}
