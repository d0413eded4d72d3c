package awsgrant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/wait"
)

// SSO is the aws_sso backend: a grant is an Identity Center account
// assignment of the permission set in g.Target (grants.SSOTarget) to the
// Identity Center user g.Principal. It hands out no credentials: the user
// signs in through the access portal as usual and finds the account there.
type SSO struct {
	ic  *identityCenter
	log *slog.Logger

	// Assignments are asynchronous in AWS. statusTimeout bounds how long
	// one is followed; the polls back off from firstPoll to maxPoll.
	statusTimeout      time.Duration
	firstPoll, maxPoll time.Duration

	mu sync.Mutex
	// permissionSets caches what a catalog's permission set name or ARN
	// resolved to: names never change in Identity Center, and a grant
	// needs the ARN on every call.
	permissionSets map[string]string
}

var (
	_ grants.Backend = (*SSO)(nil)
	_ grants.Lister  = (*SSO)(nil)
)

// NewSSO returns the aws_sso backend for the Identity Center instance
// instanceARN, or for the only instance the account sees when it is
// empty. It does no I/O: the instance is looked up on first use.
func NewSSO(cfg aws.Config, instanceARN string, log *slog.Logger) *SSO {
	return &SSO{
		ic:             newIdentityCenter(cfg, instanceARN),
		log:            log,
		statusTimeout:  60 * time.Second,
		firstPoll:      100 * time.Millisecond,
		maxPoll:        2 * time.Second,
		permissionSets: map[string]string{},
	}
}

// assignment is one account assignment, resolved to what the API takes.
type assignment struct {
	inst          ssoInstance
	account       string
	permissionSet string // ARN
	user          string // user ID
}

func (a assignment) createInput() *ssoadmin.CreateAccountAssignmentInput {
	return &ssoadmin.CreateAccountAssignmentInput{
		InstanceArn: aws.String(a.inst.arn), PermissionSetArn: aws.String(a.permissionSet),
		TargetType: ssotypes.TargetTypeAwsAccount, TargetId: aws.String(a.account),
		PrincipalType: ssotypes.PrincipalTypeUser, PrincipalId: aws.String(a.user),
	}
}

func (a assignment) deleteInput() *ssoadmin.DeleteAccountAssignmentInput {
	return &ssoadmin.DeleteAccountAssignmentInput{
		InstanceArn: aws.String(a.inst.arn), PermissionSetArn: aws.String(a.permissionSet),
		TargetType: ssotypes.TargetTypeAwsAccount, TargetId: aws.String(a.account),
		PrincipalType: ssotypes.PrincipalTypeUser, PrincipalId: aws.String(a.user),
	}
}

// Grant assigns the permission set in the account to the user and waits
// until Identity Center reports the assignment done. An assignment that
// already exists is success, so a Grant retried after a crash finishes
// instead of failing, and granting twice is one assignment. A missing
// user, permission set or malformed target is an error wrapping
// grants.ErrInvalidTarget that names what is missing.
func (b *SSO) Grant(ctx context.Context, g grants.Grant) (grants.Issued, error) {
	a, err := b.resolve(ctx, g)
	if err != nil {
		return grants.Issued{}, err
	}
	log := b.log.With("request_id", g.RequestID, "account", a.account, "permission_set", a.permissionSet, "user", g.Principal)
	out, reqID, err := b.create(ctx, a)
	if err != nil {
		return grants.Issued{}, fmt.Errorf("assign permission set %s in account %s to %s: %w", a.permissionSet, a.account, g.Principal, err)
	}
	if out == nil {
		log.InfoContext(ctx, "permission set already assigned", "aws_request_id", reqID)
		return grants.Issued{AWSRequestID: reqID}, nil
	}
	reqID = requestID(out.ResultMetadata)
	err = b.await(ctx, "assignment", out.AccountAssignmentCreationStatus, b.creationStatus(a))
	if errors.Is(err, errAssignmentFailed) {
		// A concurrent grant of the same assignment can make ours fail
		// while the assignment stands; only its absence is a failure.
		return b.confirmAssigned(ctx, log, a, err)
	}
	if err != nil {
		return grants.Issued{}, fmt.Errorf("assign permission set %s in account %s to %s: %w", a.permissionSet, a.account, g.Principal, err)
	}
	log.InfoContext(ctx, "assigned permission set", "aws_request_id", reqID)
	return grants.Issued{AWSRequestID: reqID}, nil
}

