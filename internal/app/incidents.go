package app

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/incidents"
)

// pagerDutyIncidents is PagerDuty as the domain's grants.Incidents.
type pagerDutyIncidents struct{ pd *incidents.PagerDuty }

func (p pagerDutyIncidents) IncidentOpen(ctx context.Context, ref string) (bool, error) {
	inc, err := p.pd.Incident(ctx, ref)
	if errors.Is(err, incidents.ErrNotFound) {
		return false, grants.ErrUnknownIncident
	}
	if err != nil {
		return false, err
	}
	return inc.Open(), nil
}

// incidentLoop ends the grants of end_with_incident roles whose incident
// is resolved, looking every interval: the webhook, when configured, is
// faster, and this catches what it missed (a replica down, a delivery
// lost).
func (a *App) incidentLoop(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		refs, err := a.svc.IncidentBound(ctx)
		if err != nil {
			a.log.Warn("read incident-bound grants", "err", err)
			continue
		}
		for _, ref := range refs {
			a.endIfResolved(ctx, ref)
		}
	}
}

// endIfResolved asks PagerDuty about the incident ref and, when it is
// resolved, ends what is bound to it. Only PagerDuty's own answer ends a
// grant: a webhook names the incident, and is then checked here too.
func (a *App) endIfResolved(ctx context.Context, ref string) {
	inc, err := a.incidents.Incident(ctx, ref)
	if err != nil {
		a.log.Warn("look up incident of incident-bound grants", "incident", ref, "err", err)
		return
	}
	if inc.Open() {
		return
	}
	n, err := a.svc.IncidentResolved(ctx, []string{ref, inc.ID, strconv.Itoa(inc.Number)})
	if err != nil {
		a.log.Error("end the grants of a resolved incident; the next look retries", "incident", ref, "err", err)
	}
	if n > 0 {
		a.log.Info("incident resolved: its grants ended", "incident", ref, "records", n)
	}
}

// pagerDutyWebhook is PagerDuty's webhook at /pagerduty/webhook: a
// verified incident.resolved event ends the grants of its incident at
// once, after PagerDuty confirms it (endIfResolved).
func (a *App) pagerDutyWebhook() http.Handler {
	return incidents.WebhookHandler(a.cfg.PagerDutyWebhookSecret, func(ctx context.Context, e incidents.Event) {
		if e.Type != "incident.resolved" || e.Incident.ID == "" {
			return
		}
		a.endIfResolved(context.WithoutCancel(ctx), e.Incident.ID)
	}, a.log)
}
