package awsgrant_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/testenv"
)

// moto answers CreateAccountAssignment and DeleteAccountAssignment with
// SUCCEEDED at once, as AWS never does. These tests rewrite the answer to
// IN_PROGRESS, so the backend follows the request through moto's real
// DescribeAccountAssignment{Creation,Deletion}Status, and rewrite those to
// show a FAILED request and one that never finishes.

// rewrittenSSO is the setting of these tests: moto's Identity Center with
// a permission set and a user, and an aws_sso backend that talks to it
// through a rewriting proxy and polls every few milliseconds.
type rewrittenSSO struct {
	*ssoEnv
	rw     *testenv.Proxy
	b      *awsgrant.SSO
	g      grants.Grant // of the permission set in motoAccount to the user
	psARN  string
	userID string
}

func newRewrittenSSO(t *testing.T, permissionSet, user string) *rewrittenSSO {
	t.Helper()
	e := &rewrittenSSO{ssoEnv: newSSOEnv(t)}
	e.psARN = e.createPermissionSet(t, permissionSet)
	e.userID = e.createSSOUser(t, user)
	rw, cfg := e.rewritten(t)
	e.rw, e.b = rw, awsgrant.NewSSO(cfg, "", testLogger(t))
	awsgrant.SetSSOPolling(e.b, 5*time.Second, time.Millisecond, 4*time.Millisecond)
	e.g = ssoGrant(user, motoAccount, permissionSet)
	return e
}

func TestSSOFollowsAssignmentRequests(t *testing.T) {
	e := newRewrittenSSO(t, "JitSlow", "dave@example.com")
	rw, b, g, psARN, id := e.rw, e.b, e.g, e.psARN, e.userID

	rw.Rewrite("CreateAccountAssignment", setStatus("AccountAssignmentCreationStatus", "IN_PROGRESS", ""))
	rw.Rewrite("DeleteAccountAssignment", setStatus("AccountAssignmentDeletionStatus", "IN_PROGRESS", ""))
	if _, err := b.Grant(t.Context(), g); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if n := e.proxy.Count("DescribeAccountAssignmentCreationStatus"); n != 1 {
		t.Errorf("Grant sent %d DescribeAccountAssignmentCreationStatus calls, want 1 (moto says SUCCEEDED on the first)", n)
	}
	if !slices.Contains(e.assignedUsers(t, motoAccount, psARN), id) {
		t.Fatalf("not assigned after Grant")
	}
	if _, err := b.Revoke(t.Context(), g); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if n := e.proxy.Count("DescribeAccountAssignmentDeletionStatus"); n != 1 {
		t.Errorf("Revoke sent %d DescribeAccountAssignmentDeletionStatus calls, want 1", n)
	}
	if slices.Contains(e.assignedUsers(t, motoAccount, psARN), id) {
		t.Fatalf("still assigned after Revoke")
	}

	// A FAILED request is an error with AWS's reason, and not the
	// requester's fault. moto records the assignment anyway; only its
	// absence makes FAILED a failure, so the listing hides it.
	fail := ssoGrant("dave@example.com", motoAccount, "JitSlow")
	rw.Rewrite("CreateAccountAssignment", setStatus("AccountAssignmentCreationStatus", "FAILED", "Received a 404 status error: the permission set is not provisioned"))
	rw.Rewrite("ListAccountAssignments", func(body map[string]any) { body["AccountAssignments"] = []any{} })
	_, err := b.Grant(t.Context(), fail)
	if err == nil || errors.Is(err, grants.ErrInvalidTarget) || !strings.Contains(err.Error(), "the permission set is not provisioned") {
		t.Errorf("Grant of a FAILED request = %v, want an error with AWS's reason, not ErrInvalidTarget", err)
	}
	rw.Rewrite("ListAccountAssignments", nil)
	rw.Rewrite("CreateAccountAssignment", nil)

	// FAILED while the assignment stands (a concurrent grant won) is
	// success.
	rw.Rewrite("CreateAccountAssignment", setStatus("AccountAssignmentCreationStatus", "FAILED", "ConflictException: in progress"))
	if _, err := b.Revoke(t.Context(), fail); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := b.Grant(t.Context(), fail); err != nil {
		t.Errorf("Grant whose request FAILED while the assignment is there = %v, want success", err)
	}
}

