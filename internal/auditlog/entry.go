// Package auditlog is jitbot's durable evidence: every domain event becomes
// an entry appended to a Redis Stream, before it is posted anywhere, as
// canonical JSON that carries the chain value of the previous entry.
// Editing, deleting or reordering any entry breaks the chain, and Verify
// names the first entry where it breaks. The chain value is an
// HMAC-SHA256 under JIT_SIGNING_KEY, which never enters Redis, so a Redis
// writer who edits an entry cannot recompute the rest. Entries written
// before the key existed carry a plain SHA-256 and verify only as the
// unkeyed prefix of the log. Secrets never enter it: an Entry has no
// field that could hold them.
package auditlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

// Entry is one event as evidence. The field order is the canonical order
// of its JSON; Hash is computed over the JSON of the entry with Hash empty.
type Entry struct {
	Seq  int64     `json:"seq"` // position in the chain, from 1
	Type string    `json:"type"`
	At   time.Time `json:"at"`

	RequestID      string `json:"request_id,omitempty"`
	Requester      string `json:"requester,omitempty"` // Slack user ID
	RequesterEmail string `json:"requester_email,omitempty"`
	ThirdParty     bool   `json:"third_party,omitempty"`
	Actor          string `json:"actor,omitempty"` // who caused the event; empty for jitbot itself

	Role      string `json:"role,omitempty"`
	Backend   string `json:"backend,omitempty"`
	Target    string `json:"target,omitempty"`    // role ARN, IAM or Identity Center group, or <account>/<permission set>
	Principal string `json:"principal,omitempty"` // IAM user, or Identity Center user name
	Account   string `json:"account,omitempty"`   // aws_sso: the account ID
	// Workload is the CI job or agent that made the request, when one did
	// (Requester is then empty): who it proved to be, and its run.
	Workload *Workload `json:"workload,omitempty"`
	Duration string    `json:"duration,omitempty"`
	Extends  string    `json:"extends,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Incident string    `json:"incident,omitempty"`

	// Rule is the CEL expression that made the requester eligible or, for
	// a break-glass grant, the auto_approve rule; CatalogSHA256 names the
	// catalog it came from.
	Rule          string `json:"rule,omitempty"`
	CatalogSHA256 string `json:"catalog_sha256,omitempty"`
	AutoApproved  bool   `json:"auto_approved,omitempty"`
	// DryRun: the request was a dry run (JIT_DRY_RUN); nothing was changed
	// in AWS. Left out when false, so entries written before it existed
	// keep their hashes.
	DryRun     bool       `json:"dry_run,omitempty"`
	Approvals  []Approval `json:"approvals,omitempty"`
	ReviewedBy string     `json:"reviewed_by,omitempty"`

	State     string    `json:"state,omitempty"`
	GrantedAt time.Time `json:"granted_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// SessionName and AccessKeyID (not a secret) match the grant in
	// CloudTrail, as do the AWS request IDs of the calls.
	SessionName        string `json:"session_name,omitempty"`
	AccessKeyID        string `json:"access_key_id,omitempty"`
	GrantAWSRequestID  string `json:"grant_aws_request_id,omitempty"`
	RevokeAWSRequestID string `json:"revoke_aws_request_id,omitempty"`
	// Outcome says how it ended or what went wrong: the deny reason, the
	// revoke reason, a failure, a refusal.
	Outcome string `json:"outcome,omitempty"`

	// Keyed says Hash is an HMAC-SHA256 under the signing key; false only
	// for entries written before the key existed. It is covered by Hash,
	// and Verify accepts no unkeyed entry after a keyed one.
	Keyed bool   `json:"keyed,omitempty"`
	Prev  string `json:"prev"`           // Hash of the previous entry; "" for the first
	Hash  string `json:"hash,omitempty"` // HMAC-SHA256 (SHA-256 if not Keyed) of this entry's JSON with Hash empty
}

// Approval is one approver's yes.
type Approval struct {
	Approver string    `json:"approver"`
	At       time.Time `json:"at"`
}

