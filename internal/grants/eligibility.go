package grants

import (
	"errors"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// CheckEligible decides whether u may request role for in, for every path
// that asks: a request, its approval (eligibility is checked again then),
// /jit roles and `jitbot access-map` (internal/accessmap), so none of them
// can disagree with another. The fixed rules come before the role's own:
// bots and deactivated users are never eligible, and third parties
// (guests, Slack Connect users) only for roles with allow_guests, for at
// most guest_max_duration. It returns nil, a *UserError (ErrIneligible)
// saying why not, or the eligible rule's evaluation error as it came.
func CheckEligible(role *rules.Role, u rules.User, in rules.Input, now time.Time) error {
	if u.Deleted {
		return userErr(ErrIneligible, "deactivated accounts cannot request access")
	}
	if u.IsBot {
		return userErr(ErrIneligible, "bots cannot request access")
	}
	if ThirdParty(u) {
		if !role.AllowGuests {
			return userErr(ErrIneligible, fmt.Sprintf("%s is not open to guests or people from other organisations", role.Name))
		}
		if in.Duration > role.GuestMaxDuration {
			return userErr(ErrIneligible, fmt.Sprintf("guests may hold %s for at most %s", role.Name, rules.FormatDuration(role.GuestMaxDuration)))
		}
	}
	ok, err := role.IsEligible(u, in, now)
	if err != nil {
		return err
	}
	if !ok {
		return userErr(ErrIneligible, fmt.Sprintf("you are not eligible for %s", role.Name))
	}
	return nil
}

// AutoApproves reports whether the role's auto_approve rule grants u's
// request at once (break-glass), for a u that CheckEligible admitted.
// Never for third parties: nobody outside the organisation gets access
// without two people saying yes. The error is the rule's, as it came.
func AutoApproves(role *rules.Role, u rules.User, in rules.Input, now time.Time) (bool, error) {
	if ThirdParty(u) {
		return false, nil
	}
	return role.IsAutoApproved(u, in, now)
}

// ThirdParty is a guest of this workspace or a Slack Connect user of
// another organisation: a contractor or vendor.
func ThirdParty(u rules.User) bool { return u.IsGuest || u.IsExternal }

// guestApprovals is how many approvers a third party's request needs at
// least, whatever the role says.
const guestApprovals = 2

// checkEligible is CheckEligible with a failed rule named for the log.
func checkEligible(role *rules.Role, u rules.User, in rules.Input, now time.Time) error {
	err := CheckEligible(role, u, in, now)
	if _, isUser := errors.AsType[*UserError](err); err != nil && !isUser {
		return fmt.Errorf("evaluate eligible of %s: %w", role.Name, err)
	}
	return err
}
