package awsgrant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/wait"
)

// errAssignmentFailed marks an assignment request that Identity Center
// reports FAILED, as opposed to one jitbot could not follow.
var errAssignmentFailed = errors.New("Identity Center reports the request failed")

// isARN tells a permission set ARN (arn:aws:sso:::permissionSet/...) from
// a name, which cannot contain ':'. Any ARN counts, not only that form:
// moto writes arn:aws:sso:::instance/.../ps-..., and a GovCloud or China
// partition starts differently.
func isARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// target splits an aws_sso target into the account and the permission
// set's ARN. A malformed target, an account ID that is not one, and a
// permission set the instance does not have are errors wrapping
// grants.ErrInvalidTarget.
func (b *SSO) target(ctx context.Context, inst ssoInstance, target string) (account, psARN string, err error) {
	account, ps, err := grants.ParseSSOTarget(target)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", grants.ErrInvalidTarget, err)
	}
	if !isAccountID(account) {
		return "", "", fmt.Errorf("%w: aws_sso target %q: %q is not an AWS account ID (12 digits)", grants.ErrInvalidTarget, target, account)
	}
	psARN, err = b.permissionSet(ctx, inst, ps)
	return account, psARN, err
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// permissionSet resolves a permission set name to its ARN, or checks that
// an ARN names one of the instance's permission sets, and remembers the
// answer.
func (b *SSO) permissionSet(ctx context.Context, inst ssoInstance, nameOrARN string) (string, error) {
	b.mu.Lock()
	arn, ok := b.permissionSets[nameOrARN]
	b.mu.Unlock()
	if ok {
		return arn, nil
	}
	var err error
	if isARN(nameOrARN) {
		arn, err = b.checkPermissionSet(ctx, inst, nameOrARN)
	} else {
		arn, err = b.findPermissionSet(ctx, inst, nameOrARN)
	}
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.permissionSets[nameOrARN] = arn
	b.mu.Unlock()
	return arn, nil
}

// checkPermissionSet makes sure arn is a permission set of the instance:
// CreateAccountAssignment would only find out asynchronously, and the
// requester is better told at once.
func (b *SSO) checkPermissionSet(ctx context.Context, inst ssoInstance, arn string) (string, error) {
	_, err := b.ic.admin.DescribePermissionSet(ctx, &ssoadmin.DescribePermissionSetInput{InstanceArn: aws.String(inst.arn), PermissionSetArn: aws.String(arn)})
	var nf *ssotypes.ResourceNotFoundException
	var invalid *ssotypes.ValidationException
	switch {
	case errors.As(err, &nf), errors.As(err, &invalid):
		return "", fmt.Errorf("%w: no permission set %s in Identity Center instance %s", grants.ErrInvalidTarget, arn, inst.arn)
	case err != nil:
		return "", fmt.Errorf("describe permission set %s: %w", arn, err)
	}
	return arn, nil
}

// findPermissionSet looks a permission set up by name. Identity Center
// has no lookup by name, so it describes the instance's permission sets
// until one has it.
func (b *SSO) findPermissionSet(ctx context.Context, inst ssoInstance, name string) (string, error) {
	pages := ssoadmin.NewListPermissionSetsPaginator(b.ic.admin, &ssoadmin.ListPermissionSetsInput{InstanceArn: aws.String(inst.arn)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list permission sets of %s: %w", inst.arn, err)
		}
		for _, arn := range page.PermissionSets {
			out, err := b.ic.admin.DescribePermissionSet(ctx, &ssoadmin.DescribePermissionSetInput{InstanceArn: aws.String(inst.arn), PermissionSetArn: aws.String(arn)})
			if err != nil {
				return "", fmt.Errorf("describe permission set %s: %w", arn, err)
			}
			if out.PermissionSet != nil && aws.ToString(out.PermissionSet.Name) == name {
				return arn, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no permission set named %q in Identity Center instance %s", grants.ErrInvalidTarget, name, inst.arn)
}

// statusFunc fetches the current status of an assignment request.
type statusFunc func(ctx context.Context, requestID string) (*ssotypes.AccountAssignmentOperationStatus, error)

func (b *SSO) creationStatus(a assignment) statusFunc {
	return func(ctx context.Context, id string) (*ssotypes.AccountAssignmentOperationStatus, error) {
		out, err := b.ic.admin.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn: aws.String(a.inst.arn), AccountAssignmentCreationRequestId: aws.String(id),
		})
		if err != nil {
			return nil, err
		}
		return out.AccountAssignmentCreationStatus, nil
	}
}

func (b *SSO) deletionStatus(a assignment) statusFunc {
	return func(ctx context.Context, id string) (*ssotypes.AccountAssignmentOperationStatus, error) {
		out, err := b.ic.admin.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{
			InstanceArn: aws.String(a.inst.arn), AccountAssignmentDeletionRequestId: aws.String(id),
		})
		if err != nil {
			return nil, err
		}
		return out.AccountAssignmentDeletionStatus, nil
	}
}

// await follows an assignment request from its first status until it
// succeeds or fails, polling with a doubling delay, for at most
// statusTimeout and never past ctx. FAILED is an error wrapping
// errAssignmentFailed with AWS's reason.
func (b *SSO) await(ctx context.Context, what string, st *ssotypes.AccountAssignmentOperationStatus, status statusFunc) error {
	deadline := time.Now().Add(b.statusTimeout)
	delay := b.firstPoll
	for {
		if st == nil {
			return fmt.Errorf("%s: AWS returned no request status", what)
		}
		id := aws.ToString(st.RequestId)
		switch st.Status {
		case ssotypes.StatusValuesSucceeded:
			return nil
		case ssotypes.StatusValuesFailed:
			return fmt.Errorf("%s (request %s): %w: %s", what, id, errAssignmentFailed, aws.ToString(st.FailureReason))
		}
		if time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("%s (request %s) still %s after %v; it may yet finish", what, id, st.Status, b.statusTimeout)
		}
		if err := wait.Sleep(ctx, delay); err != nil {
			return fmt.Errorf("%s (request %s) still %s: %w", what, id, st.Status, err)
		}
		next, err := status(ctx, id)
		if err != nil {
			return fmt.Errorf("%s: follow request %s: %w", what, id, err)
		}
		st = next
		delay = min(2*delay, b.maxPoll)
	}
}
