package grants

import (
	"fmt"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// catalogGrant is what role grants user for the request in, by the
// catalog alone: the target (the role ARN, the IAM group,
// "account/permission set" or the Identity Center group) and the principal
// (the IAM user or Identity Center user name its rule gives; "" for
// aws_sts, and "" when the rule gives an empty name, which callers refuse
// each in their own words). A new record is made from it, an issued one
// checked against it and a tampered one revoked by it, so the three cannot
// disagree. An account the role does not grant in is an *accountMismatch.
func catalogGrant(role *rules.Role, user rules.User, in rules.Input, now time.Time) (target, principal string, err error) {
	switch role.Backend {
	case BackendSTS:
		return role.RoleARN, "", nil
	case BackendGroup:
		if principal, err = role.IAMUserName(user, in, now); err != nil {
			return "", "", fmt.Errorf("evaluate iam_user of %s: %w", role.Name, err)
		}
		return role.Group, principal, nil
	case BackendSSO:
		if _, ok := role.FindAccount(in.Account); !ok || in.Account == "" {
			return "", "", &accountMismatch{fmt.Sprintf("its account %q is not one of the role's", in.Account)}
		}
		target = SSOTarget(in.Account, role.PermissionSet)
	case BackendSSOGroup:
		if in.Account != "" {
			return "", "", &accountMismatch{"it names an account, and the role's group is not granted per account"}
		}
		target = role.SSOGroup
	default:
		return "", "", fmt.Errorf("role %s has unknown backend %q", role.Name, role.Backend)
	}
	if principal, err = role.SSOUserName(user, in, now); err != nil {
		return "", "", fmt.Errorf("evaluate sso_user of %s: %w", role.Name, err)
	}
	return target, principal, nil
}

// accountMismatch is a request whose account does not fit its role.
type accountMismatch struct{ why string }

func (e *accountMismatch) Error() string { return e.why }

// What a backend grants, in the words of the messages about it: its
// target, and the principal and the rule that names it.
var (
	targetWord    = map[string]string{BackendSTS: "role_arn", BackendGroup: "group", BackendSSO: "permission set", BackendSSOGroup: "group"}
	principalRule = map[string]struct{ name, key string }{
		BackendGroup:    {"IAM user", "iam_user"},
		BackendSSO:      {"Identity Center user", "sso_user"},
		BackendSSOGroup: {"Identity Center user", "sso_user"},
	}
)

// mismatch says how a record differs from the target and principal the
// catalog grants its requester (see catalogGrant), or "".
func mismatch(backend string, r *Request, target, principal string) string {
	switch pr, named := principalRule[backend]; {
	case r.Target != target:
		return "its target is not the role's " + targetWord[backend]
	case !named && r.Principal != "":
		return "it names a principal, and the role's " + targetWord[backend] + " is granted to none"
	case named && (principal == "" || r.Principal != principal):
		return fmt.Sprintf("its %s is not the one the role's %s rule gives the requester", pr.name, pr.key)
	}
	return ""
}
