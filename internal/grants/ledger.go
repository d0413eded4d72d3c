package grants

import (
	"context"
	"slices"
	"time"
)

// Ledger is what was granted, as written when it happened under jitbot's
// signing key: the durable audit log. Whoever can write to the store can
// change every field of a record, the requester and principal among them,
// and a tampered record's revocation would then take away somebody
// else's access and leave the real holder theirs. What the ledger says
// request id was granted cannot be changed that way.
type Ledger interface {
	// Granted returns what the ledger's entries since since, whose
	// signature holds, say request id was granted: each distinct backend,
	// target and principal. None when it says nothing.
	Granted(ctx context.Context, id RequestID, since time.Time) ([]Hold, error)
}

// ledgerLookback is how far back the ledger is read for a tampered
// record, beyond its role's longest grant: a record quarantined a while
// after its grant (jitbot was down) still finds it.
const ledgerLookback = 24 * time.Hour

// unknownRoleGrant is the longest grant assumed for a record whose role
// is no longer in the catalog: STS's longest session.
const unknownRoleGrant = 12 * time.Hour

// ledgerRevocations are the grants the ledger records for a quarantined
// record r, as copies of r to revoke, leaving out what revs already
// holds. Holds of another backend than r's role's are left out: a
// revocation goes through the role's backend. A ledger that cannot be
// read is logged and adds nothing: the record's catalog access is still
// revoked, and the next attempt reads again only if this one fails.
func (s *Service) ledgerRevocations(ctx context.Context, r *Request, backend string, maxDuration time.Duration, revs []*Request) []*Request {
	if s.opts.Ledger == nil {
		return revs
	}
	holds, err := s.opts.Ledger.Granted(ctx, r.ID, s.now().Add(-maxDuration-ledgerLookback))
	if err != nil {
		s.log.ErrorContext(ctx, "the audit log could not be read for a tampered record's grant: revoking what the catalog gives its requester", "request_id", r.ID, "err", err)
		return revs
	}
	for _, h := range holds {
		if h.Backend != backend || slices.ContainsFunc(revs, func(g *Request) bool { return (Hold{g.Backend, g.Target, g.Principal}) == h }) {
			continue
		}
		g := *r
		g.Backend, g.Target, g.Principal = h.Backend, h.Target, h.Principal
		if h.Backend == BackendSSO {
			if account, _, err := ParseSSOTarget(h.Target); err == nil {
				g.Account = account
			}
		}
		revs = append(revs, &g)
	}
	return revs
}