// create calls CreateAccountAssignment unless the assignment exists,
// when it returns no output and the request ID of the listing that showed
// it. Checking first matters: CreateAccountAssignment is not idempotent
// everywhere (moto records a second copy), and an existing assignment
// needs no asynchronous request to follow.
func (b *SSO) create(ctx context.Context, a assignment) (out *ssoadmin.CreateAccountAssignmentOutput, reqID string, err error) {
	_, reqID, err = b.retryConflicts(ctx,
		func() (bool, string, error) { return b.assigned(ctx, a) },
		func() (err error) {
			out, err = b.ic.admin.CreateAccountAssignment(ctx, a.createInput())
			return err
		})
	return out, reqID, err
}

// retryConflicts makes an assignment change: it calls attempt unless
// settled says the assignment already is as wanted (returning true and
// the request ID of the call that said so), and again while attempt meets
// a ConflictException.
//
// A conflict means another request for the same assignment is under way:
// a concurrent grant's, or that of a process killed while it followed its
// own, whose record this call finishes. AWS may list the assignment as
// it was until that request is done, and says to retry the conflict with
// backoff; failing instead would fail a grant that is about to exist, or
// retry a revocation on the scheduler's slower clock. So it backs off as
// await polls, checking settled before each retry, for at most
// statusTimeout.
func (b *SSO) retryConflicts(ctx context.Context, settled func() (bool, string, error), attempt func() error) (bool, string, error) {
	deadline := time.Now().Add(b.statusTimeout)
	delay := b.firstPoll
	for {
		done, reqID, err := settled()
		if err != nil || done {
			return done, reqID, err
		}
		err = attempt()
		var conflict *ssotypes.ConflictException
		if !errors.As(err, &conflict) {
			return false, "", err
		}
		if time.Now().Add(delay).After(deadline) {
			return false, "", fmt.Errorf("another request for the assignment still under way after %v: %w", b.statusTimeout, err)
		}
		if serr := wait.Sleep(ctx, delay); serr != nil {
			return false, "", fmt.Errorf("another request for the assignment under way: %w (%w)", err, serr)
		}
		delay = min(2*delay, b.maxPoll)
	}
}

// confirmAssigned turns a failed CreateAccountAssignment request into
// success when the assignment is there after all.
func (b *SSO) confirmAssigned(ctx context.Context, log *slog.Logger, a assignment, cause error) (grants.Issued, error) {
	present, reqID, err := b.assigned(ctx, a)
	if err != nil {
		return grants.Issued{}, fmt.Errorf("assign permission set %s in account %s: %w (and checking for the assignment: %v)", a.permissionSet, a.account, cause, err)
	}
	if !present {
		return grants.Issued{}, fmt.Errorf("assign permission set %s in account %s: %w", a.permissionSet, a.account, cause)
	}
	log.InfoContext(ctx, "permission set assigned by an earlier request", "aws_request_id", reqID, "create_error", cause)
	return grants.Issued{AWSRequestID: reqID}, nil
}

