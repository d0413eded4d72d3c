package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/oidcfake"
	"github.com/jitbot/jitbot/internal/testenv"
)

// The test of this file drives the workload API (JIT_API_ADDR) of the
// built binary as a CI job would, with tokens of a fake OIDC issuer, and
// checks what it hands out against moto, Redis and the Slack fake.

// workloadRole is a role for acme/infra's CI: main is granted at once,
// any other ref waits for ULEAD1.
const workloadRole = `  deploy:
    backend: aws_sts
    role_arn: arn:aws:iam::123456789012:role/jit-readonly
    max_duration: 1h
    approvers: [ULEAD1]
    eligible: '"sre" in user.groups'
    workloads:
      eligible: 'workload.repository == "acme/infra"'
      auto_approve: 'workload.ref == "refs/heads/main"'
`

// workloadView is what GET /v1/requests/{id} answers.
type workloadView struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	RevokeReason string `json:"revoke_reason"`
	Error        string `json:"error"`
	Credentials  *struct {
		Version                                    int
		AccessKeyId, SecretAccessKey, SessionToken string
		Expiration                                 time.Time
	} `json:"credentials"`
}

// workloadBot starts jitbot with the workload API on, then puts a catalog
// with issuer in force by a reload, so the test also proves the API
// trusts the issuers of the catalog reloaded, not only of the first one.
func workloadBot(t *testing.T, issuer *oidcfake.Issuer) (b *bot, api string) {
	t.Helper()
	b, api = apiBot(t)
	b.reload(t, workloadCatalog(issuer, workloadRole))
	return b, api
}

// workloadCatalog is the Slack tests' catalog with issuer as github and
// role added.
func workloadCatalog(issuer *oidcfake.Issuer, role string) string {
	return fmt.Sprintf("workload_issuers:\n  github:\n    issuer: %s\n    audience: jitbot\n", issuer.URL) +
		strings.Replace(slackCatalog, "  quick:", role+"  quick:", 1)
}

// apiBot starts jitbot with the workload API on, and a catalog without
// workload_issuers, which it warns of.
func apiBot(t *testing.T) (b *bot, api string) {
	t.Helper()
	api = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	b = startBot(t, "JIT_API_ADDR="+api)
	waitLogLine(t, b, "workload API listening")
	if !strings.Contains(b.logs.text(), "no workload_issuers") {
		t.Errorf("no warning that a catalog without workload_issuers refuses every token")
	}
	return b, "http://" + api
}

// reload puts catalog in force and waits for the audit channel to say so.
func (b *bot) reload(t *testing.T, catalog string) {
	t.Helper()
	before := len(b.slack.Messages(auditChannel))
	writeFile(t, b.catalog, catalog)
	b.slack.WaitFor(t, "the reload is announced", 15*time.Second, func() bool {
		for _, m := range b.slack.Messages(auditChannel)[before:] {
			if strings.Contains(visible(m), "Role catalog reloaded") {
				return true
			}
			if strings.Contains(visible(m), "does not load") {
				t.Fatalf("the catalog does not load: %s", visible(m))
			}
		}
		return false
	})
}

func waitLogLine(t *testing.T, b *bot, want string) {
	t.Helper()
	b.slack.WaitFor(t, "the log says "+want, 10*time.Second, func() bool { return strings.Contains(b.logs.text(), want) })
}

// call makes one API call and decodes its JSON answer.
func call(t *testing.T, method, url, token, body string) (int, workloadView) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var v workloadView
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %s", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, v
}

// githubToken is a token of acme/infra's job on ref.
func githubToken(issuer *oidcfake.Issuer, repo, ref string) string {
	c := issuer.GitHubActionsClaims("jitbot")
	c["repository"], c["ref"], c["sub"] = repo, ref, "repo:"+repo+":ref:"+ref
	return issuer.Token(c)
}

// activeWithCredentials GETs id with a wait and checks it is active with
// credentials in credential_process's shape.
func activeWithCredentials(t *testing.T, api, token, id string) workloadView {
	t.Helper()
	code, v := call(t, http.MethodGet, api+"/v1/requests/"+id+"?wait=10s", token, "")
	if code != http.StatusOK || v.State != "active" || v.Credentials == nil {
		t.Fatalf("GET %s: %d %+v; want 200, active, with credentials", id, code, v)
	}
	if c := v.Credentials; c.Version != 1 || c.AccessKeyId == "" || c.SecretAccessKey == "" || c.SessionToken == "" || c.Expiration.IsZero() {
		t.Fatalf("credentials not in credential_process shape: version %d, fields set %v %v %v %v", c.Version,
			c.AccessKeyId != "", c.SecretAccessKey != "", c.SessionToken != "", !c.Expiration.IsZero())
	}
	return v
}

// assumedRole checks the credentials against moto and returns who they are.
func assumedRole(t *testing.T, b *bot, v workloadView) string {
	t.Helper()
	cfg := testenv.AWSConfig(t, b.moto.URL())
	c := v.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyId, c.SecretAccessKey, c.SessionToken)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the workload's credentials: %v", err)
	}
	return aws.ToString(who.Arn)
}

