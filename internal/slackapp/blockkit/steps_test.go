package blockkit

import (
	"testing"

	"github.com/jitbot/jitbot/internal/grants"
)

func TestApprovedAt(t *testing.T) {
	twoAtSecurity := atSecurityStep()
	twoAtSecurity.Steps[1].Required = 2
	twoAtSecurity.Approvals = append(twoAtSecurity.Approvals, grants.Approval{Approver: carol, Step: 1})
	tests := []struct {
		name     string
		r        *grants.Request
		approver string
		want     string
	}{
		{"one step", pendingGroup(), bob, "You approved `JIT-7K3QX2`; it needs 1 more approval(s)."},
		{"step done, the next waits", atSecurityStep(), bob, "You approved `JIT-5TEP52` at step 1 of 2; it now goes to step 2, for @security or @sec&lt;!here&gt;."},
		{"step not done yet", twoAtSecurity, carol, "You approved `JIT-5TEP52` at step 2 of 2; that step needs 1 more approval(s)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ApprovedAt(tt.r, tt.approver); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
