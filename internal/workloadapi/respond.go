package workloadapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// createdView is POST's answer.
type createdView struct {
	ID        grants.RequestID `json:"id"`
	State     grants.State     `json:"state"`
	Approvers []string         `json:"approvers"` // who is asked to decide; [] when nobody needs to
}

// stateView is DELETE's answer.
type stateView struct {
	ID    grants.RequestID `json:"id"`
	State grants.State     `json:"state"`
}

// requestView is GET's answer: what a job needs to follow its request,
// and nothing of the record meant for jitbot itself (leases, attempts,
// integrity data).
type requestView struct {
	ID           grants.RequestID `json:"id"`
	State        grants.State     `json:"state"`
	Role         string           `json:"role"`
	Account      string           `json:"account,omitempty"`
	Reason       string           `json:"reason"`
	CreatedAt    time.Time        `json:"created_at"`
	ExpiresAt    time.Time        `json:"expires_at,omitzero"`
	DenyReason   string           `json:"deny_reason,omitempty"`
	RevokeReason string           `json:"revoke_reason,omitempty"` // why a grant ended early
	Failure      string           `json:"failure,omitempty"`
	Notice       string           `json:"notice,omitempty"`
	Credentials  *credentialsView `json:"credentials,omitempty"`
}

func newRequestView(r *grants.Request) requestView {
	return requestView{ID: r.ID, State: r.State, Role: r.Role, Account: r.Account, Reason: r.Reason,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, DenyReason: r.DenyReason, RevokeReason: r.RevokeReason, Failure: r.Failure, Notice: r.Notice}
}

// credentialsView is the output of an AWS credential_process, so that a
// job can hand it to the SDKs as it is.
type credentialsView struct {
	Version         int       `json:"Version"`
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expiration      time.Time `json:"Expiration"`
}

func newCredentialsView(c grants.Credentials) *credentialsView {
	return &credentialsView{Version: 1, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
		SessionToken: c.SessionToken, Expiration: c.Expiration.UTC()}
}

// String and LogValue keep the secrets out of fmt output and logs, should
// a view ever be printed.
func (c *credentialsView) String() string { return "[redacted]" }

func (c *credentialsView) LogValue() slog.Value { return slog.StringValue("[redacted]") }

type errorView struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorView{Error: msg})
}

// writeJSON answers v. no-store: an answer may hold credentials, and no
// answer is worth caching.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status is sent; an error here is a client that went away.
	_ = json.NewEncoder(w).Encode(v)
}
