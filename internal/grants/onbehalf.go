package grants

import (
	"context"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// Requests filed for someone else (/jit request --for @person): a lead
// asks for the on-call engineer. The grantee is the record's Requester:
// the access, the credentials and the eligibility are theirs. The filer
// is kept in FiledBy; neither may approve, and the role's
// request_for_others rule, over user (the filer) and grantee, decides
// who may file for whom.

// admitFor checks that filer may file role's request in for granteeID,
// and returns the grantee as the directory knows them now. Their own
// eligibility is checked by the caller, like any requester's.
func (s *Service) admitFor(ctx context.Context, role *rules.Role, filer rules.User, granteeID string, in rules.Input, now time.Time) (rules.User, error) {
	if untrusted(filer) != "" {
		return rules.User{}, userErr(ErrNotAllowed, "only full members of the workspace can file a request for someone else")
	}
	if role.RequestForOthers == "" {
		return rules.User{}, userErr(ErrNotAllowed, fmt.Sprintf("%s does not take requests filed for someone else (it has no request_for_others rule); they can ask themselves", role.Name))
	}
	grantee, err := s.dir.User(Fresh(ctx), granteeID)
	if err != nil {
		return rules.User{}, fmt.Errorf("look up %s, whom the request is for: %w", granteeID, err)
	}
	if grantee.Deleted || grantee.IsBot {
		return rules.User{}, userErr(ErrIneligible, fmt.Sprintf("%s is not a person with an active Slack account", grantee.Name))
	}
	ok, err := role.MayRequestFor(filer, grantee, in, now)
	if err != nil {
		return rules.User{}, fmt.Errorf("evaluate request_for_others of %s: %w", role.Name, err)
	}
	if !ok {
		return rules.User{}, userErr(ErrNotAllowed, fmt.Sprintf("the request_for_others rule of %s does not let you file for %s", role.Name, grantee.Name))
	}
	return grantee, nil
}

// filedBy reports whether userID filed r for someone else.
func (r *Request) filedBy(userID string) bool {
	return r.FiledBy != nil && userID != "" && r.FiledBy.ID == userID
}
