package testenv

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// Organization is an AWS organization in moto, for tests of the
// organizational units of aws_sso roles.
type Organization struct {
	Client *organizations.Client
	Root   string // the root's ID, r-…
}

// CreateOrganization creates the organization of moto's account and
// finds its root.
func CreateOrganization(t testing.TB, cfg aws.Config) *Organization {
	t.Helper()
	o := &Organization{Client: organizations.NewFromConfig(cfg)}
	if _, err := o.Client.CreateOrganization(t.Context(), &organizations.CreateOrganizationInput{FeatureSet: types.OrganizationFeatureSetAll}); err != nil {
		t.Fatalf("create the organization: %v", err)
	}
	roots, err := o.Client.ListRoots(t.Context(), &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("the organization's root: %v, %v", roots, err)
	}
	o.Root = aws.ToString(roots.Roots[0].Id)
	return o
}

// OU creates an organizational unit in parent and returns its ID.
func (o *Organization) OU(t testing.TB, parent, name string) string {
	t.Helper()
	out, err := o.Client.CreateOrganizationalUnit(t.Context(), &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(parent), Name: aws.String(name)})
	if err != nil {
		t.Fatalf("create OU %s in %s: %v", name, parent, err)
	}
	return aws.ToString(out.OrganizationalUnit.Id)
}

// Account creates an account named name, waits until it exists (account
// creation is asynchronous in AWS), moves it from the root into parent
// unless parent is the root, and returns its ID.
func (o *Organization) Account(t testing.TB, name, parent string) string {
	t.Helper()
	ctx := t.Context()
	out, err := o.Client.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
	if err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
	status := out.CreateAccountStatus
	for deadline := time.Now().Add(10 * time.Second); status.State == types.CreateAccountStateInProgress; {
		if time.Now().After(deadline) {
			t.Fatalf("account %s still being created after 10s", name)
		}
		time.Sleep(50 * time.Millisecond)
		d, err := o.Client.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: status.Id})
		if err != nil {
			t.Fatalf("creation of account %s: %v", name, err)
		}
		status = d.CreateAccountStatus
	}
	if status.State != types.CreateAccountStateSucceeded {
		t.Fatalf("creation of account %s: %s (%s)", name, status.State, status.FailureReason)
	}
	id := aws.ToString(status.AccountId)
	o.Move(t, id, parent)
	return id
}

// Move moves account id from the root into parent.
func (o *Organization) Move(t testing.TB, id, parent string) {
	t.Helper()
	if parent == o.Root {
		return
	}
	if _, err := o.Client.MoveAccount(t.Context(), &organizations.MoveAccountInput{AccountId: aws.String(id), SourceParentId: aws.String(o.Root), DestinationParentId: aws.String(parent)}); err != nil {
		t.Fatalf("move account %s into %s: %v", id, parent, err)
	}
}
