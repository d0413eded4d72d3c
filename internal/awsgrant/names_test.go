package awsgrant_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/awsgrant"
	"github.com/jitbot/jitbot/internal/grants"
)

func TestSessionName(t *testing.T) {
	tests := []struct {
		name  string
		email string
		id    grants.RequestID
		want  string
	}{
		{name: "plain", email: "alice@example.com", id: "JIT-7K3QX2", want: "jit-alice-JIT-7K3QX2"},
		{name: "allowed punctuation kept", email: "a.b_c+d=e,f@example.com", id: "JIT-7K3QX2", want: "jit-a.b_c+d=e,f-JIT-7K3QX2"},
		{name: "odd characters replaced", email: "o'neil/x y!@example.com", id: "JIT-7K3QX2", want: "jit-o-neil-x-y--JIT-7K3QX2"},
		{name: "non-ASCII replaced per character", email: "jörg@example.com", id: "JIT-7K3QX2", want: "jit-j-rg-JIT-7K3QX2"},
		{name: "quoted local part with @ uses the last @", email: `"a@b"@example.com`, id: "JIT-7K3QX2", want: "jit--a@b--JIT-7K3QX2"},
		{name: "no @ uses the whole string", email: "alice", id: "JIT-7K3QX2", want: "jit-alice-JIT-7K3QX2"},
		{name: "empty email", email: "", id: "JIT-7K3QX2", want: "jit-JIT-7K3QX2"},
		{name: "exactly 64", email: strings.Repeat("a", 49) + "@example.com", id: "JIT-7K3QX2",
			want: "jit-" + strings.Repeat("a", 49) + "-JIT-7K3QX2"},
		{name: "long local part is cut, ID kept", email: strings.Repeat("a", 100) + "@example.com", id: "JIT-7K3QX2",
			want: "jit-" + strings.Repeat("a", 49) + "-JIT-7K3QX2"},
		{name: "absurd ID is cut at 64", email: "alice@example.com", id: grants.RequestID(strings.Repeat("X", 80)),
			want: "jit-" + strings.Repeat("X", 60)},
	}
	valid := regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := awsgrant.SessionName(tt.email, tt.id)
			if got != tt.want {
				t.Errorf("SessionName(%q, %q) = %q, want %q", tt.email, tt.id, got, tt.want)
			}
			if !valid.MatchString(got) {
				t.Errorf("SessionName(%q, %q) = %q is not a valid RoleSessionName", tt.email, tt.id, got)
			}
		})
	}
}

func TestWorkloadSessionName(t *testing.T) {
	tests := []struct {
		name, issuer, subject string
		want                  string
	}{
		{name: "github", issuer: "github", subject: "repo:acme/infra:ref:refs/heads/main",
			want: "jit-github-repo-acme-infra-ref-refs-heads-main-JIT-7K3QX2"},
		{name: "kubernetes", issuer: "k8s-prod", subject: "system:serviceaccount:deploy:deployer",
			want: "jit-k8s-prod-system-serviceaccount-deploy-deployer-JIT-7K3QX2"},
		{name: "long subject is cut, ID kept", issuer: "gitlab", subject: "project_path:" + strings.Repeat("g", 80) + ":ref_type:branch:ref:main",
			want: "jit-gitlab-project_path-" + strings.Repeat("g", 29) + "-JIT-7K3QX2"},
	}
	valid := regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := awsgrant.WorkloadSessionName(tt.issuer, tt.subject, "JIT-7K3QX2")
			if got != tt.want || !valid.MatchString(got) {
				t.Errorf("WorkloadSessionName(%q, %q) = %q, want %q (a valid RoleSessionName)", tt.issuer, tt.subject, got, tt.want)
			}
		})
	}
}
