package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/jitbot/jitbot/internal/oidcfake"
)

// The tests of this file run the examples of docs/pipelines.md as written
// against jitbot serving the catalog of the README's "Workloads" section:
// the job asks, a platform lead approves in Slack (or the catalog does),
// the job's own program runs with the credentials, and the job releases
// the grant. Only the server's address and, in the pod, the paths of its
// files are moved to the test's.

const (
	docsAPI       = "https://jitbot.example.com/"
	pipelinesDoc  = "../../docs/pipelines.md"
	readmeFile    = "../../README.md"
	readmeAccount = "111111111111"
)

// pipelineBot is jitbot with the workload API on and the README's
// workloads catalog in force, its issuers the fakes of the same names.
type pipelineBot struct {
	*bot
	api                 string // the API's base URL, with the trailing slash of the docs
	github, gitlab, k8s *oidcfake.Issuer
	runner              *runner
	mu                  sync.Mutex
	approved            []string
}

func newPipelineBot(t *testing.T) *pipelineBot {
	t.Helper()
	p := &pipelineBot{github: oidcfake.Start(t), gitlab: oidcfake.Start(t), k8s: oidcfake.Start(t)}
	var api string
	p.bot, api = apiBot(t)
	p.api = api + "/"
	catalog := fencedYAML(t, readmeFile, "### Workloads", 0)
	for real, fake := range map[string]string{
		"https://token.actions.githubusercontent.com":         p.github.URL,
		"https://gitlab.com":                                  p.gitlab.URL,
		"https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE": p.k8s.URL,
	} {
		line := regexp.MustCompile(`issuer: ` + regexp.QuoteMeta(real) + `(\s)`)
		if !line.MatchString(catalog) {
			t.Fatalf("README's workloads catalog has no issuer %s", real)
		}
		catalog = line.ReplaceAllString(catalog, "issuer: "+fake+"$1")
	}
	// Every role is moto's fixture role: the README's account is not moto's.
	catalog = regexp.MustCompile(`arn:aws:iam::`+readmeAccount+`:role/[\w+=,.@-]+`).
		ReplaceAllString(catalog, "arn:aws:iam::123456789012:role/jit-readonly")
	p.reload(t, catalog)
	p.runner = newRunner(t, p.moto.URL())
	return p
}

// local is text of the docs with the test's API for the docs' one.
func (p *pipelineBot) local(t *testing.T, text string) string {
	t.Helper()
	if !strings.Contains(text, docsAPI) {
		t.Fatalf("the example does not use %s for the server:\n%s", docsAPI, text)
	}
	return strings.ReplaceAll(text, docsAPI, p.api)
}

// whileApproving runs job, approving as ULEAD1 every request that asks
// them meanwhile, and returns what job returned.
func (p *pipelineBot) whileApproving(t *testing.T, job func() result) result {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- job() }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case r := <-done:
			return r
		case <-timeout:
			t.Fatal("the job did not finish in 2 minutes")
		case <-tick.C:
			p.approvePending(t)
		}
	}
}

var idInBlocks = regexp.MustCompile(`"value":"(JIT-[0-9A-Z]+)"`)

func (p *pipelineBot) approvePending(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, dm := range p.slack.DMs("ULEAD1") {
		m := idInBlocks.FindStringSubmatch(string(dm.Blocks))
		if m == nil || !strings.Contains(string(dm.Blocks), "jit_approve") || slices.Contains(p.approved, m[1]) {
			continue
		}
		p.approved = append(p.approved, m[1])
		p.click(t, "ULEAD1", dm, "jit_approve", m[1])
	}
}

func (p *pipelineBot) approvals() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.approved...)
}

// stateOf is the state of id as the API tells a workload holding token.
func (p *pipelineBot) stateOf(t *testing.T, token, id string) string {
	t.Helper()
	code, v := call(t, http.MethodGet, p.api+"v1/requests/"+id, token, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %+v", id, code, v)
	}
	return v.State
}

func TestPipelinesDocRunsAsWritten(t *testing.T) {
	p := newPipelineBot(t)
	t.Run("github actions", func(t *testing.T) { runGitHubJob(t, p) })
	t.Run("gitlab ci", func(t *testing.T) { runGitLabJob(t, p) })
	t.Run("kubernetes job", func(t *testing.T) { runKubernetesJob(t, p) })
}

