package grants

import (
	"fmt"
	"strings"
)

// SSOTarget is the Target of an aws_sso grant: the permission set (name
// or ARN, as the catalog writes it) in one account. One string, so that
// two grants of the same assignment share a Hold like IAM group members.
func SSOTarget(account, permissionSet string) string {
	return account + "/" + permissionSet
}

// ParseSSOTarget splits an aws_sso Target into its account and permission
// set. A permission set ARN contains "/" itself; the account never does.
func ParseSSOTarget(target string) (account, permissionSet string, err error) {
	account, permissionSet, ok := strings.Cut(target, "/")
	if !ok || account == "" || permissionSet == "" {
		return "", "", fmt.Errorf("aws_sso target %q: want <account-id>/<permission set>", target)
	}
	return account, permissionSet, nil
}
