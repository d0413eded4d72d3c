package awsgrant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"

	"github.com/jitbot/jitbot/internal/grants"
)

// SSOGroup is the aws_sso_group backend: a grant is membership of the
// Identity Center user g.Principal in the Identity Center group named
// g.Target (its display name).
type SSOGroup struct {
	ic  *identityCenter
	log *slog.Logger
}

var (
	_ grants.Backend = (*SSOGroup)(nil)
	_ grants.Lister  = (*SSOGroup)(nil)
)

// NewSSOGroup returns the aws_sso_group backend for the Identity Center
// instance instanceARN, or for the only instance the account sees when it
// is empty. It does no I/O: the instance is looked up on first use.
func NewSSOGroup(cfg aws.Config, instanceARN string, log *slog.Logger) *SSOGroup {
	return &SSOGroup{ic: newIdentityCenter(cfg, instanceARN), log: log}
}

// Grant adds the user to the group. A membership that already exists is
// success. A missing user or group is an error wrapping
// grants.ErrInvalidTarget that names which one is missing.
func (b *SSOGroup) Grant(ctx context.Context, g grants.Grant) (grants.Issued, error) {
	inst, err := b.ic.instance(ctx)
	if err != nil {
		return grants.Issued{}, err
	}
	group, user, err := b.resolve(ctx, inst, g)
	if err != nil {
		return grants.Issued{}, err
	}
	log := b.log.With("request_id", g.RequestID, "user", g.Principal, "group", g.Target)
	// Check first: CreateGroupMembership is not idempotent everywhere
	// (moto records a second membership where AWS says ConflictException).
	ids, reqID, err := b.memberships(ctx, inst, group, user)
	if err != nil {
		return grants.Issued{}, err
	}
	if len(ids) > 0 {
		log.InfoContext(ctx, "user already in Identity Center group", "aws_request_id", reqID)
		return grants.Issued{AWSRequestID: reqID}, nil
	}
	out, err := b.ic.store.CreateGroupMembership(ctx, &identitystore.CreateGroupMembershipInput{
		IdentityStoreId: aws.String(inst.storeID), GroupId: aws.String(group), MemberId: &idtypes.MemberIdMemberUserId{Value: user},
	})
	var conflict *idtypes.ConflictException
	if errors.As(err, &conflict) {
		log.InfoContext(ctx, "user already in Identity Center group", "create_error", err)
		return grants.Issued{}, nil
	}
	if err != nil {
		return grants.Issued{}, fmt.Errorf("add %s to Identity Center group %s: %w", g.Principal, g.Target, err)
	}
	reqID = requestID(out.ResultMetadata)
	log.InfoContext(ctx, "added user to Identity Center group", "membership_id", aws.ToString(out.MembershipId), "aws_request_id", reqID)
	return grants.Issued{AWSRequestID: reqID}, nil
}

// resolve finds the group and user IDs of g. When either is missing the
// error names every one that is, so the requester knows what to ask for.
func (b *SSOGroup) resolve(ctx context.Context, inst ssoInstance, g grants.Grant) (group, user string, err error) {
	group, gerr := b.ic.groupID(ctx, inst, g.Target)
	user, uerr := b.ic.userID(ctx, inst, g.Principal)
	if gerr != nil && uerr != nil && errors.Is(gerr, grants.ErrInvalidTarget) && errors.Is(uerr, grants.ErrInvalidTarget) {
		return "", "", fmt.Errorf("%w: no Identity Center user %q and no group %q in identity store %s", grants.ErrInvalidTarget, g.Principal, g.Target, inst.storeID)
	}
	if gerr != nil {
		return "", "", gerr
	}
	return group, user, uerr
}

