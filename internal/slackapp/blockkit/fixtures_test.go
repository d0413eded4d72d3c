package blockkit

import (
	"time"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Fixed values for golden files: the same clock and the same people every
// run, so a golden changes only when a rendering does.
var (
	now   = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	alice = rules.User{ID: "U0ALICE1", Name: "Alice Example", Email: "alice@example.com", Groups: []string{"sre"}}
	bob   = "U0BOB0002"
	carol = "U0CAROL03"

	creds = grants.Credentials{
		AccessKeyID:     "ASIAEXAMPLEKEY000001",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY1",
		SessionToken:    "FwoGZXIvYXdzEXAMPLESESSIONTOKENnm4bBQ4tQ+/wZb1AAAzbcdE9Mj6xMZlLeT0KEN",
		Expiration:      time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC),
	}
)

// pendingGroup is a two-approver aws_iam_group request with one approval.
func pendingGroup() *grants.Request {
	return &grants.Request{
		ID:                "JIT-7K3QX2",
		State:             grants.Pending,
		Requester:         alice,
		Role:              "prod-admin",
		Backend:           grants.BackendGroup,
		Target:            "jit-prod-admin",
		Principal:         "alice",
		Duration:          time.Hour,
		Reason:            "fixing INC-42 replica lag on the orders database",
		Incident:          "INC-42",
		Rule:              `"sre" in user.groups`,
		ApprovalsRequired: 2,
		CreatedAt:         now.Add(-5 * time.Minute),
		Deadline:          now.Add(25 * time.Minute),
		Approvals:         []grants.Approval{{Approver: bob, At: now.Add(-time.Minute)}},
	}
}

// pendingSTS is a one-approver aws_sts request nobody has approved yet.
func pendingSTS() *grants.Request {
	return &grants.Request{
		ID:                "JIT-4MW9TZ",
		State:             grants.Pending,
		Requester:         alice,
		Role:              "prod-readonly",
		Backend:           grants.BackendSTS,
		Target:            "arn:aws:iam::111111111111:role/prod-readonly",
		Duration:          30 * time.Minute,
		Reason:            "investigating latency in checkout",
		Rule:              `user.email.endsWith("@example.com")`,
		ApprovalsRequired: 1,
		CreatedAt:         now.Add(-2 * time.Minute),
		Deadline:          now.Add(28 * time.Minute),
	}
}

// activeSTS is pendingSTS approved by Bob and granted.
func activeSTS() *grants.Request {
	r := pendingSTS()
	r.State = grants.Active
	r.Approvals = []grants.Approval{{Approver: bob, At: now.Add(-time.Minute)}}
	r.DecidedAt = now.Add(-time.Minute)
	r.GrantedAt = now.Add(-time.Minute)
	r.ExpiresAt = now.Add(29 * time.Minute)
	r.SessionName = "jit-alice-JIT-4MW9TZ"
	r.AccessKeyID = creds.AccessKeyID
	r.CredsExpire = creds.Expiration
	return r
}

// activeGroup is pendingGroup with its second approval, granted.
func activeGroup() *grants.Request {
	r := pendingGroup()
	r.State = grants.Active
	r.Approvals = append(r.Approvals, grants.Approval{Approver: carol, At: now})
	r.DecidedAt = now
	r.GrantedAt = now
	r.ExpiresAt = now.Add(time.Hour)
	return r
}

// extension asks for 30 more minutes of activeSTS.
func extension() *grants.Request {
	r := pendingSTS()
	r.ID = "JIT-9PQ2RS"
	r.Extends = "JIT-4MW9TZ"
	r.Duration = 30 * time.Minute
	r.Reason = "the migration needs another half hour"
	return r
}

// breakGlass is an on-call engineer's auto-approved, active grant.
func breakGlassActive() *grants.Request {
	r := activeSTS()
	r.ID = "JIT-BG7X3K"
	r.Role = "prod-admin-sts"
	r.Target = "arn:aws:iam::111111111111:role/prod-admin"
	r.Incident = "INC-99"
	r.Reason = "checkout is down, restarting the stuck writer"
	r.AutoApproved = true
	r.Approvals = nil
	r.Rule = `request.incident != "" && "oncall" in user.groups`
	r.SessionName = "jit-alice-JIT-BG7X3K"
	r.ReviewDue = r.GrantedAt.Add(24 * time.Hour)
	return r
}

// reviewed is a break-glass grant an owner acknowledged.
func reviewed() *grants.Request {
	r := breakGlassActive()
	r.ReviewedBy = "U0CAROL03"
	r.ReviewedAt = r.GrantedAt.Add(10 * time.Minute)
	r.ReviewDue = time.Time{}
	return r
}

