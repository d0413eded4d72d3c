package workloadapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// create serves POST /v1/requests. The requester is the token's workload;
// the body only says what it asks for.
func (a *api) create(w http.ResponseWriter, r *http.Request, caller rules.Workload, tok token) {
	body, err := parseRequestBody(http.MaxBytesReader(w, r.Body, a.limits.MaxBody))
	if err != nil {
		a.fail(w, r, caller, err)
		return
	}
	if !a.claimToken(w, r, caller, tok) {
		return
	}
	in := grants.RequestInput{Role: body.Role, Duration: body.Duration, Reason: body.Reason, Account: body.Account, Workload: &caller}
	req, err := a.service.Request(r.Context(), in)
	if err != nil {
		a.forgetToken(r.Context(), caller, tok)
		a.fail(w, r, caller, err)
		return
	}
	a.bindToken(r.Context(), caller, tok, req.ID)
	approvers := []string{}
	if req.State == grants.Pending {
		list, err := a.service.Approvers(r.Context(), req)
		if err != nil {
			// The request is made; not naming who decides it is no reason
			// to tell the job it failed.
			a.log.Error("workload api: listing approvers", "request", req.ID, "err", err)
		}
		approvers = append(approvers, list...)
	}
	a.log.Info("workload api: request made", "request", req.ID, "state", req.State, "role", req.Role,
		"issuer", caller.IssuerName, "subject", caller.Subject)
	writeJSON(w, http.StatusAccepted, createdView{ID: req.ID, State: req.State, Approvers: approvers})
}

// get serves GET /v1/requests/{id}[?wait=…]. With wait, a request on its
// way (pending, granting, revoking) is answered as soon as its state
// differs from the one found first, or when wait (at most
// Limits.MaxWait) is over, by reading it every Limits.PollInterval:
// simple, and the store is built for reads. A request that has arrived
// (active, or ended) is answered at once: a job polling for its
// credentials in a loop must not sit out the wait each time.
func (a *api) get(w http.ResponseWriter, r *http.Request, caller rules.Workload, _ token) {
	wait, err := parseWait(r, a.limits.MaxWait)
	if err != nil {
		a.fail(w, r, caller, err)
		return
	}
	id := grants.RequestID(r.PathValue("id"))
	req, err := a.service.WorkloadRequest(r.Context(), id, caller)
	if err != nil {
		a.fail(w, r, caller, err)
		return
	}
	if wait > 0 && onItsWay(req.State) {
		if req, err = a.waitForChange(r.Context(), req, caller, wait); err != nil {
			a.fail(w, r, caller, err)
			return
		}
	}
	view := newRequestView(req)
	// WorkloadRequest answered, so caller has the requester's issuer and
	// subject (see Service); the record says so too before any
	// credentials, which are only for a grant in force.
	if req.State == grants.Active && a.credentials != nil && ownedBy(req, caller) {
		creds, ok, err := a.credentials.Credentials(r.Context(), req.ID)
		if err != nil {
			a.fail(w, r, caller, err)
			return
		}
		if ok {
			view.Credentials = newCredentialsView(creds)
		}
	}
	writeJSON(w, http.StatusOK, view)
}

func onItsWay(s grants.State) bool {
	return s == grants.Pending || s == grants.Granting || s == grants.Revoking
}

// waitForChange reads the request until its state is no longer req's or
// wait is over, and returns the last read. A client that hangs up ends it.
func (a *api) waitForChange(ctx context.Context, req *grants.Request, caller rules.Workload, wait time.Duration) (*grants.Request, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(a.limits.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return req, nil
		case <-tick.C:
		}
		now, err := a.service.WorkloadRequest(ctx, req.ID, caller)
		if ctx.Err() != nil {
			return req, nil // the wait ended during the read
		}
		if err != nil {
			return nil, err
		}
		if now.State != req.State {
			return now, nil
		}
		req = now
	}
}

// release serves DELETE /v1/requests/{id}: the job is done, so the grant
// ends now rather than at its expiry.
func (a *api) release(w http.ResponseWriter, r *http.Request, caller rules.Workload, _ token) {
	id := grants.RequestID(r.PathValue("id"))
	req, err := a.service.Release(r.Context(), id, caller)
	if err != nil {
		a.fail(w, r, caller, err)
		return
	}
	a.log.Info("workload api: request released", "request", req.ID, "state", req.State,
		"issuer", caller.IssuerName, "subject", caller.Subject)
	writeJSON(w, http.StatusOK, stateView{ID: req.ID, State: req.State})
}

// fail answers err: its own status for an httpError, the service's
// message for a grants.UserError, and a bare 500 for anything else,
// whose text (a store's, AWS's) is for the log, not the caller.
func (a *api) fail(w http.ResponseWriter, r *http.Request, caller rules.Workload, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.status, he.msg)
		return
	}
	if errors.Is(err, grants.ErrNotFound) || (errors.Is(err, grants.ErrNotAllowed) && r.Method != http.MethodPost) {
		// The same answer whether the id does not exist or is another
		// workload's, so ids cannot be probed.
		writeError(w, http.StatusNotFound, "no such request for this workload; check the id the POST answered, and that this job's token has the same issuer and subject as the one that made it")
		return
	}
	var ue *grants.UserError
	if errors.As(err, &ue) {
		writeError(w, userErrorStatus(ue), ue.Msg)
		return
	}
	a.log.Error("workload api: request failed", "method", r.Method, "path", r.URL.Path,
		"issuer", caller.IssuerName, "subject", caller.Subject, "err", err)
	writeError(w, http.StatusInternalServerError, "jitbot could not complete the request; try again, and ask its operators if it persists")
}

// userErrorStatus is the status of a service error the caller can act on.
func userErrorStatus(ue *grants.UserError) int {
	switch {
	case errors.Is(ue, grants.ErrIneligible), errors.Is(ue, grants.ErrNotAllowed), errors.Is(ue, grants.ErrSelfApproval):
		return http.StatusForbidden
	case errors.Is(ue, grants.ErrDecided):
		return http.StatusConflict
	case errors.Is(ue, grants.ErrRateLimited):
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest // unknown role, invalid input, …
}

// ownedBy reports whether caller is the workload that made req.
func ownedBy(req *grants.Request, caller rules.Workload) bool {
	w := req.Workload
	return w != nil && w.Issuer == caller.Issuer && w.Subject == caller.Subject
}
