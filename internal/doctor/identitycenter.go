package doctor

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
)

// identityCenter finds the Identity Center instance and its permission
// sets by name, once each, for PermissionSetPolicies.
type identityCenter struct {
	admin *ssoadmin.Client

	mu       sync.Mutex
	instance string            // ARN: JIT_SSO_INSTANCE_ARN, or the only one ListInstances names
	sets     map[string]string // permission set name → ARN
}

// PermissionSetPolicies lists what the permission set (a name or an ARN)
// gives: its AWS managed policies (ARNs), its customer managed policies
// (as "customer managed <path><name>") and "an inline policy" when it has
// one. A name the instance does not have is ErrNotFound.
func (a *SDKAWS) PermissionSetPolicies(ctx context.Context, permissionSet string) ([]string, error) {
	inst, ps, err := a.ic.resolve(ctx, permissionSet)
	if err != nil {
		return nil, err
	}
	var out []string
	managed := ssoadmin.NewListManagedPoliciesInPermissionSetPaginator(a.ic.admin, &ssoadmin.ListManagedPoliciesInPermissionSetInput{InstanceArn: aws.String(inst), PermissionSetArn: aws.String(ps)})
	for managed.HasMorePages() {
		page, err := managed.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("sso ListManagedPoliciesInPermissionSet %s: %w", permissionSet, err)
		}
		for _, p := range page.AttachedManagedPolicies {
			out = append(out, aws.ToString(p.Arn))
		}
	}
	customer := ssoadmin.NewListCustomerManagedPolicyReferencesInPermissionSetPaginator(a.ic.admin, &ssoadmin.ListCustomerManagedPolicyReferencesInPermissionSetInput{InstanceArn: aws.String(inst), PermissionSetArn: aws.String(ps)})
	for customer.HasMorePages() {
		page, err := customer.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("sso ListCustomerManagedPolicyReferencesInPermissionSet %s: %w", permissionSet, err)
		}
		for _, p := range page.CustomerManagedPolicyReferences {
			out = append(out, "customer managed "+aws.ToString(p.Path)+aws.ToString(p.Name))
		}
	}
	inline, err := a.ic.admin.GetInlinePolicyForPermissionSet(ctx, &ssoadmin.GetInlinePolicyForPermissionSetInput{InstanceArn: aws.String(inst), PermissionSetArn: aws.String(ps)})
	if err != nil {
		return nil, fmt.Errorf("sso GetInlinePolicyForPermissionSet %s: %w", permissionSet, err)
	}
	if strings.TrimSpace(aws.ToString(inline.InlinePolicy)) != "" {
		out = append(out, "an inline policy")
	}
	return out, nil
}

// resolve returns the instance's ARN and the permission set's.
func (ic *identityCenter) resolve(ctx context.Context, nameOrARN string) (instance, ps string, err error) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.instance == "" {
		out, err := ic.admin.ListInstances(ctx, &ssoadmin.ListInstancesInput{})
		if err != nil {
			return "", "", fmt.Errorf("sso ListInstances: %w", err)
		}
		if len(out.Instances) != 1 {
			return "", "", fmt.Errorf("found %d Identity Center instances; set JIT_SSO_INSTANCE_ARN", len(out.Instances))
		}
		ic.instance = aws.ToString(out.Instances[0].InstanceArn)
	}
	if strings.HasPrefix(nameOrARN, "arn:") {
		return ic.instance, nameOrARN, nil
	}
	if ic.sets == nil {
		if ic.sets, err = ic.permissionSets(ctx); err != nil {
			return "", "", err
		}
	}
	arn, ok := ic.sets[nameOrARN]
	if !ok {
		return "", "", fmt.Errorf("permission set %q in %s: %w", nameOrARN, ic.instance, ErrNotFound)
	}
	return ic.instance, arn, nil
}

// permissionSets maps every permission set of the instance by name.
func (ic *identityCenter) permissionSets(ctx context.Context) (map[string]string, error) {
	sets := map[string]string{}
	pages := ssoadmin.NewListPermissionSetsPaginator(ic.admin, &ssoadmin.ListPermissionSetsInput{InstanceArn: aws.String(ic.instance)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("sso ListPermissionSets: %w", err)
		}
		for _, arn := range page.PermissionSets {
			d, err := ic.admin.DescribePermissionSet(ctx, &ssoadmin.DescribePermissionSetInput{InstanceArn: aws.String(ic.instance), PermissionSetArn: aws.String(arn)})
			if err != nil {
				return nil, fmt.Errorf("sso DescribePermissionSet %s: %w", arn, err)
			}
			if d.PermissionSet != nil {
				sets[aws.ToString(d.PermissionSet.Name)] = arn
			}
		}
	}
	return sets, nil
}