// Revoke removes the user from the group. A user who is already not a
// member, or a user or group that no longer exists, counts as removed, so
// the scheduler can safely retry after a crash.
func (b *SSOGroup) Revoke(ctx context.Context, g grants.Grant) (grants.Revocation, error) {
	inst, err := b.ic.instance(ctx)
	if err != nil {
		return grants.Revocation{}, err
	}
	group, user, err := b.resolve(ctx, inst, g)
	if errors.Is(err, grants.ErrInvalidTarget) {
		b.log.InfoContext(ctx, "nothing to revoke", "request_id", g.RequestID, "user", g.Principal, "group", g.Target, "reason", err)
		return grants.Revocation{}, nil
	}
	if err != nil {
		return grants.Revocation{}, err
	}
	log := b.log.With("request_id", g.RequestID, "user", g.Principal, "group", g.Target)
	ids, reqID, err := b.memberships(ctx, inst, group, user)
	if err != nil {
		return grants.Revocation{}, err
	}
	if len(ids) == 0 {
		log.InfoContext(ctx, "user already not in Identity Center group", "aws_request_id", reqID)
		return grants.Revocation{}, nil
	}
	// Every one: an emulator, or a race with someone else's console
	// click, may have left two memberships for one user.
	for _, id := range ids {
		out, err := b.ic.store.DeleteGroupMembership(ctx, &identitystore.DeleteGroupMembershipInput{IdentityStoreId: aws.String(inst.storeID), MembershipId: aws.String(id)})
		var nf *idtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			continue
		}
		if err != nil {
			return grants.Revocation{}, fmt.Errorf("remove %s from Identity Center group %s: %w", g.Principal, g.Target, err)
		}
		reqID = requestID(out.ResultMetadata)
	}
	log.InfoContext(ctx, "removed user from Identity Center group", "aws_request_id", reqID)
	return grants.Revocation{AWSRequestID: reqID}, nil
}

// Cleanup does nothing: removing the member leaves nothing behind.
func (b *SSOGroup) Cleanup(context.Context, grants.Grant) error { return nil }

// memberships lists the IDs of user's memberships in group, with the
// request ID of the last call. It reads the user's memberships rather
// than asking GetGroupMembershipId: moto 5.2.1 does not serve that call,
// and a user is in few groups, so this is one call in AWS as well.
func (b *SSOGroup) memberships(ctx context.Context, inst ssoInstance, group, user string) (ids []string, reqID string, err error) {
	pages := identitystore.NewListGroupMembershipsForMemberPaginator(b.ic.store, &identitystore.ListGroupMembershipsForMemberInput{
		IdentityStoreId: aws.String(inst.storeID), MemberId: &idtypes.MemberIdMemberUserId{Value: user},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("list Identity Center groups of user %s: %w", user, err)
		}
		reqID = requestID(page.ResultMetadata)
		for _, m := range page.GroupMemberships {
			if aws.ToString(m.GroupId) == group {
				ids = append(ids, aws.ToString(m.MembershipId))
			}
		}
	}
	return ids, reqID, nil
}

// Members lists the user names in the Identity Center group named group,
// for reconciliation. A group that does not exist is an error wrapping
// grants.ErrInvalidTarget. Nested members that are not users, and users
// deleted since, are left out.
func (b *SSOGroup) Members(ctx context.Context, group string) ([]string, error) {
	inst, err := b.ic.instance(ctx)
	if err != nil {
		return nil, err
	}
	id, err := b.ic.groupID(ctx, inst, group)
	if err != nil {
		return nil, err
	}
	var users []string
	pages := identitystore.NewListGroupMembershipsPaginator(b.ic.store, &identitystore.ListGroupMembershipsInput{IdentityStoreId: aws.String(inst.storeID), GroupId: aws.String(id)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list members of Identity Center group %s: %w", group, err)
		}
		for _, m := range page.GroupMemberships {
			member, ok := m.MemberId.(*idtypes.MemberIdMemberUserId)
			if !ok {
				continue
			}
			name, ok, err := b.ic.userName(ctx, inst, member.Value)
			if err != nil {
				return nil, err
			}
			if !ok {
				b.log.WarnContext(ctx, "group member no longer exists", "group", group, "user_id", member.Value)
				continue
			}
			users = append(users, name)
		}
	}
	return users, nil
}
