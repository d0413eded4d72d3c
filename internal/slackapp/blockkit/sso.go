package blockkit

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// Portal is where people sign in to IAM Identity Center: the AWS access
// portal (JIT_SSO_START_URL) and its region. Identity Center grants carry
// no secret; the requester signs in there, or with aws sso login.
type Portal struct {
	StartURL, Region string
}

// ssoAccess names what an Identity Center grant gives.
func ssoAccess(r *grants.Request) string {
	if r.Backend == grants.BackendSSOGroup {
		return "Identity Center group " + code(r.Target, 200) + " for " + code(r.Principal, 200)
	}
	account, ps, err := grants.ParseSSOTarget(r.Target)
	if err != nil {
		return code(r.Target, 300)
	}
	return "permission set " + code(ps, 200) + " in account " + code(account, 20) + " for " + code(r.Principal, 200)
}

// GrantedSSO is the requester's DM once an Identity Center grant is
// issued: what they have, where to sign in, and a profile for the AWS CLI.
// It carries no credentials.
func GrantedSSO(r *grants.Request, p Portal) []slack.Block {
	if r.DryRun {
		return grantedDryRun(r)
	}
	lead := fmt.Sprintf(":white_check_mark: Your access to %s (%s) is active until %s: %s.",
		roleName(r.Role), reqID(r.ID), date(r.ExpiresAt), ssoAccess(r))
	if r.Extends != "" {
		lead += " It extends " + reqID(r.Extends) + "."
	}
	bs := []slack.Block{section(lead + "\njitbot removes it again at " + date(r.ExpiresAt) + ".")}
	if r.AutoApproved {
		bs = append([]slack.Block{section(breakGlass + ": granted without approval under the rule " + code(r.Rule, maxRuleShown) + ". The role's owners will review it.")}, bs...)
	}
	if p.StartURL != "" {
		// The URL is the operator's, from the configuration; it is still
		// escaped, so a stray character cannot turn it into markup.
		bs = append(bs, section("Sign in through your AWS access portal, "+Escape(p.StartURL)+", or with `aws sso login` and this profile:"))
		if snippet := profileSnippet(r, p); snippet != "" {
			bs = append(bs, section(Preformatted(snippet)))
		}
	}
	return append(bs, fields(field("Request", reqID(r.ID)), field("Expires", date(r.ExpiresAt))))
}

// profileSnippet is an ~/.aws/config profile for an aws_sso grant, empty
// for a group (whose permission sets the requester knows from the portal).
func profileSnippet(r *grants.Request, p Portal) string {
	account, ps, err := grants.ParseSSOTarget(r.Target)
	if r.Backend != grants.BackendSSO || err != nil || strings.HasPrefix(ps, "arn:") {
		return ""
	}
	return fmt.Sprintf("[profile jit-%s-%s]\nsso_session = jitbot\nsso_account_id = %s\nsso_role_name = %s\n\n"+
		"[sso-session jitbot]\nsso_start_url = %s\nsso_region = %s\nsso_registration_scopes = sso:account:access",
		r.Role, account, account, ps, p.StartURL, p.Region)
}