// ghJob is what the test reads of a GitHub Actions job.
type ghJob struct {
	Environment string            `yaml:"environment"`
	Permissions map[string]string `yaml:"permissions"`
	Env         map[string]string `yaml:"env"`
	Steps       []struct {
		Name string `yaml:"name"`
		ID   string `yaml:"id"`
		If   string `yaml:"if"`
		Uses string `yaml:"uses"`
		Run  string `yaml:"run"`
	} `yaml:"steps"`
}

// githubTokens serves GitHub's ID token request endpoint for a job of
// acme/infra's deploy workflow in environment; it returns the
// ACTIONS_ID_TOKEN_REQUEST_ variables.
func githubTokens(t *testing.T, gh *oidcfake.Issuer, environment string) (tokens func() string, env []string) {
	const runnerToken = "runner-request-token"
	var mu sync.Mutex
	var last string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Authorization"), "bearer "+runnerToken) || r.URL.Query().Get("api-version") == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		claims := gh.GitHubActionsClaims(r.URL.Query().Get("audience"))
		if environment != "" {
			claims["environment"], claims["sub"] = environment, "repo:"+oidcfake.Repository+":environment:"+environment
		} else {
			delete(claims, "environment")
		}
		mu.Lock()
		last = gh.Token(claims)
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"count": 1, "value": last})
	}))
	t.Cleanup(srv.Close)
	return func() string { mu.Lock(); defer mu.Unlock(); return last },
		[]string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + srv.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + runnerToken}
}

