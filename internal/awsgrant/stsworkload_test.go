package awsgrant_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// TestSTSWorkloadSession checks at the proxy that a workload's session
// is bound to its job: SourceIdentity names issuer and subject, and the
// jit-repository and jit-run tags name the repository and run, in STS's
// alphabets and lengths; the session name names the job too, since
// GetCallerIdentity shows it and not SourceIdentity; a person's session
// has neither tag.
func TestSTSWorkloadSession(t *testing.T) {
	e := newEnv(t)
	b := awsgrant.NewSTS(e.cfg, testLogger(t))
	arn := e.createRole(t, "deploy", maxSession)
	longRepo := "acme/" + strings.Repeat("r", 300)

	tests := []struct {
		name     string
		workload *rules.Workload
		email    string
		wantID   string
		wantName string
		wantTags map[string]string
	}{
		{name: "person", email: "alice@example.com", wantID: "alice@example.com", wantName: "jit-alice-JIT-WL0001",
			wantTags: map[string]string{}},
		{name: "github job", workload: &rules.Workload{IssuerName: "github",
			Subject: "repo:acme/infra:ref:refs/heads/main", Repository: "acme/infra<!channel>", RunID: "1234567890"},
			wantID:   "github-repo-acme-infra-ref-refs-heads-main",
			wantName: "jit-github-repo-acme-infra-ref-refs-heads-main-JIT-WL0001",
			wantTags: map[string]string{"jit-repository": "acme/infra__channel_", "jit-run": "1234567890"}},
		{name: "kubernetes workload has no repository or run", workload: &rules.Workload{IssuerName: "eks",
			Subject: "system:serviceaccount:batch:nightly-report", Namespace: "batch", ServiceAccount: "nightly-report"},
			wantID:   "eks-system-serviceaccount-batch-nightly-report",
			wantName: "jit-eks-system-serviceaccount-batch-nightly-report-JIT-WL0001",
			wantTags: map[string]string{}},
		{name: "long claims are cut", workload: &rules.Workload{IssuerName: "github",
			Subject: "repo:" + longRepo + ":ref:refs/heads/main", Repository: longRepo, RunID: "7"},
			wantID:   ("github-repo-acme-" + strings.Repeat("r", 64))[:64],
			wantName: "jit-" + ("github-repo-acme-" + strings.Repeat("r", 64))[:49] + "-JIT-WL0001",
			wantTags: map[string]string{"jit-repository": longRepo[:256], "jit-run": "7"}},
	}
	start := time.Now().UTC().Truncate(time.Second)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.proxy.Reset()
			g := grants.Grant{
				RequestID: "JIT-WL0001", Backend: grants.BackendSTS, Target: arn,
				RequesterEmail: tt.email, Approvers: []string{"auto"},
				Start: start, Expires: start.Add(time.Hour), Workload: tt.workload,
			}
			if _, err := b.Grant(t.Context(), g); err != nil {
				t.Fatalf("Grant: %v", err)
			}
			p := onlyCall(t, e.proxy, "AssumeRole").Params
			if got := p.Get("SourceIdentity"); got != tt.wantID {
				t.Errorf("SourceIdentity = %q, want %q", got, tt.wantID)
			}
			if got := p.Get("RoleSessionName"); got != tt.wantName {
				t.Errorf("RoleSessionName = %q, want %q", got, tt.wantName)
			}
			got := tags(p)
			if got["jit-request"] != "JIT-WL0001" || got["jit-approver"] != "auto" {
				t.Errorf("Tags = %v, want jit-request and jit-approver kept", got)
			}
			delete(got, "jit-request")
			delete(got, "jit-approver")
			if !reflect.DeepEqual(got, tt.wantTags) {
				t.Errorf("workload tags = %v, want %v", got, tt.wantTags)
			}
		})
	}
}