// Revoke removes the assignment and waits until Identity Center reports
// it gone. An assignment already gone, or a user, permission set or
// target that no longer exists, counts as revoked, so the scheduler can
// retry after a crash and revoke after a failed grant.
func (b *SSO) Revoke(ctx context.Context, g grants.Grant) (grants.Revocation, error) {
	a, err := b.resolve(ctx, g)
	if errors.Is(err, grants.ErrInvalidTarget) {
		b.log.InfoContext(ctx, "nothing to revoke", "request_id", g.RequestID, "target", g.Target, "user", g.Principal, "reason", err)
		return grants.Revocation{}, nil
	}
	if err != nil {
		return grants.Revocation{}, err
	}
	log := b.log.With("request_id", g.RequestID, "account", a.account, "permission_set", a.permissionSet, "user", g.Principal)
	var out *ssoadmin.DeleteAccountAssignmentOutput
	gone, reqID, err := b.retryConflicts(ctx,
		func() (bool, string, error) {
			present, reqID, err := b.assigned(ctx, a)
			return !present, reqID, err
		},
		func() (err error) {
			out, err = b.ic.admin.DeleteAccountAssignment(ctx, a.deleteInput())
			return err
		})
	if gone {
		log.InfoContext(ctx, "permission set already not assigned", "aws_request_id", reqID)
		return grants.Revocation{}, nil
	}
	var nf *ssotypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		log.InfoContext(ctx, "permission set already not assigned")
		return grants.Revocation{}, nil
	}
	if err != nil {
		return grants.Revocation{}, fmt.Errorf("remove assignment of permission set %s in account %s from %s: %w", a.permissionSet, a.account, g.Principal, err)
	}
	reqID = requestID(out.ResultMetadata)
	err = b.await(ctx, "removal of the assignment", out.AccountAssignmentDeletionStatus, b.deletionStatus(a))
	if errors.Is(err, errAssignmentFailed) {
		// Gone is gone, whoever removed it.
		if present, _, lerr := b.assigned(ctx, a); lerr == nil && !present {
			log.InfoContext(ctx, "permission set no longer assigned", "aws_request_id", reqID, "delete_error", err)
			return grants.Revocation{}, nil
		}
	}
	if err != nil {
		return grants.Revocation{}, fmt.Errorf("remove assignment of permission set %s in account %s from %s: %w", a.permissionSet, a.account, g.Principal, err)
	}
	log.InfoContext(ctx, "removed permission set assignment", "aws_request_id", reqID)
	return grants.Revocation{AWSRequestID: reqID}, nil
}

// Cleanup does nothing: removing the assignment leaves nothing behind.
func (b *SSO) Cleanup(context.Context, grants.Grant) error { return nil }

// Members lists the user names assigned the permission set in the account
// of target (grants.SSOTarget), for reconciliation. Group assignments are
// left out: jitbot grants to users only. Users deleted since they were
// assigned have no name to report and are left out too.
func (b *SSO) Members(ctx context.Context, target string) ([]string, error) {
	inst, err := b.ic.instance(ctx)
	if err != nil {
		return nil, err
	}
	account, psARN, err := b.target(ctx, inst, target)
	if err != nil {
		return nil, err
	}
	var users []string
	pages := ssoadmin.NewListAccountAssignmentsPaginator(b.ic.admin, &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(inst.arn), AccountId: aws.String(account), PermissionSetArn: aws.String(psARN),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list assignments of permission set %s in account %s: %w", psARN, account, err)
		}
		for _, as := range page.AccountAssignments {
			if as.PrincipalType != ssotypes.PrincipalTypeUser {
				continue
			}
			name, ok, err := b.ic.userName(ctx, inst, aws.ToString(as.PrincipalId))
			if err != nil {
				return nil, err
			}
			if !ok {
				b.log.WarnContext(ctx, "assigned user no longer exists", "account", account, "permission_set", psARN, "user_id", aws.ToString(as.PrincipalId))
				continue
			}
			users = append(users, name)
		}
	}
	return users, nil
}

// resolve turns a grant into the IDs and ARNs the assignment API takes.
func (b *SSO) resolve(ctx context.Context, g grants.Grant) (assignment, error) {
	inst, err := b.ic.instance(ctx)
	if err != nil {
		return assignment{}, err
	}
	account, psARN, err := b.target(ctx, inst, g.Target)
	if err != nil {
		return assignment{}, err
	}
	user, err := b.ic.userID(ctx, inst, g.Principal)
	if err != nil {
		return assignment{}, err
	}
	return assignment{inst: inst, account: account, permissionSet: psARN, user: user}, nil
}

// assigned reports whether the assignment exists, with the request ID of
// the call that said so.
func (b *SSO) assigned(ctx context.Context, a assignment) (bool, string, error) {
	var reqID string
	pages := ssoadmin.NewListAccountAssignmentsPaginator(b.ic.admin, &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(a.inst.arn), AccountId: aws.String(a.account), PermissionSetArn: aws.String(a.permissionSet),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, "", fmt.Errorf("list assignments of permission set %s in account %s: %w", a.permissionSet, a.account, err)
		}
		reqID = requestID(page.ResultMetadata)
		for _, as := range page.AccountAssignments {
			if as.PrincipalType == ssotypes.PrincipalTypeUser && aws.ToString(as.PrincipalId) == a.user {
				return true, reqID, nil
			}
		}
	}
	return false, reqID, nil
}
