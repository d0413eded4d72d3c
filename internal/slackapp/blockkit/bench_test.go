package blockkit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
)

// Benchmarks of the renderings on the hot paths: the approver's DM, the
// credentials DM, /jit roles over a large catalog and the audit trail.
// Each checks its output once, against Slack's limits and for what it
// must show, before it is timed.

// checked fails b unless blocks pass Slack's limits and their JSON holds
// every one of want. It returns the JSON's size.
func checked(b *testing.B, blocks []slack.Block, want ...string) int {
	b.Helper()
	if len(blocks) == 0 {
		b.Fatal("no blocks")
	}
	if problems := surfaceProblems(blocks); len(problems) > 0 {
		b.Fatalf("rendering breaks Slack's rules: %s", strings.Join(problems, "; "))
	}
	raw, err := json.Marshal(blocks)
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(string(raw), w) {
			b.Fatalf("rendering lacks %q:\n%s", w, raw)
		}
	}
	return len(raw)
}

func BenchmarkApprovalRequest(b *testing.B) {
	r := pendingGroup()
	checked(b, ApprovalRequest(r), "prod-admin", string(r.ID), ActionApprove, ActionDeny)
	b.ReportAllocs()
	for b.Loop() {
		ApprovalRequest(r)
	}
}

func BenchmarkGranted(b *testing.B) {
	b.Run("sts", func(b *testing.B) {
		r := activeSTS()
		checked(b, Granted(r, &creds), "prod-readonly", "export AWS_SESSION_TOKEN="+creds.SessionToken)
		b.ReportAllocs()
		for b.Loop() {
			Granted(r, &creds)
		}
	})
	b.Run("group", func(b *testing.B) {
		r := activeGroup()
		checked(b, Granted(r, nil), "prod-admin", r.Target)
		b.ReportAllocs()
		for b.Loop() {
			Granted(r, nil)
		}
	})
}

// BenchmarkRolesMessage1000 renders /jit roles for a caller eligible for
// all of 1,000 roles (manyRoles of safety_test.go; docs/design.md §6: the whole
// command within 5 ms). "shown" is how many roles the answer lists
// (MaxRolesShown); the rest are counted in a closing line.
func BenchmarkRolesMessage1000(b *testing.B) {
	roles := manyRoles(1000)
	blocks := Roles(roles, "")
	checked(b, blocks, "*Roles you can request* (1000)", "*team-0000-readonly*", "…and 970 more")
	raw, _ := json.Marshal(blocks)
	shown := strings.Count(string(raw), "-readonly*")
	b.Run("render", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Roles(roles, "")
		}
		b.ReportMetric(float64(shown), "shown")
	})
	// What slack-go sends: the rendering marshalled to JSON.
	b.Run("render+json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(Roles(roles, "")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAudit renders the audit channel's parent message, re-rendered on
// every event, and one thread reply.
func BenchmarkAudit(b *testing.B) {
	b.Run("parent", func(b *testing.B) {
		r := breakGlassActive()
		text, blocks := AuditParent(r)
		checked(b, blocks, "prod-admin-sts", string(r.ID), r.AccessKeyID)
		if !strings.Contains(text, string(r.ID)) {
			b.Fatalf("fallback text %q lacks the request ID", text)
		}
		b.ReportAllocs()
		for b.Loop() {
			AuditParent(r)
		}
	})
	b.Run("event", func(b *testing.B) {
		e := grants.Event{Type: grants.EventGranted, Request: *activeSTS(), Actor: bob}
		line := AuditEvent(e)
		if !strings.Contains(line, "granted until") || !strings.Contains(line, e.Request.SessionName) {
			b.Fatalf("audit line %q does not say what was granted", line)
		}
		b.ReportAllocs()
		for b.Loop() {
			AuditEvent(e)
		}
	})
}
