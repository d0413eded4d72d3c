package grants

import (
	"context"
	"fmt"
	"slices"

	"github.com/jitbot/jitbot/internal/rules"
)

// Multi-step approval (a role's approval_steps): a request is approved by
// each step in order, say one owner, then one person of @security. The
// record keeps what each step needs, so that people see where it stands;
// who may approve a step is always the catalog's word now.

// ApprovalStep is what one step of a request needs: Required approvals
// from Approvers (Slack user IDs and "@handle" user groups, as the catalog
// said when it was filed; the catalog in force decides who counts).
type ApprovalStep struct {
	Approvers []string `json:"approvers"`
	Required  int      `json:"required"`
}

// stepsOf is the record's copy of role's approval_steps; nil for a role
// approved in one step.
func stepsOf(role *rules.Role) []ApprovalStep {
	var out []ApprovalStep
	for _, s := range role.ApprovalSteps {
		out = append(out, ApprovalStep{Approvers: slices.Clone(s.Approvers), Required: s.ApprovalsRequired})
	}
	return out
}

// CurrentStep is the step (from 0) that r waits on: the first whose
// approvals are not all in. It is 0 for a request approved in one step,
// and len(r.Steps) once every step is done.
func (r *Request) CurrentStep() int {
	for i, s := range r.Steps {
		if r.approvalsAt(i) < s.Required {
			return i
		}
	}
	return len(r.Steps)
}

// approvalsAt counts the approvals given at step.
func (r *Request) approvalsAt(step int) int {
	n := 0
	for _, a := range r.Approvals {
		if a.Step == step {
			n++
		}
	}
	return n
}

// approvedEnough reports whether r has all the approvals it needs: every
// step's, and ApprovalsRequired in all.
func (r *Request) approvedEnough() bool {
	return len(r.Approvals) >= r.ApprovalsRequired && r.CurrentStep() == len(r.Steps)
}

// stepsMatch checks r's steps against role's: a request filed under
// other steps is not approved by these ones.
func stepsMatch(role *rules.Role, r *Request) string {
	want := stepsOf(role)
	if !slices.EqualFunc(r.Steps, want, func(a, b ApprovalStep) bool { return a.Required == b.Required }) {
		return fmt.Sprintf("its approval steps (%d) are not the role's (%d)", max(len(r.Steps), 1), max(len(want), 1))
	}
	return ""
}

// approvedEachStep checks the approvals of a request with steps, as
// approvedEnough does for one step: at each step, enough distinct people
// who may approve that step now. valid says whether an approval counts.
func approvedEachStep(role *rules.Role, r *Request, valid func(Approval) (bool, error)) (string, error) {
	for i, step := range role.ApprovalSteps {
		n := 0
		for _, a := range r.Approvals {
			if a.Step != i {
				continue
			}
			ok, err := valid(a)
			if err != nil {
				return "", err
			}
			if ok {
				n++
			}
		}
		if n < step.ApprovalsRequired {
			return fmt.Sprintf("step %d of %d has %d valid approval(s) and needs %d", i+1, len(role.ApprovalSteps), n, step.ApprovalsRequired), nil
		}
	}
	return "", nil
}

// otherStep says, to someone who may approve another step of r but not
// the one it is at, why their click does nothing now; "" when they
// approve no step of it.
func (s *Service) otherStep(ctx context.Context, r *Request, userID string) (string, error) {
	role, ok := s.Catalog().Role(r.Role)
	if !ok || len(r.Steps) == 0 {
		return "", nil
	}
	cur := r.CurrentStep()
	for i := range role.ApprovalSteps {
		if i == cur {
			continue
		}
		mine, err := s.inList(ctx, role, approversAt(role, r, i), userID)
		if err != nil {
			return "", err
		}
		if !mine {
			continue
		}
		if i < cur {
			return fmt.Sprintf("it is past step %d, which you approve, and waits on step %d of %d", i+1, cur+1, len(r.Steps)), nil
		}
		return fmt.Sprintf("it waits on step %d of %d; you approve step %d, after it", cur+1, len(r.Steps), i+1), nil
	}
	return "", nil
}

// stepMoved is the refusal of an approval checked against step at of r,
// which now waits on another step.
func stepMoved(r *Request, at int) error {
	cur := r.CurrentStep()
	if cur > at {
		return userErr(ErrDecided, fmt.Sprintf("step %d of %d of %s was approved by someone else meanwhile; it now waits on step %d, and your click was not counted", at+1, len(r.Steps), r.ID, cur+1))
	}
	return userErr(ErrNotApprover, fmt.Sprintf("%s is back at step %d of %d, because an approval given there no longer counts; your click was not counted", r.ID, cur+1, len(r.Steps)))
}
