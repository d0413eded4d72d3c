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
	switch mayFileAny(role, filer) {
	case filerUntrusted:
		return rules.User{}, userErr(ErrNotAllowed, "only full members of the workspace can file a request for someone else")
	case noForOthersRule:
		return rules.User{}, userErr(ErrNotAllowed, fmt.Sprintf("%s does not take requests filed for someone else (it has no request_for_others rule); they can ask themselves", role.Name))
	}
	grantee, err := s.dir.User(Fresh(ctx), granteeID)
	if err != nil {
		return rules.User{}, fmt.Errorf("look up %s, whom the request is for: %w", granteeID, err)
	}
	if grantee.Deleted || grantee.IsBot {
		return rules.User{}, userErr(ErrIneligible, fmt.Sprintf("%s is not a person with an active Slack account", grantee.Name))
	}
	if refusal, err := mayFile(role, filer, grantee, in, now); err != nil || refusal != mayFileIt {
		if err != nil {
			return rules.User{}, err
		}
		return rules.User{}, userErr(ErrNotAllowed, fmt.Sprintf("the request_for_others rule of %s does not let you file for %s", role.Name, grantee.Name))
	}
	return grantee, nil
}

// filedBy reports whether userID filed r for someone else.
func (r *Request) filedBy(userID string) bool {
	return r.FiledBy != nil && userID != "" && r.FiledBy.ID == userID
}

// filerStillMay checks, for a request filed for someone else, that who
// filed it still may: a full member of the workspace whom the role's
// request_for_others rule, in the catalog in force, lets file for the
// grantee as the directory knows them now. It returns why not, or nil.
//
// The filer's word is an input of the grant like the grantee's
// eligibility and the approvers' standing: a fresh request by them would
// be refused, so neither an approval nor the start of a window issues
// access on it (docs/design.md §4.7: a record is grantable only if a
// fresh request with the same input would be). Without this a lead who
// left the group that may file, or was deactivated, kept filing through
// the requests they had open.
func (s *Service) filerStillMay(ctx context.Context, r *Request, grantee rules.User, now time.Time) (*UserError, error) {
	if r.FiledBy == nil {
		return nil, nil
	}
	role, ok := s.Catalog().Role(r.Role)
	if !ok {
		return nil, nil // stillEligible refuses it
	}
	filer, err := s.dir.User(Fresh(ctx), r.FiledBy.ID)
	if err != nil {
		return nil, fmt.Errorf("look up %s, who filed %s: %w", r.FiledBy.ID, r.ID, err)
	}
	var why string
	switch refusal, err := mayFile(role, filer, grantee, r.ruleInput(), now); {
	case err != nil:
		return nil, err
	case refusal == filerUntrusted:
		why = "they are no longer a full member of the workspace"
	case refusal == noForOthersRule:
		why = role.Name + " no longer takes requests filed for someone else"
	case refusal == ruleRefuses:
		why = "the request_for_others rule of " + role.Name + " no longer lets them"
	default:
		return nil, nil
	}
	return &UserError{Msg: fmt.Sprintf("%s, who filed it for %s, may no longer file it: %s", filer.Name, grantee.Name, why), Err: ErrIneligible}, nil
}

// A filing refusal says why a filer may not file for a grantee; each
// caller words it for its moment (filing, approval, issue).
type filingRefusal int

const (
	mayFileIt       filingRefusal = iota
	filerUntrusted                // not a full member of the workspace
	noForOthersRule               // the role takes no requests for others
	ruleRefuses                   // its request_for_others rule says no
)

// mayFile applies what lets filer file role's request in for grantee:
// a full member of the workspace, and the role's request_for_others rule.
func mayFile(role *rules.Role, filer, grantee rules.User, in rules.Input, now time.Time) (filingRefusal, error) {
	if refusal := mayFileAny(role, filer); refusal != mayFileIt {
		return refusal, nil
	}
	ok, err := role.MayRequestFor(filer, grantee, in, now)
	if err != nil {
		return mayFileIt, fmt.Errorf("evaluate request_for_others of %s: %w", role.Name, err)
	}
	if !ok {
		return ruleRefuses, nil
	}
	return mayFileIt, nil
}

// mayFileAny is the part of mayFile that needs no grantee: whether filer
// may file role's requests for anybody.
func mayFileAny(role *rules.Role, filer rules.User) filingRefusal {
	switch {
	case untrusted(filer) != "":
		return filerUntrusted
	case role.RequestForOthers == "":
		return noForOthersRule
	}
	return mayFileIt
}