func TestWorkloadAPIEndToEnd(t *testing.T) {
	issuer := oidcfake.Start(t)
	b, api := workloadBot(t, issuer)
	onMain := githubToken(issuer, "acme/infra", "refs/heads/main")
	const body = `{"role":"deploy","duration":"30m","reason":"deploy build 412"}`

	// (a) main is granted at once; its credentials work and end with DELETE.
	code, created := call(t, http.MethodPost, api+"/v1/requests", onMain, body)
	if code != http.StatusAccepted || created.ID == "" {
		t.Fatalf("POST: %d %+v; want 202 with an id", code, created)
	}
	first := activeWithCredentials(t, api, onMain, created.ID)
	// GetCallerIdentity names the role and, in the session name, the job.
	wantARN := ":assumed-role/jit-readonly/jit-github-repo-acme-infra-ref-refs-heads-main-" + created.ID
	if arn := assumedRole(t, b, first); !strings.HasSuffix(arn, wantARN) {
		t.Errorf("the credentials are %s; want the assumed jit-readonly role ending %s", arn, wantARN)
	}
	rdb := redis.NewClient(&redis.Options{Addr: b.redis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	credsKey := "{jitbot}:creds:" + created.ID
	if rdb.Exists(t.Context(), credsKey).Val() != 1 {
		t.Errorf("no sealed credentials at %s while the grant is active", credsKey)
	}

	// (c) another repository's job cannot see the request.
	other := githubToken(issuer, "acme/other", "refs/heads/main")
	if code, v := call(t, http.MethodGet, api+"/v1/requests/"+created.ID, other, ""); code != http.StatusNotFound || v.Credentials != nil {
		t.Errorf("another subject's GET: %d %+v; want 404 and nothing", code, v)
	}
	// (d) a token not signed by the issuer is refused as such.
	forged := issuer.ForgedToken(issuer.GitHubActionsClaims("jitbot"))
	if code, v := call(t, http.MethodGet, api+"/v1/requests/"+created.ID, forged, ""); code != http.StatusUnauthorized || v.Error != "invalid token" {
		t.Errorf("forged token: %d %+v; want 401 invalid token", code, v)
	}
	// ... and the attempt is in the durable audit log, without the token.
	entries, err := auditlog.New(rdb, "jitbot", nil).Since(t.Context(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	refused := slices.IndexFunc(entries, func(s auditlog.Stored) bool { return s.Entry.Type == auditlog.TypeTokenRefused })
	if refused < 0 {
		t.Errorf("the forged token left no %s entry in the audit log", auditlog.TypeTokenRefused)
	} else if e := entries[refused]; !strings.HasPrefix(e.Entry.Actor, "ip:127.0.0.1") || !strings.Contains(e.Entry.Outcome, "/v1/requests/"+created.ID) || strings.Contains(string(e.Raw), forged) {
		t.Errorf("refusal entry %s", e.Raw)
	}

	if code, v := call(t, http.MethodDelete, api+"/v1/requests/"+created.ID, onMain, ""); code >= 300 {
		t.Fatalf("DELETE: %d %+v", code, v)
	}
	b.slack.WaitFor(t, "the grant is revoked", 15*time.Second, func() bool {
		_, v := call(t, http.MethodGet, api+"/v1/requests/"+created.ID, onMain, "")
		return v.State == "revoked" && v.Credentials == nil
	})
	if rdb.Exists(t.Context(), credsKey).Val() != 0 {
		t.Errorf("the sealed credentials are still in Redis after the revocation")
	}

	// (b) another ref waits for an approver, then gets its credentials.
	feature := githubToken(issuer, "acme/infra", "refs/heads/feature")
	code, pending := call(t, http.MethodPost, api+"/v1/requests", feature, body)
	if code != http.StatusAccepted || pending.State != "pending" {
		t.Fatalf("POST from a feature branch: %d %+v; want 202 pending", code, pending)
	}
	b.click(t, "ULEAD1", b.approvalDM(t, "ULEAD1", pending.ID), "jit_approve", pending.ID)
	second := activeWithCredentials(t, api, feature, pending.ID)

	// (e) Slack never sees a workload's secret, nor does the log.
	for _, v := range []workloadView{first, second} {
		if strings.Contains(b.logs.text(), v.Credentials.SecretAccessKey) {
			t.Errorf("a workload's SecretAccessKey is in jitbot's log")
		}
		for _, c := range b.slack.Calls("") {
			for _, p := range c.Params {
				if strings.Contains(strings.Join(p, " "), v.Credentials.SecretAccessKey) {
					t.Errorf("a workload's SecretAccessKey went to Slack in %s to %s", c.Method, c.Params.Get("channel"))
				}
			}
		}
	}
}

// TestWorkloadGrantEndsWhenTheCatalogDropsIt: once a reloaded catalog no
// longer admits a workload, the lifecycle pass (JIT_RECONCILE_INTERVAL,
// 10s here) revokes its grant, the job is told why, and the credentials
// are gone.
func TestWorkloadGrantEndsWhenTheCatalogDropsIt(t *testing.T) {
	issuer := oidcfake.Start(t)
	b, api := workloadBot(t, issuer)
	onMain := githubToken(issuer, "acme/infra", "refs/heads/main")
	code, created := call(t, http.MethodPost, api+"/v1/requests", onMain, `{"role":"deploy","duration":"1h","reason":"deploy build 413"}`)
	if code != http.StatusAccepted {
		t.Fatalf("POST: %d %+v", code, created)
	}
	activeWithCredentials(t, api, onMain, created.ID)

	b.reload(t, workloadCatalog(issuer, strings.Replace(workloadRole, `workload.repository == "acme/infra"`, `workload.repository == "acme/other"`, 1)))
	var v workloadView
	b.slack.WaitFor(t, "the lifecycle pass revokes the grant", 40*time.Second, func() bool {
		_, v = call(t, http.MethodGet, api+"/v1/requests/"+created.ID, onMain, "")
		return v.State == "revoked"
	})
	if v.RevokeReason != "the catalog no longer admits this workload" || v.Credentials != nil {
		t.Errorf("revoked grant as the job sees it: %+v; want the reason and no credentials", v)
	}
	b.slack.WaitFor(t, "the audit thread says why", 10*time.Second, func() bool {
		return strings.Contains(b.auditText(created.ID), "no longer admits")
	})
}