// TypeTokenRefused is the entry of a workload token the API refused; it
// belongs to no request (Actor is the client address, Outcome which check
// failed).
const TypeTokenRefused = "token_refused"

// FromEvent turns a domain event into an entry (without its place in the
// chain). e.Credentials is never read.
func FromEvent(e grants.Event) Entry {
	r := e.Request
	en := Entry{
		Type: string(e.Type), At: e.At.UTC(),
		RequestID: string(r.ID), Requester: r.Requester.ID, RequesterEmail: r.Requester.Email,
		ThirdParty: r.Requester.IsGuest || r.Requester.IsExternal, Actor: e.Actor,
		Role: r.Role, Backend: r.Backend, Target: r.Target, Principal: r.Principal, Account: r.Account,
		Extends: string(r.Extends), Reason: r.Reason, Incident: r.Incident,
		Rule: r.Rule, CatalogSHA256: e.CatalogSHA256, AutoApproved: r.AutoApproved, DryRun: r.DryRun, ReviewedBy: r.ReviewedBy,
		State: string(r.State), GrantedAt: r.GrantedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), EndedAt: r.RevokedAt.UTC(),
		SessionName: r.SessionName, AccessKeyID: r.AccessKeyID,
		GrantAWSRequestID: r.GrantAWSRequestID, RevokeAWSRequestID: r.RevokeAWSRequestID,
		Outcome: outcome(e),
	}
	if r.Duration > 0 {
		en.Duration = r.Duration.String()
	}
	if w := r.Workload; w != nil {
		en.Workload = &Workload{Issuer: w.Issuer, IssuerName: w.IssuerName, Subject: w.Subject, Repository: w.Repository, Ref: w.Ref,
			Environment: w.Environment, Workflow: w.Workflow, RunID: w.RunID, Actor: w.Actor, Namespace: w.Namespace, ServiceAccount: w.ServiceAccount}
	}
	for _, a := range r.Approvals {
		en.Approvals = append(en.Approvals, Approval{Approver: a.Approver, At: a.At.UTC()})
	}
	return en
}

func outcome(e grants.Event) string {
	r := e.Request
	switch {
	case e.Err != "":
		return e.Err
	case e.Type == grants.EventDenied:
		return r.DenyReason
	case e.Type == grants.EventRevoked:
		return r.RevokeReason
	case e.Type == grants.EventRequested && r.Notice != "":
		return r.Notice
	}
	return ""
}

// canonical is the entry's JSON with Hash empty: what Hash covers.
func (e Entry) canonical() []byte {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		panic("auditlog: marshal entry: " + err.Error()) // only plain fields: cannot happen
	}
	return b
}

// sum is the entry's chain value in hex: the HMAC-SHA256 of its canonical
// JSON under key, or its plain SHA-256 when key is nil (entries written
// before the key existed).
func (e Entry) sum(key []byte) string {
	if key == nil {
		h := sha256.Sum256(e.canonical())
		return hex.EncodeToString(h[:])
	}
	m := hmac.New(sha256.New, key)
	m.Write(e.canonical())
	return hex.EncodeToString(m.Sum(nil))
}

// Rehash returns an entry's JSON with its Hash recomputed under key (nil:
// plain SHA-256, and Keyed cleared); for tests and tools that build
// entries by hand.
func Rehash(raw []byte, key []byte) ([]byte, error) {
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, err
	}
	e.Keyed = key != nil
	e.Hash = e.sum(key)
	return json.Marshal(e)
}

// Workload is a workload requester as the log keeps it: the verified
// identity and the run, without the token's other claims.
type Workload struct {
	Issuer         string `json:"issuer"`
	IssuerName     string `json:"issuer_name"`
	Subject        string `json:"subject"`
	Repository     string `json:"repository,omitempty"`
	Ref            string `json:"ref,omitempty"`
	Environment    string `json:"environment,omitempty"`
	Workflow       string `json:"workflow,omitempty"`
	RunID          string `json:"run_id,omitempty"`
	Actor          string `json:"actor,omitempty"`
	Namespace      string `json:"namespace,omitempty"`
	ServiceAccount string `json:"service_account,omitempty"`
}
