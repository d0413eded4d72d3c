package grants_test

import (
	"testing"
)

// TestWorkloadGrantCarriesJob: the backend is handed the workload a grant
// is for, so it can bind the credentials to the job (aws_sts sets
// SourceIdentity and session tags from it).
func TestWorkloadGrantCarriesJob(t *testing.T) {
	e := newWorkloadEnv(t)
	e.mustRequestAs(t, job("refs/heads/main"), "ci-deploy")
	e.backend.mu.Lock()
	issued := append(e.backend.issued[:0:0], e.backend.issued...)
	e.backend.mu.Unlock()
	if len(issued) != 1 {
		t.Fatalf("%d grants issued, want 1", len(issued))
	}
	w := issued[0].Workload
	if w == nil || w.IssuerName != "github" || w.Subject != job("refs/heads/main").Subject || w.Repository != "acme/infra" || w.RunID != "42" {
		t.Errorf("grant's workload = %+v, want the job that asked", w)
	}
}
