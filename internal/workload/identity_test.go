package workload

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/oidcfake"
)

func TestVerifyGitHubActionsToken(t *testing.T) {
	gh, v := trustedFake(t, "github")
	claims := gh.GitHubActionsClaims(audience)
	id := verify(t, v, gh.Token(claims))
	want := Identity{
		Issuer:      gh.URL,
		IssuerName:  "github",
		Subject:     "repo:acme/infra:ref:refs/heads/main",
		Repository:  oidcfake.Repository,
		Ref:         "refs/heads/main",
		Environment: oidcfake.Environment,
		Workflow:    "acme/infra/.github/workflows/deploy.yml@refs/heads/main",
		RunID:       oidcfake.RunID,
		Actor:       oidcfake.Actor,
	}
	checkIdentity(t, id, want)
	if got, want := id.Expiry.Unix(), claims["exp"].(int64); got != want {
		t.Errorf("Expiry = %d, want exp %d", got, want)
	}
	if got := id.Claims["job_workflow_ref"]; got != claims["job_workflow_ref"] {
		t.Errorf("Claims[job_workflow_ref] = %v, want %v", got, claims["job_workflow_ref"])
	}
}

func TestVerifyGitLabCIToken(t *testing.T) {
	gl, v := trustedFake(t, "gitlab")
	id := verify(t, v, gl.Token(gl.GitLabCIClaims(audience)))
	checkIdentity(t, id, Identity{
		Issuer:      gl.URL,
		IssuerName:  "gitlab",
		Subject:     "project_path:acme/infra:ref_type:branch:ref:main",
		Repository:  oidcfake.Repository,
		Ref:         "refs/heads/main",
		Environment: oidcfake.Environment,
		Workflow:    "gitlab.example.com/acme/infra//.gitlab-ci.yml@refs/heads/main",
		RunID:       oidcfake.RunID,
		Actor:       oidcfake.Actor,
	})
	// GitLab's runner_id is a JSON number; Claims keeps its exact text.
	if got, want := id.Claims["runner_id"], json.Number("12270835"); got != want {
		t.Errorf("Claims[runner_id] = %#v, want %#v", got, want)
	}
}

func TestVerifyKubernetesToken(t *testing.T) {
	k8s, v := trustedFake(t, "eks-prod")
	id := verify(t, v, k8s.Token(k8s.KubernetesClaims(audience, "ci", "deployer")))
	checkIdentity(t, id, Identity{
		Issuer:         k8s.URL,
		IssuerName:     "eks-prod",
		Subject:        "system:serviceaccount:ci:deployer",
		Namespace:      "ci",
		ServiceAccount: "deployer",
	})
}

// checkIdentity compares the fields of got that want describes; Claims,
// Expiry and TokenID are the caller's to check.
func checkIdentity(t *testing.T, got, want Identity) {
	t.Helper()
	if len(got.Claims) == 0 {
		t.Error("identity has no Claims")
	}
	got.Claims, got.Expiry, got.TokenID = nil, want.Expiry, want.TokenID
	if !reflect.DeepEqual(got, want) {
		t.Errorf("identity =\n%+v\nwant\n%+v", got, want)
	}
}

func TestNumericClaimsComeOutAsStrings(t *testing.T) {
	fake, v := trustedFake(t, "ci")
	gh := fake.GitHubActionsClaims(audience)
	gh["run_id"] = 8222997048123 // past float32, and int64 in JSON
	if got := verify(t, v, fake.Token(gh)).RunID; got != "8222997048123" {
		t.Errorf("GitHub numeric run_id = %q, want \"8222997048123\"", got)
	}
	gl := fake.GitLabCIClaims(audience)
	gl["pipeline_id"] = 1519139981
	gl["user_login"] = true // nonsense, but text all the same
	id := verify(t, v, fake.Token(gl))
	if id.RunID != "1519139981" || id.Actor != "true" {
		t.Errorf("GitLab RunID, Actor = %q, %q; want \"1519139981\", \"true\"", id.RunID, id.Actor)
	}
}

func TestGitLabRefIsQualified(t *testing.T) {
	for _, c := range []struct {
		claims map[string]any
		want   string
	}{
		{map[string]any{"ref_path": "refs/tags/v1", "ref": "v1", "ref_type": "tag"}, "refs/tags/v1"},
		{map[string]any{"ref": "main", "ref_type": "branch"}, "refs/heads/main"},
		{map[string]any{"ref": "v1", "ref_type": "tag"}, "refs/tags/v1"},
		{map[string]any{"ref": "main"}, "main"},
		{map[string]any{}, ""},
	} {
		if got := gitLabRef(c.claims); got != c.want {
			t.Errorf("gitLabRef(%v) = %q, want %q", c.claims, got, c.want)
		}
	}
}

func TestSourceIdentity(t *testing.T) {
	allowed := regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	long := "system:serviceaccount:" + strings.Repeat("n", 60) + ":sa"
	for _, c := range []struct {
		name, subject, want string
	}{
		{"github", "repo:acme/infra:ref:refs/heads/main", "github-repo-acme-infra-ref-refs-heads-main"},
		{"gitlab", "project_path:acme/infra:ref_type:branch:ref:main", "gitlab-project_path-acme-infra-ref_type-branch-ref-main"},
		{"k8s", long, ("k8s-" + strings.ReplaceAll(long, ":", "-"))[:64]},
		{"ci", "user+bot@acme.com,x=y", "ci-user+bot@acme.com,x=y"},
		{"ci", "é 😀/x", "ci-----x"},
		{"", "", "--"},
	} {
		got := Identity{IssuerName: c.name, Subject: c.subject}.SourceIdentity()
		if got != c.want {
			t.Errorf("SourceIdentity(%q, %q) = %q, want %q", c.name, c.subject, got, c.want)
		}
		if !allowed.MatchString(got) {
			t.Errorf("SourceIdentity(%q, %q) = %q breaks AWS's limits", c.name, c.subject, got)
		}
	}
}

// TestTokenID checks that a token is named by its jti, and one without a
// jti by its digest, never by the token itself.
func TestTokenID(t *testing.T) {
	gh, v := trustedFake(t, "github")
	claims := gh.GitHubActionsClaims(audience)
	if got, want := verify(t, v, gh.Token(claims)).TokenID, "jti:"+claims["jti"].(string); got != want {
		t.Errorf("TokenID = %q, want %q", got, want)
	}
	delete(claims, "jti")
	raw := gh.Token(claims)
	sum := sha256.Sum256([]byte(raw))
	if got, want := verify(t, v, raw).TokenID, "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("TokenID without jti = %q, want %q", got, want)
	}
	claims["iat"] = claims["iat"].(int64) - 1
	if other := verify(t, v, gh.Token(claims)).TokenID; other == verify(t, v, raw).TokenID {
		t.Errorf("two tokens without jti have the same TokenID %q", other)
	}
}
