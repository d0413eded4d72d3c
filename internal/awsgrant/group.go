package awsgrant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/jitbot/jitbot/internal/grants"
)

// Group is the aws_iam_group backend: a grant is membership of the IAM user
// g.Principal in the group g.Target. It needs iam:AddUserToGroup,
// iam:RemoveUserFromGroup, iam:GetGroup and iam:GetUser.
type Group struct {
	iam *iam.Client
	log *slog.Logger
}

var _ grants.Backend = (*Group)(nil)

// NewGroup returns the aws_iam_group backend.
func NewGroup(cfg aws.Config, log *slog.Logger) *Group {
	return &Group{iam: iam.NewFromConfig(cfg), log: log}
}

// Grant adds the user to the group. Adding a member twice is one
// membership. A user or group that does not exist is an error wrapping
// grants.ErrInvalidTarget that names which one is missing.
func (b *Group) Grant(ctx context.Context, g grants.Grant) (grants.Issued, error) {
	in, err := addInput(g)
	if err != nil {
		return grants.Issued{}, err
	}
	out, err := b.iam.AddUserToGroup(ctx, in)
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return grants.Issued{}, b.missing(ctx, g.Principal, g.Target)
	}
	if err != nil {
		return grants.Issued{}, fmt.Errorf("add %s to group %s: %w", g.Principal, g.Target, err)
	}
	reqID := requestID(out.ResultMetadata)
	b.log.InfoContext(ctx, "added user to group", "request_id", g.RequestID, "user", g.Principal, "group", g.Target, "aws_request_id", reqID)
	return grants.Issued{AWSRequestID: reqID}, nil
}

// Revoke removes the user from the group. A user who is already not a
// member, or a user or group that no longer exists, counts as removed, so
// the scheduler can safely retry after a crash.
func (b *Group) Revoke(ctx context.Context, g grants.Grant) (grants.Revocation, error) {
	in := removeInput(g)
	if in == nil {
		return grants.Revocation{}, nil
	}
	out, err := b.iam.RemoveUserFromGroup(ctx, in)
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		b.log.InfoContext(ctx, "user already not in group", "request_id", g.RequestID, "user", g.Principal, "group", g.Target)
		return grants.Revocation{}, nil
	}
	if err != nil {
		return grants.Revocation{}, fmt.Errorf("remove %s from group %s: %w", g.Principal, g.Target, err)
	}
	reqID := requestID(out.ResultMetadata)
	b.log.InfoContext(ctx, "removed user from group", "request_id", g.RequestID, "user", g.Principal, "group", g.Target, "aws_request_id", reqID)
	return grants.Revocation{AWSRequestID: reqID}, nil
}

// addInput is the AddUserToGroup call that issues g. Grant sends it;
// DryRun shows it.
func addInput(g grants.Grant) (*iam.AddUserToGroupInput, error) {
	if g.Principal == "" || g.Target == "" {
		return nil, fmt.Errorf("%w: the grant names no IAM user or group (user %q, group %q)", grants.ErrInvalidTarget, g.Principal, g.Target)
	}
	return &iam.AddUserToGroupInput{GroupName: aws.String(g.Target), UserName: aws.String(g.Principal)}, nil
}

// removeInput is the RemoveUserFromGroup call that ends g, or nil when g
// names no user or group: Grant refuses those before calling AWS.
func removeInput(g grants.Grant) *iam.RemoveUserFromGroupInput {
	if g.Principal == "" || g.Target == "" {
		return nil
	}
	return &iam.RemoveUserFromGroupInput{GroupName: aws.String(g.Target), UserName: aws.String(g.Principal)}
}

// Cleanup does nothing: removing the member leaves nothing behind.
func (b *Group) Cleanup(context.Context, grants.Grant) error { return nil }

// Members lists the IAM user names in group, for reconciliation. A group
// that does not exist is an error wrapping grants.ErrInvalidTarget.
func (b *Group) Members(ctx context.Context, group string) ([]string, error) {
	var users []string
	pages := iam.NewGetGroupPaginator(b.iam, &iam.GetGroupInput{GroupName: aws.String(group)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		var nse *iamtypes.NoSuchEntityException
		if errors.As(err, &nse) {
			return nil, fmt.Errorf("%w: IAM group %q does not exist", grants.ErrInvalidTarget, group)
		}
		if err != nil {
			return nil, fmt.Errorf("list members of group %s: %w", group, err)
		}
		for _, u := range page.Users {
			users = append(users, aws.ToString(u.UserName))
		}
	}
	return users, nil
}

// missing names what AddUserToGroup found missing. IAM's NoSuchEntity does
// not say whether it was the user or the group, and the requester needs to
// know which one to ask for.
func (b *Group) missing(ctx context.Context, user, group string) error {
	var nse *iamtypes.NoSuchEntityException
	_, uerr := b.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	_, gerr := b.iam.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String(group), MaxItems: aws.Int32(1)})
	userGone, groupGone := errors.As(uerr, &nse), errors.As(gerr, &nse)
	switch {
	case userGone && groupGone:
		return fmt.Errorf("%w: IAM user %q and IAM group %q do not exist", grants.ErrInvalidTarget, user, group)
	case userGone:
		return fmt.Errorf("%w: IAM user %q does not exist", grants.ErrInvalidTarget, user)
	case groupGone:
		return fmt.Errorf("%w: IAM group %q does not exist", grants.ErrInvalidTarget, group)
	}
	return fmt.Errorf("%w: IAM user %q or group %q does not exist", grants.ErrInvalidTarget, user, group)
}
