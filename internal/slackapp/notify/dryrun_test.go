package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/grants"
)

// TestDryRunMarkedInTheChannel: the parent of a dry run and every reply
// in its thread say DRY RUN, and the grant's reply shows the AWS calls
// that were not made.
func TestDryRunMarkedInTheChannel(t *testing.T) {
	trail, s, q := newTrail(t)
	r := breakGlass()
	r.DryRun = true
	r.AccessKeyID = ""
	r.DryRunGrant = []string{"sts:AssumeRole RoleArn=arn:aws:iam::111111111111:role/readonly RoleSessionName=jit-bob-JIT-7K3QX2"}
	pending := r
	pending.State = grants.Granting
	pending.DryRunGrant = nil
	ctx := context.Background()
	// One at a time, as when Slack keeps up: a reply each.
	trail.Notify(ctx, grants.Event{Type: grants.EventRequested, Request: pending, Actor: "UBOB"})
	q.Wait()
	trail.Notify(ctx, grants.Event{Type: grants.EventAutoApproved, Request: pending})
	q.Wait()
	trail.Notify(ctx, grants.Event{Type: grants.EventGranted, Request: r})
	q.Wait()

	msgs := s.Messages(channel)
	if len(msgs) != 4 {
		t.Fatalf("%d messages in the audit channel, want a parent and 3 replies: %+v", len(msgs), msgs)
	}
	for _, m := range msgs {
		if !strings.Contains(m.Text, "DRY RUN") {
			t.Errorf("message %s does not say DRY RUN: %q", m.TS, m.Text)
		}
	}
	if parent := msgs[0]; !strings.Contains(string(parent.Blocks), "DRY RUN* — nothing was changed in AWS.") {
		t.Errorf("parent blocks lack the dry-run note: %s", parent.Blocks)
	}
	if last := msgs[len(msgs)-1]; !strings.Contains(last.Text, "would have sent to AWS") || !strings.Contains(last.Text, "RoleSessionName=jit-bob-JIT-7K3QX2") {
		t.Errorf("granted reply does not show the calls not made: %q", last.Text)
	}
}
