package awsgrant

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"

	"github.com/jitbot/jitbot/internal/grants"
)

// identityCenter is what both Identity Center backends share: the clients,
// and the instance and identity store they work in, found on first use.
type identityCenter struct {
	admin *ssoadmin.Client
	store *identitystore.Client
	// configured is JIT_SSO_INSTANCE_ARN; empty means "the only instance".
	configured string

	mu       sync.Mutex
	resolved *ssoInstance
}

// ssoInstance is an Identity Center instance and its identity store.
type ssoInstance struct {
	arn     string
	storeID string
}

func newIdentityCenter(cfg aws.Config, instanceARN string) *identityCenter {
	return &identityCenter{admin: ssoadmin.NewFromConfig(cfg), store: identitystore.NewFromConfig(cfg), configured: instanceARN}
}

// instance returns the instance jitbot works in. It asks AWS only until it
// has an answer: the instance and its identity store do not change while
// jitbot runs. Two first calls at once may both ask; that is harmless,
// and better than making one wait on the other's network call.
func (c *identityCenter) instance(ctx context.Context) (ssoInstance, error) {
	c.mu.Lock()
	cached := c.resolved
	c.mu.Unlock()
	if cached != nil {
		return *cached, nil
	}
	inst, err := c.findInstance(ctx)
	if err != nil {
		return ssoInstance{}, err
	}
	c.mu.Lock()
	c.resolved = &inst
	c.mu.Unlock()
	return inst, nil
}

// findInstance reads ListInstances: the configured instance, or the only
// one there is. The identity store ID comes with it either way.
func (c *identityCenter) findInstance(ctx context.Context) (ssoInstance, error) {
	var found []ssoInstance
	pages := ssoadmin.NewListInstancesPaginator(c.admin, &ssoadmin.ListInstancesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return ssoInstance{}, fmt.Errorf("list Identity Center instances: %w", err)
		}
		for _, in := range page.Instances {
			found = append(found, ssoInstance{arn: aws.ToString(in.InstanceArn), storeID: aws.ToString(in.IdentityStoreId)})
		}
	}
	if c.configured != "" {
		for _, in := range found {
			if in.arn == c.configured {
				return in, nil
			}
		}
		return ssoInstance{}, fmt.Errorf("Identity Center instance %s (JIT_SSO_INSTANCE_ARN) is not among the %d instances this account sees", c.configured, len(found))
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return ssoInstance{}, errors.New("this account sees no Identity Center instance; enable Identity Center or set JIT_SSO_INSTANCE_ARN")
	}
	arns := make([]string, len(found))
	for i, in := range found {
		arns[i] = in.arn
	}
	return ssoInstance{}, fmt.Errorf("this account sees %d Identity Center instances (%v); set JIT_SSO_INSTANCE_ARN to the one jitbot should use", len(found), arns)
}

// userID finds an Identity Center user by user name. A user who does not
// exist is an error wrapping grants.ErrInvalidTarget, worded for the
// requester.
func (c *identityCenter) userID(ctx context.Context, inst ssoInstance, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: the grant names no Identity Center user", grants.ErrInvalidTarget)
	}
	out, err := c.store.GetUserId(ctx, &identitystore.GetUserIdInput{
		IdentityStoreId: aws.String(inst.storeID),
		AlternateIdentifier: &idtypes.AlternateIdentifierMemberUniqueAttribute{Value: idtypes.UniqueAttribute{
			AttributePath:  aws.String("userName"),
			AttributeValue: documentString(name),
		}},
	})
	var nf *idtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "", fmt.Errorf("%w: no Identity Center user %q in identity store %s", grants.ErrInvalidTarget, name, inst.storeID)
	}
	if err != nil {
		return "", fmt.Errorf("find Identity Center user %s: %w", name, err)
	}
	return aws.ToString(out.UserId), nil
}

// groupID finds an Identity Center group by display name. A group that
// does not exist is an error wrapping grants.ErrInvalidTarget.
func (c *identityCenter) groupID(ctx context.Context, inst ssoInstance, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: the grant names no Identity Center group", grants.ErrInvalidTarget)
	}
	out, err := c.store.GetGroupId(ctx, &identitystore.GetGroupIdInput{
		IdentityStoreId: aws.String(inst.storeID),
		AlternateIdentifier: &idtypes.AlternateIdentifierMemberUniqueAttribute{Value: idtypes.UniqueAttribute{
			AttributePath:  aws.String("displayName"),
			AttributeValue: documentString(name),
		}},
	})
	var nf *idtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "", fmt.Errorf("%w: no Identity Center group %q in identity store %s", grants.ErrInvalidTarget, name, inst.storeID)
	}
	if err != nil {
		return "", fmt.Errorf("find Identity Center group %s: %w", name, err)
	}
	return aws.ToString(out.GroupId), nil
}

// userName is the user name of a user ID, for reconciliation, which names
// members as grants do. ok is false when the user no longer exists.
func (c *identityCenter) userName(ctx context.Context, inst ssoInstance, id string) (name string, ok bool, err error) {
	out, err := c.store.DescribeUser(ctx, &identitystore.DescribeUserInput{IdentityStoreId: aws.String(inst.storeID), UserId: aws.String(id)})
	var nf *idtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("describe Identity Center user %s: %w", id, err)
	}
	return aws.ToString(out.UserName), true, nil
}

// documentString is a string as the identity store's attribute values take
// it: a JSON document.
func documentString(s string) document.Interface { return document.NewLazyDocument(s) }