func TestSSOGivesUpOnARequestThatNeverFinishes(t *testing.T) {
	e := newRewrittenSSO(t, "JitStuck", "erin@example.com")
	rw, b, g := e.rw, e.b, e.g
	rw.Rewrite("CreateAccountAssignment", setStatus("AccountAssignmentCreationStatus", "IN_PROGRESS", ""))
	rw.Rewrite("DescribeAccountAssignmentCreationStatus", setStatus("AccountAssignmentCreationStatus", "IN_PROGRESS", ""))

	awsgrant.SetSSOPolling(b, 50*time.Millisecond, time.Millisecond, 4*time.Millisecond)
	start := time.Now()
	_, err := b.Grant(t.Context(), g)
	if err == nil || !strings.Contains(err.Error(), "still IN_PROGRESS after 50ms") {
		t.Errorf("Grant of a request that stays IN_PROGRESS = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Grant gave up after %v, want about 50ms", d)
	}
	if n := e.proxy.Count("DescribeAccountAssignmentCreationStatus"); n < 3 {
		t.Errorf("%d status polls in 50ms at 1-4ms apart, want several", n)
	}

	// The context bounds it too.
	awsgrant.SetSSOPolling(b, time.Minute, time.Millisecond, 4*time.Millisecond)
	rw.Rewrite("ListAccountAssignments", func(body map[string]any) { body["AccountAssignments"] = []any{} })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := b.Grant(ctx, g); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Grant past its context's deadline = %v, want DeadlineExceeded", err)
	}
}

func TestSSOInstance(t *testing.T) {
	e := newSSOEnv(t)
	e.createPermissionSet(t, "JitInstance")
	e.createSSOUser(t, "frank@example.com")
	g := ssoGrant("frank@example.com", motoAccount, "JitInstance")

	t.Run("discovered once, on first use", func(t *testing.T) {
		e.proxy.Reset()
		b := awsgrant.NewSSO(e.cfg, "", testLogger(t))
		if n := len(e.proxy.Calls("")); n != 0 {
			t.Fatalf("NewSSO made %d AWS calls, want none", n)
		}
		for range 2 {
			if _, err := b.Grant(t.Context(), g); err != nil {
				t.Fatalf("Grant: %v", err)
			}
		}
		if n := e.proxy.Count("ListInstances"); n != 1 {
			t.Errorf("two Grants sent %d ListInstances calls, want 1", n)
		}
		if _, err := b.Revoke(t.Context(), g); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
	})
	t.Run("configured", func(t *testing.T) {
		if _, err := awsgrant.NewSSO(e.cfg, e.instance, testLogger(t)).Grant(t.Context(), g); err != nil {
			t.Errorf("Grant with JIT_SSO_INSTANCE_ARN set: %v", err)
		}
		other := "arn:aws:sso:::instance/ssoins-0000000000000000"
		_, err := awsgrant.NewSSO(e.cfg, other, testLogger(t)).Grant(t.Context(), g)
		if err == nil || !strings.Contains(err.Error(), other+" (JIT_SSO_INSTANCE_ARN) is not among") {
			t.Errorf("Grant with an unknown JIT_SSO_INSTANCE_ARN = %v, want an error naming it", err)
		}
	})

	// moto always has exactly one instance; the rewriter shows none and two.
	rw, cfg := e.rewritten(t)
	t.Run("none", func(t *testing.T) {
		rw.Rewrite("ListInstances", func(body map[string]any) { body["Instances"] = []any{} })
		_, err := awsgrant.NewSSO(cfg, "", testLogger(t)).Grant(t.Context(), g)
		if err == nil || !strings.Contains(err.Error(), "no Identity Center instance") || !strings.Contains(err.Error(), "JIT_SSO_INSTANCE_ARN") {
			t.Errorf("Grant with no instance = %v, want an error saying so and naming JIT_SSO_INSTANCE_ARN", err)
		}
	})
	t.Run("two", func(t *testing.T) {
		rw.Rewrite("ListInstances", func(body map[string]any) {
			list := body["Instances"].([]any)
			second := map[string]any{"InstanceArn": "arn:aws:sso:::instance/ssoins-1111111111111111", "IdentityStoreId": "d-1111111111"}
			body["Instances"] = append(list, second)
		})
		_, err := awsgrant.NewSSO(cfg, "", testLogger(t)).Grant(t.Context(), g)
		if err == nil || !strings.Contains(err.Error(), "2 Identity Center instances") || !strings.Contains(err.Error(), "JIT_SSO_INSTANCE_ARN") {
			t.Errorf("Grant with two instances = %v, want an error saying so and naming JIT_SSO_INSTANCE_ARN", err)
		}
		if _, err := awsgrant.NewSSO(cfg, e.instance, testLogger(t)).Grant(t.Context(), g); err != nil {
			t.Errorf("Grant with two instances and JIT_SSO_INSTANCE_ARN set: %v", err)
		}
	})
}

