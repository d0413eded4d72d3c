package oidcfake

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// The claim helpers return the claims each provider puts in its workload
// tokens, with the names and JSON types the providers use (GitHub's OIDC
// reference and the actions-oidc-debugger output, GitLab's "ID token
// authentication" page, Kubernetes' projected service account tokens),
// issued by i for aud, valid from now for TokenLifetime. Tests change the
// map before signing it to make the case they need.

// TokenLifetime is how long the helpers' tokens are valid: GitHub's and
// GitLab's default job token lifetimes are minutes, Kubernetes' at least
// ten minutes.
const TokenLifetime = 10 * time.Minute

// GitHub's nbf is five minutes before iat, to absorb runners' clock skew.
const githubNotBeforeSlack = 5 * time.Minute

// Workflow facts the GitHub and GitLab helpers share, so tests can compare
// a verified identity with them.
const (
	Repository  = "acme/infra"
	Environment = "production"
	Actor       = "octocat"
	RunID       = "8222997048"
)

// withRegistered adds to claims the registered claims every provider
// sends: iss, aud, sub, a jti of its own (a random UUID, as GitHub's and
// GitLab's are), and iat, nbf (notBeforeSlack before iat) and exp as JSON
// numbers of seconds (RFC 7519 NumericDate).
func (i *Issuer) withRegistered(claims map[string]any, aud any, sub string, notBeforeSlack time.Duration) map[string]any {
	now := time.Now()
	claims["iss"] = i.URL
	claims["aud"] = aud
	claims["sub"] = sub
	claims["jti"] = newJTI()
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Add(-notBeforeSlack).Unix()
	claims["exp"] = now.Add(TokenLifetime).Unix()
	return claims
}

// GitHubActionsClaims are the claims of a GitHub Actions job token for a
// push to main of acme/infra, deploying to the production environment.
// GitHub sends every custom claim as a string, ids included. The sub is
// the ref form "repo:OWNER/REPO:ref:REF"; GitHub uses
// "repo:OWNER/REPO:environment:NAME" instead for a job that names an
// environment, so a test of that case sets sub itself.
func (i *Issuer) GitHubActionsClaims(aud string) map[string]any {
	const workflowFile = Repository + "/.github/workflows/deploy.yml@refs/heads/main"
	return i.withRegistered(map[string]any{
		"repository":            Repository,
		"repository_id":         "580291742",
		"repository_owner":      strings.Split(Repository, "/")[0],
		"repository_owner_id":   "1342004",
		"repository_visibility": "private",
		"ref":                   "refs/heads/main",
		"ref_type":              "branch",
		"ref_protected":         "true",
		"sha":                   "7f93a73b8273af5d35fcd70661704c1cadc57054",
		"environment":           Environment,
		"workflow":              "Deploy",
		"workflow_ref":          workflowFile,
		"workflow_sha":          "7f93a73b8273af5d35fcd70661704c1cadc57054",
		"job_workflow_ref":      workflowFile,
		"job_workflow_sha":      "7f93a73b8273af5d35fcd70661704c1cadc57054",
		"event_name":            "push",
		"run_id":                RunID,
		"run_number":            "412",
		"run_attempt":           "1",
		"actor":                 Actor,
		"actor_id":              "583231",
		"runner_environment":    "github-hosted",
	}, aud, "repo:"+Repository+":ref:refs/heads/main", githubNotBeforeSlack)
}

// GitLabCIClaims are the claims of a GitLab CI job token (id_tokens) for a
// pipeline on branch main of acme/infra deploying to production. GitLab
// sends most ids as strings but runner_id as a number.
func (i *Issuer) GitLabCIClaims(aud string) map[string]any {
	return i.withRegistered(map[string]any{
		"namespace_id":          "68413579",
		"namespace_path":        strings.Split(Repository, "/")[0],
		"project_id":            "46573356",
		"project_path":          Repository,
		"project_visibility":    "private",
		"user_id":               "184239",
		"user_login":            Actor,
		"user_email":            Actor + "@example.com",
		"user_access_level":     "maintainer",
		"pipeline_id":           RunID,
		"pipeline_source":       "push",
		"job_id":                "8222997049",
		"ref":                   "main",
		"ref_type":              "branch",
		"ref_path":              "refs/heads/main",
		"ref_protected":         "true",
		"environment":           Environment,
		"environment_protected": "true",
		"deployment_tier":       "production",
		"environment_action":    "start",
		"runner_id":             12270835,
		"runner_environment":    "gitlab-hosted",
		"sha":                   "8fe1b322a576d59fe6257052a4107df7dc1b8c78",
		"ci_config_ref_uri":     "gitlab.example.com/" + Repository + "//.gitlab-ci.yml@refs/heads/main",
		"ci_config_sha":         "8fe1b322a576d59fe6257052a4107df7dc1b8c78",
	}, aud, "project_path:"+Repository+":ref_type:branch:ref:main", 0)
}

// KubernetesClaims are the claims of a projected service account token for
// namespace/serviceAccount, bound to a pod. Kubernetes sends aud as a list
// and keeps its own claims under "kubernetes.io".
func (i *Issuer) KubernetesClaims(aud, namespace, serviceAccount string) map[string]any {
	return i.withRegistered(map[string]any{
		"kubernetes.io": map[string]any{
			"namespace": namespace,
			"node": map[string]any{
				"name": "ip-10-0-1-23.ec2.internal",
				"uid":  "6f1d0a7e-4b53-4d6c-9a0e-2f8e5f1c7b42",
			},
			"pod": map[string]any{
				"name": serviceAccount + "-7d9c5b6f4-x2k8q",
				"uid":  "900f80ed-bafe-49f0-9ae2-c5f0a3ac2cbe",
			},
			"serviceaccount": map[string]any{
				"name": serviceAccount,
				"uid":  "a709ef71-30e2-489a-bd19-ade97031b9db",
			},
			// When the kubelet should fetch a new token.
			"warnafter": time.Now().Add(TokenLifetime * 4 / 5).Unix(),
		},
	}, []string{aud}, "system:serviceaccount:"+namespace+":"+serviceAccount, 0)
}

// newJTI is a random version 4 UUID.
func newJTI() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
