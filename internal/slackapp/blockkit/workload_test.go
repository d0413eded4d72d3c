package blockkit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// githubJob is pendingSTS asked for by a GitHub Actions job whose
// repository and actor carry mrkdwn and a broadcast.
func githubJob() *grants.Request {
	r := asWorkload(pendingSTS(), &rules.Workload{
		Issuer: "https://token.actions.githubusercontent.com", IssuerName: "github",
		Subject:    "repo:acme/infra:ref:refs/heads/main",
		Repository: "acme/infra<!channel>", Ref: "refs/heads/main", Environment: "prod",
		Workflow: "deploy *bold*", RunID: "1234567890", Actor: "*bold* <!channel>",
	})
	r.ID = "JIT-WL1GH2"
	r.Rule = `workload.repository == "acme/infra"`
	return r
}

// k8sJob is a Kubernetes service account's request, approved and granted.
func k8sJob() *grants.Request {
	r := asWorkload(activeSTS(), &rules.Workload{
		Issuer: "https://oidc.eks.example", IssuerName: "eks",
		Subject:   "system:serviceaccount:batch:nightly-report",
		Namespace: "batch", ServiceAccount: "nightly-report",
	})
	r.ID = "JIT-WL3K8S"
	r.SessionName = "jit-eks-JIT-WL3K8S"
	return r
}

// asWorkload makes w r's requester, as the service records a workload's
// request: no Slack user, and the name "<issuer name>:<subject>".
func asWorkload(r *grants.Request, w *rules.Workload) *grants.Request {
	r.Workload = w
	r.Requester = rules.User{Name: w.IssuerName + ":" + w.Subject}
	return r
}

func TestGoldenWorkload(t *testing.T) {
	gh, k8s := githubJob(), k8sJob()
	ghParentText, ghParent := AuditParent(gh)
	_, k8sParent := AuditParent(k8s)
	var events strings.Builder
	for _, e := range []grants.Event{{Type: grants.EventRequested, Request: *gh}, {Type: grants.EventGranted, Request: *k8s}} {
		line, ok := eventLine(e)
		if !ok {
			t.Fatalf("eventLine(%s) not worded", e.Type)
		}
		events.WriteString(line + "\n")
	}
	tests := []struct {
		name string
		v    any
	}{
		{"workload_approval_request_github", ApprovalRequest(gh)},
		{"workload_approval_outcome_k8s", ApprovalOutcome(k8s)},
		{"workload_audit_parent_github", map[string]any{"text": ghParentText, "blocks": ghParent}},
		{"workload_audit_parent_k8s", k8sParent},
		{"workload_audit_events", events.String()},
		{"workload_list_awaiting", List(grants.Listing{Awaiting: []*grants.Request{gh, k8s}}, now)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { golden(t, tt.name, indented(t, tt.v)) })
	}
}

// TestWorkloadRequesterSafe checks every rendering of a workload's
// request: no Slack mention of an empty user, the claims escaped and
// inert, and the job named by its subject.
func TestWorkloadRequesterSafe(t *testing.T) {
	for _, r := range []*grants.Request{githubJob(), k8sJob()} {
		parentText, parentBlocks := AuditParent(r)
		home := Home(grants.Listing{Awaiting: []*grants.Request{r}}, now)
		for name, v := range map[string]any{
			"ApprovalRequest": ApprovalRequest(r), "ApprovalOutcome": ApprovalOutcome(r),
			"ReviewRequest": ReviewRequest(r), "ReviewOutcome": ReviewOutcome(r), "ReviewReminder": ReviewReminder(r),
			"AuditParent": parentBlocks, "AuditParent text": parentText,
			"List": List(grants.Listing{Awaiting: []*grants.Request{r}}, now), "Home": home.Blocks,
		} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got := htmlUnescaper.Replace(string(b))
			for _, bad := range []string{"<!channel>", "<@>", "someone"} {
				if strings.Contains(got, bad) {
					t.Errorf("%s %s: has %q:\n%s", r.ID, name, bad, got)
				}
			}
			if out := outsideCode(got); strings.Contains(out, "bold*") || strings.Contains(out, "!channel") {
				t.Errorf("%s %s: a claim is outside inline code, where mrkdwn acts on it:\n%s", r.ID, name, got)
			}
			if !strings.Contains(got, r.Workload.Subject) {
				t.Errorf("%s %s: does not name the subject %q:\n%s", r.ID, name, r.Workload.Subject, got)
			}
		}
	}
}

// TestWorkloadFactsGitHub checks each claim lands in its field, as code.
func TestWorkloadFactsGitHub(t *testing.T) {
	bs := workloadBlocks(githubJob())
	if len(bs) != 1 {
		t.Fatalf("workloadBlocks: %d blocks, want 1", len(bs))
	}
	var got []string
	for _, f := range bs[0].(*slack.SectionBlock).Fields {
		got = append(got, f.Text)
	}
	want := []string{
		"*Repository*\n`acme/infra&lt;!channel&gt;`", "*Ref*\n`refs/heads/main`", "*Environment*\n`prod`",
		"*Workflow*\n`deploy *bold*`", "*Run*\n`1234567890`", "*Triggered by*\n`*bold* &lt;!channel&gt;`",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("fields:\n got %q\nwant %q", got, want)
	}
	if workloadBlocks(pendingSTS()) != nil {
		t.Error("a person's request has workload fields")
	}
}

// outsideCode is s without its `inline code` spans, where mrkdwn is
// inert.
func outsideCode(s string) string {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 0 {
			b.WriteString(part)
		}
	}
	return b.String()
}