// thirdPartyPending is a request of a Slack Connect user from a vendor.
func thirdPartyPending() *grants.Request {
	r := pendingSTS()
	r.Requester.IsExternal = true
	r.Requester.Email = "vic@vendor.example"
	r.ApprovalsRequired = 2
	return r
}

func denied() *grants.Request {
	r := pendingGroup()
	r.State = grants.Denied
	r.DecidedBy = carol
	r.DecidedAt = now
	r.DenyReason = "use prod-readonly for this, please"
	return r
}

func timedOut() *grants.Request {
	r := pendingSTS()
	r.State = grants.TimedOut
	r.Deadline = now.Add(-time.Minute)
	return r
}

func cancelled() *grants.Request {
	r := pendingSTS()
	r.State = grants.Cancelled
	r.DecidedBy = alice.ID
	r.DecidedAt = now
	return r
}

func failed() *grants.Request {
	r := activeGroup()
	r.State = grants.Failed
	r.ExpiresAt = time.Time{}
	r.Failure = `IAM user "alice" does not exist`
	r.RevokeReason = "grant failed"
	r.RevokedAt = now
	return r
}

func expired() *grants.Request {
	r := activeSTS()
	r.State = grants.Revoked
	r.RevokeReason = grants.ReasonExpired
	r.RevokedAt = r.ExpiresAt
	return r
}

func revokedByApprover() *grants.Request {
	r := activeGroup()
	r.State = grants.Revoked
	r.RevokedBy = carol
	r.RevokeReason = "the incident is closed"
	r.RevokedAt = now.Add(10 * time.Minute)
	return r
}

func revokingStuck() *grants.Request {
	r := activeGroup()
	r.State = grants.Revoking
	r.RevokeReason = grants.ReasonExpired
	r.Attempts = 5
	r.LastError = "operation error IAM: RemoveUserFromGroup, https response error StatusCode: 503"
	return r
}

func role(name, desc, backend string, def, max time.Duration, approvals int) *rules.Role {
	return &rules.Role{Name: name, Description: desc, Backend: backend, DefaultDuration: def, MaxDuration: max, ApprovalsRequired: approvals}
}

func sampleRoles() []*rules.Role {
	admin := role("prod-admin", "Admin access to production, through the jit-prod-admin group", grants.BackendGroup, time.Hour, 2*time.Hour, 2)
	ro := role("prod-readonly", "Read-only access to the production account", grants.BackendSTS, time.Hour, 4*time.Hour, 1)
	ro.AutoApprove = `request.incident != "" && "oncall" in user.groups`
	billing := role("billing-readonly", "", grants.BackendSTS, 30*time.Minute, time.Hour, 1)
	return []*rules.Role{admin, billing, ro}
}

var examples = []string{
	"/jit request prod-readonly 1h investigating INC-42 latency in checkout",
	"/jit request prod-admin 30m --incident INC-42 restart the stuck replica",
	"/jit list",
	"/jit extend JIT-7K3QX2 30m",
	"/jit revoke JIT-7K3QX2",
}

// windowForAlice is a window filed by Carol for Alice, starting in two
// hours, with one approval needed and none yet.
func windowForAlice() *grants.Request {
	r := pendingGroup()
	r.ID = "JIT-W1ND0W"
	r.ApprovalsRequired, r.Approvals = 1, nil
	r.FiledBy = &rules.User{ID: carol, Name: "Carol", Email: "carol@example.com"}
	r.Start = now.Add(2 * time.Hour)
	r.Deadline = r.Start
	return r
}

// scheduledForAlice is windowForAlice approved by Bob.
func scheduledForAlice() *grants.Request {
	r := windowForAlice()
	r.State = grants.Scheduled
	r.Approvals = []grants.Approval{{Approver: bob, At: now.Add(-time.Minute)}}
	r.DecidedAt = now.Add(-time.Minute)
	return r
}

// atSecurityStep is pendingGroup under approval_steps: Bob, an owner,
// approved step 1; step 2 waits on @security, where the handle is text
// a catalog could have made hostile.
func atSecurityStep() *grants.Request {
	r := pendingGroup()
	r.ID = "JIT-5TEP52"
	r.Steps = []grants.ApprovalStep{
		{Approvers: []string{bob, carol}, Required: 1},
		{Approvers: []string{"@security", "@sec<!here>"}, Required: 1},
	}
	r.Approvals[0].Step = 0
	return r
}
