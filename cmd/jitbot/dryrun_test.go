package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeDryRun runs `jitbot serve` with JIT_DRY_RUN=true next to a
// reachable AWS (moto behind the recording proxy) and an AWS profile that
// does not exist: it starts with a loud warning, goes through request,
// approval and early revocation with every message marked, and sends AWS
// nothing at all, reconciliation included.
func TestServeDryRun(t *testing.T) {
	b := startBot(t, "JIT_DRY_RUN=true", "AWS_PROFILE=jitbot-no-such-profile")
	b.slack.WaitFor(t, "the dry-run warning", 5*time.Second, func() bool {
		return strings.Contains(b.logs.text(), `"level":"WARN","msg":"DRY RUN (JIT_DRY_RUN=true)`)
	})
	ack := b.command(t, "UALICE", "request readonly 30m checking replica lag for INC-42")
	if !strings.Contains(ack, "DRY RUN") {
		t.Errorf("acknowledgement does not say DRY RUN: %s", ack)
	}
	id := requestID(t, ack)
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", id), "jit_approve", id)
	dm := b.dmWith(t, "UALICE", id, "DRY RUN", "no credentials were issued",
		"sts:AssumeRole RoleArn=arn:aws:iam::123456789012:role/jit-readonly RoleSessionName=jit-alice-"+id+" DurationSeconds=1800 SourceIdentity=alice@example.com")
	if strings.Contains(visible(dm), "export AWS_") {
		t.Errorf("a dry run's DM holds credentials: %s", visible(dm))
	}
	if answer := b.command(t, "UALICE", "revoke "+id); !strings.Contains(answer, "DRY RUN") {
		t.Errorf("the answer to /jit revoke does not say DRY RUN: %s", answer)
	}
	b.dmWith(t, "UALICE", id, "DRY RUN", "You gave up your access", "iam:PutRolePolicy RoleName=jit-readonly PolicyName=jit-revoked (adds jit-request="+id+" ")
	_, replies := b.waitAudit(t, id, 4) // requested, approved, granted, revoked
	for _, r := range replies {
		if !strings.Contains(r, "DRY RUN") {
			t.Errorf("audit reply without DRY RUN: %s", r)
		}
	}
	if calls := b.proxy.Calls(""); len(calls) != 0 {
		t.Errorf("a dry run called AWS: %d calls, the first %s", len(calls), calls[0].Action)
	}
	log := b.logs.text()
	for _, s := range []string{`"msg":"no usable AWS configuration; a dry run needs none"`, `"would_call":"sts:AssumeRole RoleArn=`, `"would_call":"iam:PutRolePolicy`} {
		if !strings.Contains(log, s) {
			t.Errorf("jitbot's log lacks %s", s)
		}
	}
}