func runGitHubJob(t *testing.T, p *pipelineBot) {
	var workflow struct {
		Jobs map[string]ghJob `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(fencedYAML(t, pipelinesDoc, "## GitHub Actions", 0)), &workflow); err != nil {
		t.Fatal(err)
	}
	job, ok := workflow.Jobs["deploy"]
	if !ok || job.Permissions["id-token"] != "write" {
		t.Fatalf("the workflow's deploy job %+v must have id-token: write to fetch its token", job)
	}
	lastToken, tokenEnv := githubTokens(t, p.github, job.Environment)
	temp := t.TempDir()
	env := append(tokenEnv, "CI=true", "GITHUB_ACTIONS=true", "RUNNER_TEMP="+temp,
		"GITHUB_SHA=0e4fa2a55e084b8ba4d51c8c1e2a9b33a6a8e3a5", "GITHUB_RUN_ID="+oidcfake.RunID)
	for k, v := range job.Env {
		env = append(env, k+"="+p.local(t, v))
	}
	outputs := map[string]map[string]string{}
	var ran []string
	for i, s := range job.Steps {
		if s.Uses != "" || (s.If != "" && !ghCondition(t, s.If, outputs)) {
			continue // an action (checkout): nothing to check out here
		}
		envFile, outFile := filepath.Join(temp, "env"), filepath.Join(temp, "output")
		for _, f := range []string{envFile, outFile} {
			writeFile(t, f, "")
		}
		script := ghExpand(t, s.Run, outputs)
		stepEnv := append(append([]string{}, env...), "GITHUB_ENV="+envFile, "GITHUB_OUTPUT="+outFile)
		r := p.whileApproving(t, func() result {
			return p.runner.run(t.Context(), []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"}, script, stepEnv...)
		})
		if r.code != 0 {
			t.Fatalf("step %d %q failed (%d):\n%s\n%s", i, s.Name, r.code, r.stdout, r.stderr)
		}
		ran = append(ran, s.Name+": "+r.stdout)
		env = append(env, readKeyValues(t, envFile)...)
		if s.ID != "" {
			outputs[s.ID] = map[string]string{}
			for _, kv := range readKeyValues(t, outFile) {
				k, v, _ := strings.Cut(kv, "=")
				outputs[s.ID][k] = v
			}
		}
	}

	id := outputs["jit"]["id"]
	if approved := p.approvals(); len(approved) != 1 || approved[0] != id {
		t.Fatalf("approved %v in Slack; want exactly the job's request %q: prod-deploy is approved by a person", approved, id)
	}
	wantRole := ":assumed-role/jit-readonly/jit-github-repo-acme-infra-environment-production-" + id
	for _, program := range []string{"aws", "deploy.sh"} {
		if c := p.runner.lastCall(program); !strings.HasSuffix(c.ARN, wantRole) {
			t.Errorf("%s ran as %q; want the role's session named for the job, ending %s", program, c.ARN, wantRole)
		}
	}
	if last := ran[len(ran)-1]; !strings.Contains(last, id+" revoked") {
		t.Errorf("the release step printed %q; want %s revoked", last, id)
	}
	if _, err := os.Stat(filepath.Join(temp, "jit.json")); !os.IsNotExist(err) {
		t.Errorf("the job left jit.json with the secrets in RUNNER_TEMP (%v)", err)
	}
	if st := p.stateOf(t, lastToken(), id); st != "revoked" {
		t.Errorf("after the job, %s is %s; want revoked", id, st)
	}
}

var ghOutputRef = regexp.MustCompile(`\$\{\{\s*steps\.(\w+)\.outputs\.(\w+)\s*\}\}`)

// ghExpand puts the steps' outputs for their ${{ }} references; any other
// expression is one the test does not know.
func ghExpand(t *testing.T, script string, outputs map[string]map[string]string) string {
	t.Helper()
	script = ghOutputRef.ReplaceAllStringFunc(script, func(ref string) string {
		m := ghOutputRef.FindStringSubmatch(ref)
		return outputs[m[1]][m[2]]
	})
	if strings.Contains(script, "${{") {
		t.Fatalf("the step uses an expression the test does not evaluate:\n%s", script)
	}
	return script
}

// ghCondition evaluates an if: made of always() and
// steps.X.outputs.Y != ” joined by &&.
func ghCondition(t *testing.T, cond string, outputs map[string]map[string]string) bool {
	t.Helper()
	notEmpty := regexp.MustCompile(`^steps\.(\w+)\.outputs\.(\w+) != ''$`)
	for _, term := range strings.Split(cond, "&&") {
		term = strings.TrimSpace(term)
		switch m := notEmpty.FindStringSubmatch(term); {
		case term == "always()":
		case m != nil:
			if outputs[m[1]][m[2]] == "" {
				return false
			}
		default:
			t.Fatalf("the test does not evaluate the condition %q", cond)
		}
	}
	return true
}

// readKeyValues reads a $GITHUB_ENV or $GITHUB_OUTPUT file: NAME=value
// lines.
func readKeyValues(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kvs []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if line == "" {
			continue
		}
		if !strings.Contains(line, "=") || strings.Contains(line, "<<") {
			t.Fatalf("%s: line %q is not NAME=value", filepath.Base(path), line)
		}
		kvs = append(kvs, line)
	}
	return kvs
}

func runGitLabJob(t *testing.T, p *pipelineBot) {
	var pipeline map[string]struct {
		Environment string `yaml:"environment"`
		IDTokens    map[string]struct {
			Aud string `yaml:"aud"`
		} `yaml:"id_tokens"`
		Variables   map[string]string `yaml:"variables"`
		Script      []string          `yaml:"script"`
		AfterScript []string          `yaml:"after_script"`
	}
	if err := yaml.Unmarshal([]byte(fencedYAML(t, pipelinesDoc, "## GitLab CI", 0)), &pipeline); err != nil {
		t.Fatal(err)
	}
	job := pipeline["deploy"]
	env := []string{"CI=true", "GITLAB_CI=true", "CI_COMMIT_SHORT_SHA=0e4fa2a5", "CI_PIPELINE_ID=" + oidcfake.RunID}
	for k, v := range job.Variables {
		env = append(env, k+"="+p.local(t, v))
	}
	var token string
	for name, idt := range job.IDTokens {
		claims := p.gitlab.GitLabCIClaims(idt.Aud)
		if job.Environment == "" {
			delete(claims, "environment")
		}
		token = p.gitlab.Token(claims)
		env = append(env, name+"="+token)
	}
	before := len(p.approvals())
	bash := []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"}
	r := p.whileApproving(t, func() result { return p.runner.run(t.Context(), bash, strings.Join(job.Script, "\n"), env...) })
	if r.code != 0 {
		t.Fatalf("script failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after := p.runner.run(t.Context(), bash, strings.Join(job.AfterScript, "\n"), env...)
	if after.code != 0 {
		t.Fatalf("after_script failed (%d):\n%s\n%s", after.code, after.stdout, after.stderr)
	}

	approved := p.approvals()[before:]
	if len(approved) != 1 {
		t.Fatalf("approved %v in Slack; want the job's one request", approved)
	}
	id := approved[0]
	if c := p.runner.lastCall("deploy.sh"); !strings.Contains(c.ARN, ":assumed-role/jit-readonly/jit-gitlab-project_path-acme-infra") || !strings.HasSuffix(c.ARN, "-"+id) {
		t.Errorf("deploy.sh ran as %q; want the role's session named for the GitLab job and %s", c.ARN, id)
	}
	if !strings.Contains(after.stdout, id+" revoked") {
		t.Errorf("after_script printed %q; want %s revoked", after.stdout, id)
	}
	if _, err := os.Stat(filepath.Join(p.runner.workspace, "jit.json")); !os.IsNotExist(err) {
		t.Errorf("the job left jit.json with the secrets in its workspace (%v)", err)
	}
	if st := p.stateOf(t, token, id); st != "revoked" {
		t.Errorf("after the job, %s is %s; want revoked", id, st)
	}
}

// k8sJob is what the test reads of a Kubernetes Job.
type k8sJob struct {
	Metadata struct {
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
				Containers         []struct {
					Env []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					Command      []string `yaml:"command"`
					Args         []string `yaml:"args"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name      string `yaml:"name"`
					Projected struct {
						Sources []struct {
							ServiceAccountToken struct {
								Audience string `yaml:"audience"`
								Path     string `yaml:"path"`
							} `yaml:"serviceAccountToken"`
						} `yaml:"sources"`
					} `yaml:"projected"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

var revokedLine = regexp.MustCompile(`(JIT-[0-9A-Z]+) revoked`)

func runKubernetesJob(t *testing.T, p *pipelineBot) {
	var job k8sJob
	if err := yaml.Unmarshal([]byte(fencedYAML(t, pipelinesDoc, "## Kubernetes Job", 0)), &job); err != nil {
		t.Fatal(err)
	}
	pod := job.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.Volumes) != 1 || len(pod.Containers[0].VolumeMounts) != 1 {
		t.Fatalf("the test knows a Job of one container with one projected token volume: %+v", pod)
	}
	c, vol := pod.Containers[0], pod.Volumes[0].Projected.Sources[0].ServiceAccountToken
	// The kubelet's projection: the token for the Job's service account,
	// in a directory of the test's rather than the pod's.
	mount, tmp := t.TempDir(), t.TempDir()
	token := p.k8s.Token(p.k8s.KubernetesClaims(vol.Audience, job.Metadata.Namespace, pod.ServiceAccountName))
	writeFile(t, filepath.Join(mount, vol.Path), token)
	script := strings.ReplaceAll(c.Args[0], "/tmp/", tmp+"/")
	script = strings.ReplaceAll(script, c.VolumeMounts[0].MountPath, mount)
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name+"="+p.local(t, e.Value))
	}

	before := len(p.approvals())
	r := p.whileApproving(t, func() result { return p.runner.run(t.Context(), c.Command, script, env...) })
	if r.code != 0 {
		t.Fatalf("the Job failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if approved := p.approvals()[before:]; len(approved) != 0 {
		t.Errorf("the Job's request waited for a person (%v); db-migrate approves the Job at once", approved)
	}
	m := revokedLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("the Job's exit trap did not release its grant: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	id := m[1]
	want := ":assumed-role/jit-readonly/jit-k8s-prod-system-serviceaccount-deploy-deployer-" + id
	if c := p.runner.lastCall("migrate"); !strings.HasSuffix(c.ARN, want) {
		t.Errorf("migrate ran as %q; want the session named for the service account, ending %s", c.ARN, want)
	}
	if st := p.stateOf(t, token, id); st != "revoked" {
		t.Errorf("after the Job, %s is %s; want revoked", id, st)
	}
}
