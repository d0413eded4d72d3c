package workload

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Identity is what a verified token proves: who issued it, its subject,
// and the provider claims policies are written against, under one name
// whichever provider issued it. A field the provider does not have is
// empty. Every value was signed by the issuer; none is jitbot's guess.
type Identity struct {
	Issuer     string // the issuer URL, the token's iss
	IssuerName string // the catalog's name for the issuer
	Subject    string // the token's sub

	// Repository is the repository the job ran for: GitHub's repository
	// or GitLab's project_path ("acme/infra").
	Repository string
	// Ref is the fully qualified git ref the job ran on
	// ("refs/heads/main"): GitHub's ref, GitLab's ref_path, or for an
	// older GitLab without ref_path its ref qualified by ref_type, so
	// that a branch and a tag of the same name differ.
	Ref string
	// Environment is the deployment environment the job named.
	Environment string
	// Workflow is the pipeline definition the job ran, as file and ref:
	// GitHub's workflow_ref ("acme/infra/.github/workflows/deploy.yml@refs/heads/main"),
	// GitLab's ci_config_ref_uri. GitHub's workflow claim is not used: it
	// is a display name any branch can set to anything. A reusable
	// workflow's own file is GitHub's job_workflow_ref, in Claims.
	Workflow string
	// RunID is the run of the pipeline: GitHub's run_id, GitLab's
	// pipeline_id.
	RunID string
	// Actor is the user who started the run: GitHub's actor, GitLab's
	// user_login.
	Actor string

	// Namespace and ServiceAccount are a Kubernetes service account's,
	// from the token's "kubernetes.io" claim.
	Namespace      string
	ServiceAccount string

	// Claims are all the token's claims as JSON decodes them, except that
	// numbers are json.Number (their exact text) rather than float64.
	Claims map[string]any
	// Expiry is the token's exp.
	Expiry time.Time
	// TokenID names this one token among the issuer's: "jti:" and its
	// jti, or "sha256:" and its digest when it has none. The API lets a
	// token make one request, so that a token that leaks from a job's log
	// cannot be replayed for another grant.
	TokenID string
}

func newIdentity(is Issuer, subject string, expiry time.Time, claims map[string]any) Identity {
	id := Identity{
		Issuer:     is.URL,
		IssuerName: is.Name,
		Subject:    subject,
		Claims:     claims,
		Expiry:     expiry,
	}
	// The provider is told apart by the claims only it sends, not by the
	// catalog's name, so a self-hosted GitLab or a second cluster needs no
	// configuration beyond its issuer.
	if k8s, ok := claims["kubernetes.io"].(map[string]any); ok {
		id.Namespace = claimString(k8s["namespace"])
		if sa, ok := k8s["serviceaccount"].(map[string]any); ok {
			id.ServiceAccount = claimString(sa["name"])
		}
		return id
	}
	if _, ok := claims["project_path"]; ok {
		id.Repository = claimString(claims["project_path"])
		id.Ref = gitLabRef(claims)
		id.Environment = claimString(claims["environment"])
		id.Workflow = claimString(claims["ci_config_ref_uri"])
		id.RunID = claimString(claims["pipeline_id"])
		id.Actor = claimString(claims["user_login"])
		return id
	}
	id.Repository = claimString(claims["repository"])
	id.Ref = claimString(claims["ref"])
	id.Environment = claimString(claims["environment"])
	id.Workflow = claimString(claims["workflow_ref"])
	id.RunID = claimString(claims["run_id"])
	id.Actor = claimString(claims["actor"])
	return id
}

// gitLabRef is GitLab's ref_path, or ref qualified by ref_type where the
// GitLab predates ref_path (16.x); GitLab's own ref is the bare name.
func gitLabRef(claims map[string]any) string {
	if p := claimString(claims["ref_path"]); p != "" {
		return p
	}
	ref := claimString(claims["ref"])
	if ref == "" {
		return ""
	}
	switch claimString(claims["ref_type"]) {
	case "branch":
		return "refs/heads/" + ref
	case "tag":
		return "refs/tags/" + ref
	}
	return ref
}

// claimString returns a claim as text: ids are strings in one provider
// and numbers in another (GitLab's runner_id), and policies compare text.
// Objects and arrays, which no mapped claim is, give "".
func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case float64: // claims decoded without UseNumber
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// AWS's limits on an STS SourceIdentity (AssumeRole API reference): 2 to
// 64 characters of [\w+=,.@-].
const (
	sourceIdentityMin = 2
	sourceIdentityMax = 64
)

// SourceIdentity is the identity as STS takes it for SourceIdentity, which
// CloudTrail records on every call of the session and its chained roles:
// IssuerName + ":" + Subject with every character AWS does not allow
// replaced by '-', cut to 64 characters (padded with '-' to 2). ':' is one
// of those characters, so "github" and "repo:acme/infra:ref:refs/heads/main"
// give "github-repo-acme-infra-ref-refs-heads-main". The cut keeps the
// issuer and the start of the subject, which for GitHub and GitLab is the
// repository; the full identity goes in jitbot's own log.
func (id Identity) SourceIdentity() string {
	var b strings.Builder
	for _, r := range id.IssuerName + ":" + id.Subject {
		if b.Len() == sourceIdentityMax {
			break
		}
		if sourceIdentityChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	for b.Len() < sourceIdentityMin {
		b.WriteByte('-')
	}
	return b.String()
}

// sourceIdentityChar reports whether r is in [\w+=,.@-]; \w is ASCII only
// in AWS's patterns.
func sourceIdentityChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("_+=,.@-", r)
}
