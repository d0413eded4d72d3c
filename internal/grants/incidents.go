package grants

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/internal/rules"
)

// Incidents is where incident references are looked up (PagerDuty).
type Incidents interface {
	// IncidentOpen reports whether the incident ref (its ID or number)
	// exists and is not resolved. ErrUnknownIncident: it does not exist.
	IncidentOpen(ctx context.Context, ref string) (bool, error)
}

// ErrUnknownIncident is what Incidents returns for a reference it does
// not know.
var ErrUnknownIncident = errors.New("no such incident")

// checksIncidents reports whether role's incident references are looked
// up: roles that end with their incident, and roles whose catalog entry
// names the form of a reference (incident_pattern). Other roles may take
// references of another tracker, which the lookup would not know.
func (s *Service) checksIncidents(role *rules.Role) bool {
	return s.opts.Incidents != nil && (role.EndWithIncident || role.IncidentPattern != nil)
}

// incidentNotice says why a break-glass request's incident does not let
// it through at once (unknown, resolved, or not confirmed because the
// lookup failed), or "" when it is open or not looked up. The request then
// goes to the approvers, told why.
func (s *Service) incidentNotice(ctx context.Context, role *rules.Role, ref string) string {
	if ref == "" || !s.checksIncidents(role) {
		return ""
	}
	open, err := s.opts.Incidents.IncidentOpen(ctx, ref)
	switch {
	case errors.Is(err, ErrUnknownIncident):
		return fmt.Sprintf("incident %s is not known to PagerDuty, so break-glass does not apply and this request goes to the approvers", ref)
	case err != nil:
		s.log.WarnContext(ctx, "incident lookup failed; break-glass not applied", "incident", ref, "err", err)
		return fmt.Sprintf("PagerDuty could not confirm incident %s, so break-glass does not apply and this request goes to the approvers", ref)
	case !open:
		return fmt.Sprintf("incident %s is resolved in PagerDuty, so break-glass does not apply and this request goes to the approvers", ref)
	}
	return ""
}

// IncidentBound returns the incident references of the open records of
// roles with end_with_incident, each once: what the incident poller looks
// at.
func (s *Service) IncidentBound(ctx context.Context) ([]string, error) {
	var refs []string
	err := s.store.EachOpen(ctx, func(page []*Request) error {
		for _, r := range page {
			if s.boundToIncident(r) && !slices.Contains(refs, r.Incident) {
				refs = append(refs, r.Incident)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read open requests: %w", err)
	}
	return refs, nil
}

// boundToIncident reports whether r ends with its incident.
func (s *Service) boundToIncident(r *Request) bool {
	if r.Incident == "" || r.State.Terminal() {
		return false
	}
	role, ok := s.Catalog().Role(r.Role)
	return ok && role.EndWithIncident
}

// IncidentResolved ends what is bound to the incident known by refs (its
// ID and its number, as PagerDuty names it): the active grants of roles
// with end_with_incident are revoked, their pending requests and
// scheduled grants denied, each with why the incident ended them in the
// audit trail and in what the holder is told. It returns how many records
// it ended and goes on past failures.
func (s *Service) IncidentResolved(ctx context.Context, refs []string) (int, error) {
	var errs []error
	n := 0
	err := s.store.EachOpen(ctx, func(page []*Request) error {
		for _, r := range page {
			if !s.boundToIncident(r) || !slices.ContainsFunc(refs, func(ref string) bool { return sameIncident(ref, r.Incident) }) {
				continue
			}
			n++
			errs = append(errs, s.terminate(ctx, r, fmt.Sprintf("incident %s was resolved", r.Incident)))
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("read open requests: %w", err))
	}
	return n, errors.Join(errs...)
}

// sameIncident compares incident references as PagerDuty reads them: an
// ID ignoring case, a number with or without its #.
func sameIncident(a, b string) bool {
	norm := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "#") }
	return a != "" && strings.EqualFold(norm(a), norm(b))
}