// TestSSOGrantAgainWhileTheFirstRequestIsInProgress is a grant issued
// again by the next process after one killed while it followed its
// assignment request: AWS may not list the assignment until that request
// is done, and answers another CreateAccountAssignment for it with a
// ConflictException, which it says to retry with backoff. The grant
// waits for it instead of failing (the proxy hides the assignment from
// the first two listings and answers the first two creations with the
// conflict; moto never sees those).
func TestSSOGrantAgainWhileTheFirstRequestIsInProgress(t *testing.T) {
	e := newRewrittenSSO(t, "JitAgain", "gina@example.com")
	rw, b, psARN, id := e.rw, e.b, e.psARN, e.userID
	if _, err := e.admin.CreateAccountAssignment(t.Context(), &ssoadmin.CreateAccountAssignmentInput{ // the killed process's
		InstanceArn: aws.String(e.instance), PermissionSetArn: aws.String(psARN),
		TargetType: ssotypes.TargetTypeAwsAccount, TargetId: aws.String(motoAccount),
		PrincipalType: ssotypes.PrincipalTypeUser, PrincipalId: aws.String(id),
	}); err != nil {
		t.Fatal(err)
	}
	var hidden atomic.Int32
	hidden.Store(2)
	rw.Rewrite("ListAccountAssignments", func(body map[string]any) {
		if hidden.Add(-1) >= 0 {
			body["AccountAssignments"] = []any{}
		}
	})
	rw.ErrorNext("CreateAccountAssignment", 2, http.StatusBadRequest, "ConflictException")
	if _, err := b.Grant(t.Context(), ssoGrant("gina@example.com", motoAccount, "JitAgain")); err != nil {
		t.Fatalf("Grant while the first request is in progress: %v", err)
	}
	if n := rw.Count("CreateAccountAssignment"); n != 2 {
		t.Errorf("%d CreateAccountAssignment calls, want 2: one, and one retry after the conflict", n)
	}
	if n := e.proxy.Count("CreateAccountAssignment"); n != 0 {
		t.Errorf("%d CreateAccountAssignment calls reached moto, which would make a second copy", n)
	}
	if got := e.assignedUsers(t, motoAccount, psARN); !slices.Equal(got, []string{id}) {
		t.Errorf("assigned %v, want gina once", got)
	}

	// A conflict that never ends (the assignment never shows) is an error
	// once the status timeout passes.
	awsgrant.SetSSOPolling(b, 50*time.Millisecond, time.Millisecond, 4*time.Millisecond)
	rw.Rewrite("ListAccountAssignments", func(body map[string]any) { body["AccountAssignments"] = []any{} })
	rw.ErrorNext("CreateAccountAssignment", 1000, http.StatusBadRequest, "ConflictException")
	_, err := b.Grant(t.Context(), ssoGrant("gina@example.com", motoAccount, "JitAgain"))
	if err == nil || !strings.Contains(err.Error(), "ConflictException") || !strings.Contains(err.Error(), "50ms") {
		t.Errorf("Grant against a conflict that never ends = %v, want an error naming the conflict and the timeout", err)
	}
}

// TestSSORevokeAgainWhileTheFirstRemovalIsInProgress is the revocation's
// side: the next process revokes again while the killed one's
// DeleteAccountAssignment is under way. AWS still lists the assignment
// and answers the second removal with a ConflictException; once the
// first is done (here: the proxy lists nothing after the conflict) the
// revocation is finished, without a second removal reaching AWS.
func TestSSORevokeAgainWhileTheFirstRemovalIsInProgress(t *testing.T) {
	e := newRewrittenSSO(t, "JitGone", "hana@example.com")
	rw, b, g := e.rw, e.b, e.g
	if _, err := b.Grant(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	rw.ErrorNext("DeleteAccountAssignment", 1, http.StatusBadRequest, "ConflictException")
	rw.Rewrite("ListAccountAssignments", func(body map[string]any) {
		if rw.Count("DeleteAccountAssignment") > 0 {
			body["AccountAssignments"] = []any{}
		}
	})
	if _, err := b.Revoke(t.Context(), g); err != nil {
		t.Fatalf("Revoke while the first removal is in progress: %v", err)
	}
	if n := e.proxy.Count("DeleteAccountAssignment"); n != 0 {
		t.Errorf("%d DeleteAccountAssignment calls reached AWS, want none: the first removal was under way", n)
	}
}
