package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"

	"github.com/jitbot/jitbot/internal/testenv"
)

// TestSlackSSOKilledBeforeTheStatusIsFinished kills jitbot (SIGKILL) after
// it asked Identity Center for an assignment and before it saw the request
// succeed, and again after it asked for the assignment's removal and
// before it saw that succeed. Each time the next process, on the same
// Redis, finishes the record once the lease lapses: the grant is issued
// once (one assignment in AWS, one grant DM) and the assignment is gone
// after expiry.
//
// moto finishes assignment requests at once; the proxy says IN_PROGRESS
// instead, as AWS does, so jitbot follows the request, and holds the
// status call until the kill. It also makes the next process see what AWS
// shows while the killed process's request is under way: no assignment
// listed yet, and a ConflictException for another one.
func TestSlackSSOKilledBeforeTheStatusIsFinished(t *testing.T) {
	const lease = 6 * time.Second // how long the next process waits before taking over
	b := startSSOBotWith(t, func(b *ssoBot) string {
		b.env = append(b.env, "JIT_LEASE="+lease.String()) // taken up by the restart that loads the roles
		return ssoRoles
	}, "bob@example.com")
	bob := b.users["bob@example.com"]
	b.proxy.Rewrite("CreateAccountAssignment", inProgress("AccountAssignmentCreationStatus"))
	b.proxy.Rewrite("DeleteAccountAssignment", inProgress("AccountAssignmentDeletionStatus"))

	release := b.proxy.Hold("DescribeAccountAssignmentCreationStatus")
	id := requestID(t, b.command(t, "UBOB", "request admin-sso 6s --account staging checking the staging replica"))
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	b.killWhileHeld(t, "DescribeAccountAssignmentCreationStatus", "CreateAccountAssignment")
	release()
	if n := len(b.grantDMs(id)); n != 0 {
		t.Fatalf("%d grant DMs before the assignment was seen to succeed", n)
	}
	// As AWS does while the killed process's request is under way (here:
	// until 250 ms after the next process first hears of it), the next
	// process's listings lack the assignment and its
	// CreateAccountAssignment gets a ConflictException.
	b.proxy.ErrorNext("CreateAccountAssignment", 2, http.StatusBadRequest, "ConflictException")
	b.proxy.Rewrite("ListAccountAssignments", func(body map[string]any) {
		if c := b.conflicts(); len(c) == 0 || time.Since(c[0].End) < 250*time.Millisecond {
			body["AccountAssignments"] = []any{}
		}
	})
	b.start(t)
	b.slack.WaitFor(t, "the next process issues the grant", 3*lease, func() bool { return len(b.grantDMs(id)) > 0 })
	if n := b.proxy.Count("CreateAccountAssignment") - len(b.conflicts()); n != 1 {
		t.Errorf("CreateAccountAssignment reached AWS %d times, want once, by the killed process", n)
	}
	if len(b.conflicts()) == 0 {
		t.Errorf("the next process never called CreateAccountAssignment, so never met the conflict")
	}
	if n := b.assignments(t, "111111111111", bob); n != 1 {
		t.Errorf("%d assignments of AdministratorAccess to bob in staging, want 1", n)
	}

	release = b.proxy.Hold("DescribeAccountAssignmentDeletionStatus")
	b.killWhileHeld(t, "DescribeAccountAssignmentDeletionStatus", "DeleteAccountAssignment")
	release()
	b.start(t)
	b.slack.WaitFor(t, "the next process finishes the revocation", 3*lease, func() bool {
		return strings.Contains(b.auditText(id), "expired")
	})
	if got := b.assigned(t, "111111111111"); len(got) != 0 {
		t.Errorf("assigned in staging after the revocation: %v", got)
	}
	if n := b.proxy.Count("DeleteAccountAssignment"); n != 1 {
		t.Errorf("DeleteAccountAssignment called %d times, want once: the next process found the assignment gone", n)
	}
	if n := len(b.grantDMs(id)); n != 1 {
		t.Errorf("bob got %d grant DMs, want 1", n)
	}
	for _, dm := range b.slack.DMs("UBOB") {
		if strings.Contains(dm.Text+visible(dm), "could not be issued") {
			t.Errorf("bob was told the grant failed:\n%s", visible(dm))
		}
	}
}

// inProgress is a proxy rewrite that makes an assignment request's first
// answer IN_PROGRESS, as AWS's always is.
func inProgress(key string) func(map[string]any) {
	return func(body map[string]any) {
		if st, ok := body[key].(map[string]any); ok {
			st["Status"] = "IN_PROGRESS"
		}
	}
}

// killWhileHeld waits until jitbot has made call and is waiting at the
// proxy for held, then kills it with SIGKILL. The wait is short: jitbot
// gives up on an AWS call after half the lease, and must not have.
func (b *ssoBot) killWhileHeld(t *testing.T, held, call string) {
	t.Helper()
	b.slack.WaitFor(t, "jitbot waits for "+held, 20*time.Second, func() bool { return b.proxy.Held(held) > 0 })
	sigkill(t, b.bot)
	if n := b.proxy.Count(call); n != 1 {
		t.Fatalf("%s called %d times before the kill, want once", call, n)
	}
}

// conflicts are the CreateAccountAssignment calls the proxy answered with
// a ConflictException.
func (b *ssoBot) conflicts() []testenv.Call {
	var out []testenv.Call
	for _, c := range b.proxy.Calls("CreateAccountAssignment") {
		if c.Status == http.StatusBadRequest {
			out = append(out, c)
		}
	}
	return out
}

// grantDMs are the DMs that told bob grant id is issued.
func (b *ssoBot) grantDMs(id string) []string {
	var out []string
	for _, dm := range b.slack.DMs("UBOB") {
		if text := dm.Text + visible(dm); strings.Contains(text, id) && strings.Contains(text, "sso_account_id = 111111111111") {
			out = append(out, text)
		}
	}
	return out
}

// assignments counts user's assignments of AdministratorAccess in
// account as moto lists them, copies included: moto records a second
// CreateAccountAssignment of the same assignment as a second entry.
func (b *ssoBot) assignments(t *testing.T, account, user string) int {
	t.Helper()
	out, err := b.admin.ListAccountAssignments(t.Context(), &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(b.instance), AccountId: aws.String(account), PermissionSetArn: aws.String(b.permission),
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range out.AccountAssignments {
		if aws.ToString(a.PrincipalId) == user {
			n++
		}
	}
	return n
}
