package deploy_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

const (
	chart       = "helm/jitbot"
	catalogFile = "../rules/roles.yaml"
	// signingSecret has the form of a Slack app's signing secret.
	signingSecret = "0123456789abcdef0123456789abcdef"
)

// helmPath finds the helm that make test-deps installs into bin/, or one on
// PATH. Without it the chart cannot be checked, which is a failure.
func helmPath(t *testing.T) string {
	t.Helper()
	local := filepath.Join("..", "bin", "helm")
	if _, err := os.Stat(local); err == nil {
		return local
	}
	p, err := exec.LookPath("helm")
	if err != nil {
		t.Fatalf("helm is not in bin/helm or on PATH; `make test-deps` installs it")
	}
	return p
}

// helm runs the helm binary and returns its standard output; a failure
// carries helm's standard error.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmPath(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(strings.TrimSpace(stderr.String() + "\n" + stdout.String()))
	}
	return stdout.String(), nil
}

// render runs helm template and returns the documents by kind. The chart
// renders at most one object of each kind, except for the Service of
// Slack's requests in http mode, which is labelled with its component and
// keyed "Service/slack".
func render(t *testing.T, args ...string) map[string][]byte {
	t.Helper()
	out, err := helm(t, append([]string{"template", "jitbot", chart, "--namespace", "jit"}, args...)...)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	docs := map[string][]byte{}
	for _, doc := range strings.Split(out, "\n---\n") {
		doc += "\n" // the split took the newline that ends a block scalar
		var head struct {
			Kind     string `yaml:"kind"`
			Metadata meta   `yaml:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("helm template printed invalid YAML: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue
		}
		key := head.Kind
		if c := head.Metadata.Labels["app.kubernetes.io/component"]; c != "" {
			key += "/" + c
		}
		if _, dup := docs[key]; dup {
			t.Fatalf("two %s objects rendered", key)
		}
		docs[key] = []byte(doc)
	}
	return docs
}

func decode[T any](t *testing.T, docs map[string][]byte, kind string) T {
	t.Helper()
	var v T
	doc, ok := docs[kind]
	if !ok {
		t.Fatalf("no %s rendered; got %v", kind, kinds(docs))
	}
	if err := yaml.Unmarshal(doc, &v); err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	return v
}

func kinds(docs map[string][]byte) []string {
	var ks []string
	for k := range docs {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

type meta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type secretKeyRef struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Optional bool   `yaml:"optional"`
}

type envVar struct {
	Name      string  `yaml:"name"`
	Value     *string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *secretKeyRef `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env            []envVar `yaml:"env"`
	ReadinessProbe probe    `yaml:"readinessProbe"`
	LivenessProbe  probe    `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		RunAsNonRoot             bool  `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type deployment struct {
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata meta `yaml:"metadata"`
			Spec     struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
				SecurityContext    struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
					RunAsUser    int  `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name  string `yaml:"name"`
						Items []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
						} `yaml:"items"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// container is the deployment's one container with its env by name.
func (d deployment) container(t *testing.T) (container, map[string]envVar) {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers; want jitbot alone", len(cs))
	}
	env := map[string]envVar{}
	for _, e := range cs[0].Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s is set twice", e.Name)
		}
		env[e.Name] = e
	}
	return cs[0], env
}

// value is a plain env value; it fails when the variable is missing or
// comes from elsewhere.
func value(t *testing.T, env map[string]envVar, name string) string {
	t.Helper()
	e, ok := env[name]
	if !ok || e.Value == nil {
		t.Errorf("env %s: %+v; want a plain value", name, e)
		return ""
	}
	return *e.Value
}

func fromSecret(t *testing.T, env map[string]envVar, name string) secretKeyRef {
	t.Helper()
	e, ok := env[name]
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Errorf("env %s: %+v; want a secretKeyRef", name, e)
		return secretKeyRef{}
	}
	return *e.ValueFrom.SecretKeyRef
}

type configMap struct {
	Metadata meta              `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

type pdb struct {
	Spec struct {
		MinAvailable int `yaml:"minAvailable"`
		Selector     struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	} `yaml:"spec"`
}

type service struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type serviceAccount struct {
	Metadata                     meta `yaml:"metadata"`
	AutomountServiceAccountToken bool `yaml:"automountServiceAccountToken"`
}

type serviceMonitor struct {
	APIVersion string `yaml:"apiVersion"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type ingress struct {
	Metadata meta `yaml:"metadata"`
	Spec     struct {
		IngressClassName string         `yaml:"ingressClassName"`
		DefaultBackend   map[string]any `yaml:"defaultBackend"`
		TLS              []struct {
			Hosts      []string `yaml:"hosts"`
			SecretName string   `yaml:"secretName"`
		} `yaml:"tls"`
		Rules []struct {
			Host string `yaml:"host"`
			HTTP struct {
				Paths []struct {
					Path     string `yaml:"path"`
					PathType string `yaml:"pathType"`
					Backend  struct {
						Service *struct {
							Name string `yaml:"name"`
							Port struct {
								Name   string `yaml:"name"`
								Number int    `yaml:"number"`
							} `yaml:"port"`
						} `yaml:"service"`
						Resource map[string]any `yaml:"resource"`
					} `yaml:"backend"`
				} `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

type secret struct {
	Metadata   meta              `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
}

// checkPod asserts what every rendering must have, whatever the values:
// probes on the HTTP port that JIT_HTTP_ADDR names, the catalog mounted as
// a directory where JIT_RULES points, non-root with a read-only root file
// system and no capabilities, resources, a Service and PDB that select the
// pods, and Slack's way in as checkSlack describes it.
func checkPod(t *testing.T, docs map[string][]byte, port int) deployment {
	t.Helper()
	d := decode[deployment](t, docs, "Deployment")
	c, env := d.container(t)
	if len(c.Args) != 1 || c.Args[0] != "serve" {
		t.Errorf("args %v; want [serve]", c.Args)
	}
	if len(c.Ports) == 0 {
		t.Fatalf("no container ports; want http %d", port)
	}
	if c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != port {
		t.Errorf("ports %+v; want http %d first", c.Ports, port)
	}
	if got := value(t, env, "JIT_HTTP_ADDR"); got != ":"+strconv.Itoa(port) {
		t.Errorf("JIT_HTTP_ADDR %q; want :%d, the container port", got, port)
	}
	for _, p := range []struct {
		name string
		got  probe
		path string
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
		if p.got.HTTPGet.Path != p.path || p.got.HTTPGet.Port != "http" {
			t.Errorf("%s %+v; want GET %s on port http", p.name, p.got.HTTPGet, p.path)
		}
	}

	// The catalog: a ConfigMap volume mounted as a directory (a subPath
	// mount never sees the kubelet's update), with JIT_RULES inside it.
	rules := value(t, env, "JIT_RULES")
	var mounted string
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(rules, m.MountPath+"/") {
			mounted = m.Name
			if m.SubPath != "" {
				t.Errorf("catalog mounted with subPath %q; updates of the ConfigMap would never reach the pod", m.SubPath)
			}
		}
	}
	var cmName string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == mounted && v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
			if len(v.ConfigMap.Items) != 1 || "/"+v.ConfigMap.Items[0].Path != rules[strings.LastIndex(rules, "/"):] {
				t.Errorf("catalog volume items %+v do not put the file at JIT_RULES %s", v.ConfigMap.Items, rules)
			}
		}
	}
	if cmName == "" {
		t.Errorf("JIT_RULES %s is not in a mounted ConfigMap volume", rules)
	}
	if _, ok := docs["ConfigMap"]; ok {
		if cm := decode[configMap](t, docs, "ConfigMap"); cm.Metadata.Name != cmName {
			t.Errorf("the pods mount ConfigMap %q; the chart creates %q", cmName, cm.Metadata.Name)
		}
	}
	for k := range d.Spec.Template.Metadata.Annotations {
		if strings.Contains(k, "config") || strings.Contains(k, "catalog") {
			t.Errorf("pod annotation %s would restart the pods on a catalog change, which jitbot reloads live", k)
		}
	}

	if !d.Spec.Template.Spec.SecurityContext.RunAsNonRoot || !c.SecurityContext.RunAsNonRoot {
		t.Errorf("pod or container without runAsNonRoot")
	}
	if d.Spec.Template.Spec.SecurityContext.RunAsUser == 0 {
		t.Errorf("pod runs as user 0")
	}
	sc := c.SecurityContext
	if !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext readOnlyRootFilesystem=%v allowPrivilegeEscalation=%v drop=%v; want true, false, [ALL]",
			sc.ReadOnlyRootFilesystem, sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation, sc.Capabilities.Drop)
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("no %s request", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Errorf("no memory limit")
	}

	d.selects(t, "Deployment", d.Spec.Selector.MatchLabels)
	svc := decode[service](t, docs, "Service")
	d.selects(t, "Service", svc.Spec.Selector)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != port || svc.Spec.Ports[0].TargetPort != "http" {
		t.Errorf("Service ports %+v; want %d to http", svc.Spec.Ports, port)
	}
	if _, ok := docs["PodDisruptionBudget"]; ok {
		d.selects(t, "PodDisruptionBudget", decode[pdb](t, docs, "PodDisruptionBudget").Spec.Selector.MatchLabels)
	}
	checkSlack(t, docs, d)

	sa := decode[serviceAccount](t, docs, "ServiceAccount")
	if d.Spec.Template.Spec.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("pods run as service account %q; the chart creates %q", d.Spec.Template.Spec.ServiceAccountName, sa.Metadata.Name)
	}
	return d
}

// selects fails unless sel picks the deployment's pods, and only pods
// with their labels.
func (d deployment) selects(t *testing.T, what string, sel map[string]string) {
	t.Helper()
	podLabels := d.Spec.Template.Metadata.Labels
	if len(sel) == 0 {
		t.Errorf("%s selects every pod of the namespace", what)
	}
	for k, v := range sel {
		if podLabels[k] != v {
			t.Errorf("%s selector %s=%s does not match the pods' labels %v", what, k, v, podLabels)
		}
	}
}

// checkSlack asserts how Slack reaches the pods. In Socket Mode jitbot
// dials out, so nothing comes in: no slack port, no Service for it, no
// Ingress, no signing secret. In http mode the pod's slack port is
// JIT_SLACK_ADDR, the signing secret comes from the Secret and the
// app-level token is not asked for, a Service of its own exposes the slack
// port and nothing else (never the probes and /metrics), and an Ingress,
// when there is one, routes only /slack/ paths, and only to that Service.
func checkSlack(t *testing.T, docs map[string][]byte, d deployment) {
	t.Helper()
	c, env := d.container(t)
	var slackPort int
	for _, p := range c.Ports[1:] {
		if p.Name != "slack" {
			t.Errorf("container port %+v; want only http and, in http mode, slack", p)
		}
		slackPort = p.ContainerPort
	}
	switch mode := value(t, env, "JIT_SLACK_MODE"); mode {
	case "socket":
		if slackPort != 0 {
			t.Errorf("Socket Mode opens container port slack %d; Slack never connects in", slackPort)
		}
		for _, name := range []string{"JIT_SLACK_ADDR", "SLACK_SIGNING_SECRET"} {
			if _, ok := env[name]; ok {
				t.Errorf("Socket Mode sets %s, which only http mode uses", name)
			}
		}
		for _, kind := range []string{"Service/slack", "Ingress"} {
			if _, ok := docs[kind]; ok {
				t.Errorf("Socket Mode renders %s; Slack never connects in", kind)
			}
		}
	case "http":
		if slackPort == 0 || slackPort == c.Ports[0].ContainerPort {
			t.Fatalf("http mode: container ports %+v; want slack apart from http", c.Ports)
		}
		if got := value(t, env, "JIT_SLACK_ADDR"); got != ":"+strconv.Itoa(slackPort) {
			t.Errorf("JIT_SLACK_ADDR %q; want :%d, the slack container port", got, slackPort)
		}
		bot := fromSecret(t, env, "SLACK_BOT_TOKEN")
		if ref := fromSecret(t, env, "SLACK_SIGNING_SECRET"); ref.Name != bot.Name || ref.Key != "SLACK_SIGNING_SECRET" || ref.Optional {
			t.Errorf("SLACK_SIGNING_SECRET from %+v; want the required key SLACK_SIGNING_SECRET of the bot token's Secret %s", ref, bot.Name)
		}
		if e, ok := env["SLACK_APP_TOKEN"]; ok {
			t.Errorf("http mode asks for SLACK_APP_TOKEN (%+v); a Secret without it would keep the pods from starting", e)
		}
		svc := decode[service](t, docs, "Service/slack")
		d.selects(t, "Slack Service", svc.Spec.Selector)
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "slack" || svc.Spec.Ports[0].Port != slackPort || svc.Spec.Ports[0].TargetPort != "slack" {
			t.Errorf("Slack Service ports %+v; want slack %d to slack alone", svc.Spec.Ports, slackPort)
		}
		if _, ok := docs["Ingress"]; ok {
			checkIngress(t, decode[ingress](t, docs, "Ingress"), svc.Metadata.Name, slackPort)
		}
	default:
		t.Errorf("JIT_SLACK_MODE %q; want socket or http", mode)
	}
}

// checkIngress fails unless every path of every rule is under /slack/ and
// goes to the slack port of the Service svcName, with no default backend
// to catch the rest.
func checkIngress(t *testing.T, ing ingress, svcName string, slackPort int) {
	t.Helper()
	if ing.Spec.DefaultBackend != nil {
		t.Errorf("Ingress default backend %v routes every path", ing.Spec.DefaultBackend)
	}
	if len(ing.Spec.Rules) == 0 {
		t.Errorf("Ingress without rules")
	}
	for _, r := range ing.Spec.Rules {
		if len(r.HTTP.Paths) == 0 {
			t.Errorf("Ingress rule for %q without paths", r.Host)
		}
		for _, p := range r.HTTP.Paths {
			if !strings.HasPrefix(p.Path, "/slack/") || (p.PathType != "Prefix" && p.PathType != "Exact") {
				t.Errorf("Ingress routes %s %q; want only Prefix or Exact paths under /slack/", p.PathType, p.Path)
			}
			b := p.Backend.Service
			if b == nil || p.Backend.Resource != nil || b.Name != svcName || (b.Port.Name != "slack" && b.Port.Number != slackPort) {
				t.Errorf("Ingress path %s goes to %+v; want port slack of Service %s", p.Path, b, svcName)
			}
		}
	}
}

// TestHelmChartMinimalValues renders the chart with its defaults plus the
// three values that have none, the way docs/deploy.md installs it: tokens
// from an existing Secret, Redis by URL, the example catalog by
// --set-file.
func TestHelmChartMinimalValues(t *testing.T) {
	args := []string{"-f", chart + "/ci/minimal-values.yaml", "--set-file", "catalog.roles=" + catalogFile}
	if out, err := helm(t, append([]string{"lint", "--strict", chart}, args...)...); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	docs := render(t, args...)
	if got, want := kinds(docs), []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}; !slices.Equal(got, want) {
		t.Errorf("rendered %v; want %v (no Secret: an existing one is named; no ServiceMonitor: off by default)", got, want)
	}
	d := checkPod(t, docs, 8080)
	if d.Spec.Replicas != 2 {
		t.Errorf("replicas %d; want 2 by default", d.Spec.Replicas)
	}
	c, env := d.container(t)
	for _, name := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"} {
		if ref := fromSecret(t, env, name); ref.Name != "jitbot-slack" || ref.Key != name || ref.Optional {
			t.Errorf("%s from %+v; want the required key %s of the existing Secret jitbot-slack", name, ref, name)
		}
	}
	for _, name := range []string{"JIT_PAGERDUTY_TOKEN", "JIT_PAGERDUTY_WEBHOOK_SECRET"} {
		if ref := fromSecret(t, env, name); ref.Name != "jitbot-slack" || !ref.Optional {
			t.Errorf("%s from %+v; want an optional key of jitbot-slack", name, ref)
		}
	}
	if got := value(t, env, "REDIS_URL"); got != "redis://redis-master.jitbot.svc:6379/0" {
		t.Errorf("REDIS_URL %q", got)
	}
	if got := value(t, env, "JIT_RULES"); got != "/etc/jitbot/roles.yaml" {
		t.Errorf("JIT_RULES %q; want /etc/jitbot/roles.yaml, as in the image", got)
	}
	if got := value(t, env, "JIT_SLACK_MODE"); got != "socket" {
		t.Errorf("JIT_SLACK_MODE %q; want socket by default", got)
	}
	// With Redis, the records' signing key is required of the Secret.
	if ref := fromSecret(t, env, "JIT_SIGNING_KEY"); ref.Name != "jitbot-slack" || ref.Key != "JIT_SIGNING_KEY" || ref.Optional {
		t.Errorf("JIT_SIGNING_KEY from %+v; want the required key JIT_SIGNING_KEY of jitbot-slack", ref)
	}
	if ref := fromSecret(t, env, "JIT_SIGNING_KEY_PREVIOUS"); ref.Name != "jitbot-slack" || !ref.Optional {
		t.Errorf("JIT_SIGNING_KEY_PREVIOUS from %+v; want an optional key of jitbot-slack", ref)
	}
	for name := range env {
		if strings.HasPrefix(name, "JIT_") && !slices.Contains([]string{"JIT_RULES", "JIT_HTTP_ADDR", "JIT_PAGERDUTY_TOKEN", "JIT_PAGERDUTY_WEBHOOK_SECRET", "JIT_SLACK_MODE", "JIT_SIGNING_KEY", "JIT_SIGNING_KEY_PREVIOUS"}, name) {
			t.Errorf("env %s is set although its value is empty; the binary's default should apply", name)
		}
	}
	if len(d.Spec.Template.Metadata.Annotations) != 0 {
		t.Errorf("pod annotations %v; want none with an existing Secret", d.Spec.Template.Metadata.Annotations)
	}

	chartYAML := struct {
		AppVersion string `yaml:"appVersion"`
	}{}
	if b, err := os.ReadFile(chart + "/Chart.yaml"); err != nil || yaml.Unmarshal(b, &chartYAML) != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	if !strings.HasSuffix(c.Image, ":"+chartYAML.AppVersion) {
		t.Errorf("image %s; want the tag of the chart's appVersion %s", c.Image, chartYAML.AppVersion)
	}

	want, err := os.ReadFile(catalogFile)
	if err != nil {
		t.Fatal(err)
	}
	cm := decode[configMap](t, docs, "ConfigMap")
	if cm.Data["roles.yaml"] != string(want) {
		t.Errorf("ConfigMap roles.yaml differs from %s", catalogFile)
	}
	if p := decode[pdb](t, docs, "PodDisruptionBudget"); p.Spec.MinAvailable != 1 {
		t.Errorf("PDB minAvailable %d; want 1", p.Spec.MinAvailable)
	}
	if sa := decode[serviceAccount](t, docs, "ServiceAccount"); len(sa.Metadata.Annotations) != 0 || sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %+v; want no annotations and no token automount", sa)
	}
}

// TestHelmChartFullValues renders ci/full-values.yaml, which sets every
// value: a chart-made Secret with every key http mode uses, each of
// jitbot's settings by its variable name, http mode with an Ingress, IRSA,
// a ServiceMonitor.
func TestHelmChartFullValues(t *testing.T) {
	args := []string{"-f", chart + "/ci/full-values.yaml"}
	if out, err := helm(t, append([]string{"lint", "--strict", chart}, args...)...); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	docs := render(t, args...)
	d := checkPod(t, docs, 9090)
	if d.Spec.Replicas != 3 {
		t.Errorf("replicas %d; want 3", d.Spec.Replicas)
	}
	c, env := d.container(t)
	if c.Image != "111111111111.dkr.ecr.eu-west-1.amazonaws.com/jitbot:v1.2.3" {
		t.Errorf("image %s", c.Image)
	}

	s := decode[secret](t, docs, "Secret")
	for _, name := range []string{"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "REDIS_URL", "JIT_PAGERDUTY_TOKEN", "JIT_SIGNING_KEY", "JIT_SIGNING_KEY_PREVIOUS"} {
		ref := fromSecret(t, env, name)
		if ref.Name != s.Metadata.Name || ref.Key != name || s.StringData[name] == "" {
			t.Errorf("%s from %+v; want key %s of the chart's Secret %s (keys %v)", name, ref, name, s.Metadata.Name, s.StringData)
		}
	}
	if !strings.HasPrefix(s.StringData["REDIS_URL"], "redis-sentinel://") {
		t.Errorf("Secret REDIS_URL %q", s.StringData["REDIS_URL"])
	}
	for key, v := range s.StringData {
		for kind, doc := range docs {
			if kind != "Secret" && bytes.Contains(doc, []byte(v)) {
				t.Errorf("the Secret's %s is in plain text in the %s", key, kind)
			}
		}
	}
	if d.Spec.Template.Metadata.Annotations["checksum/secret"] == "" || d.Spec.Template.Metadata.Annotations["team"] != "platform" {
		t.Errorf("pod annotations %v; want checksum/secret and the podAnnotations", d.Spec.Template.Metadata.Annotations)
	}
	if got := value(t, env, "JIT_RULES"); got != "/etc/jitbot/catalog.yaml" {
		t.Errorf("JIT_RULES %q; want catalog.key inside /etc/jitbot", got)
	}
	if cm := decode[configMap](t, docs, "ConfigMap"); !strings.Contains(cm.Data["catalog.yaml"], "jit-prod-readonly") {
		t.Errorf("ConfigMap data %v; want the inline catalog under catalog.yaml", cm.Data)
	}

	// Every variable internal/config reads can be set through the values;
	// the secrets and those the chart derives come from elsewhere.
	// SLACK_APP_TOKEN is Socket Mode's (TestHelmChartSocketMode).
	for _, name := range configVars() {
		if _, ok := env[name]; !ok && name != "SLACK_APP_TOKEN" {
			t.Errorf("%s, read by internal/config, is not set by the full values; add it to values.yaml's config (or the Secret)", name)
		}
	}
	if got := value(t, env, "JIT_USAGE_LOOKUP"); got != "true" {
		t.Errorf("JIT_USAGE_LOOKUP %q; want the YAML true as text", got)
	}
	if got := value(t, env, "JIT_DRY_RUN"); got != "false" {
		t.Errorf("JIT_DRY_RUN %q; want the YAML false as text", got)
	}

	// http mode on port 3001, behind an nginx Ingress with its own TLS
	// certificate; checkPod has checked the routes themselves.
	if got := value(t, env, "JIT_SLACK_ADDR"); got != ":3001" {
		t.Errorf("JIT_SLACK_ADDR %q; want :3001", got)
	}
	slackSvc := decode[service](t, docs, "Service/slack")
	if slackSvc.Metadata.Name != "access-bot-slack" || slackSvc.Metadata.Annotations["team"] != "platform" {
		t.Errorf("Slack Service %+v; want access-bot-slack with slack.service.annotations", slackSvc.Metadata)
	}
	ing := decode[ingress](t, docs, "Ingress")
	if ing.Spec.IngressClassName != "nginx" || ing.Metadata.Annotations["cert-manager.io/cluster-issuer"] != "letsencrypt" {
		t.Errorf("Ingress class %q, annotations %v; want nginx and ingress.annotations", ing.Spec.IngressClassName, ing.Metadata.Annotations)
	}
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "jitbot.example.com" {
		t.Errorf("Ingress rules %+v; want one for jitbot.example.com", ing.Spec.Rules)
	}
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "jitbot-example-com-tls" || !slices.Equal(ing.Spec.TLS[0].Hosts, []string{"jitbot.example.com"}) {
		t.Errorf("Ingress TLS %+v; want jitbot-example-com-tls for jitbot.example.com", ing.Spec.TLS)
	}
	if got := value(t, env, "AWS_REGION"); got != "eu-west-1" {
		t.Errorf("AWS_REGION %q", got)
	}
	if got := value(t, env, "AWS_STS_REGIONAL_ENDPOINTS"); got != "regional" {
		t.Errorf("extraEnv not rendered: %q", got)
	}

	sa := decode[serviceAccount](t, docs, "ServiceAccount")
	if got := sa.Metadata.Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::111111111111:role/jitbot" {
		t.Errorf("ServiceAccount IRSA annotation %q", got)
	}
	if p := decode[pdb](t, docs, "PodDisruptionBudget"); p.Spec.MinAvailable != 2 {
		t.Errorf("PDB minAvailable %d; want 2", p.Spec.MinAvailable)
	}
	sm := decode[serviceMonitor](t, docs, "ServiceMonitor")
	if sm.APIVersion != "monitoring.coreos.com/v1" || len(sm.Spec.Endpoints) != 1 ||
		sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor %+v; want monitoring.coreos.com/v1 scraping /metrics on port http", sm)
	}
	if sm.Metadata.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v; want serviceMonitor.labels", sm.Metadata.Labels)
	}
	if svc := decode[service](t, docs, "Service"); !mapContains(svc.Metadata.Labels, sm.Spec.Selector.MatchLabels) {
		t.Errorf("ServiceMonitor selects %v; the Service is labelled %v", sm.Spec.Selector.MatchLabels, svc.Metadata.Labels)
	}
}

func mapContains(m, sub map[string]string) bool {
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return len(sub) > 0
}

// TestHelmCatalogChangeDoesNotRestartPods: jitbot reloads the catalog from
// the mounted file, so a new catalog must leave the pod template alone
// (no rollout, no lost in-flight work), while new tokens, which are read
// only at start, must change it.
func TestHelmCatalogChangeDoesNotRestartPods(t *testing.T) {
	base := []string{"-f", chart + "/ci/full-values.yaml"}
	before := render(t, base...)
	otherCatalog := render(t, append(base, "--set-file", "catalog.roles="+catalogFile)...)
	if bytes.Equal(before["ConfigMap"], otherCatalog["ConfigMap"]) {
		t.Fatalf("the ConfigMap did not change with the catalog")
	}
	if !bytes.Equal(before["Deployment"], otherCatalog["Deployment"]) {
		t.Errorf("a catalog change changes the Deployment, so it would restart every pod")
	}
	a := decode[deployment](t, before, "Deployment").Spec.Template.Metadata.Annotations["checksum/secret"]
	for _, set := range []string{"secret.slackBotToken=xoxb-rotated", "secret.slackSigningSecret=" + signingSecret} {
		rotated := render(t, append(base, "--set", set)...)
		b := decode[deployment](t, rotated, "Deployment").Spec.Template.Metadata.Annotations["checksum/secret"]
		if a == "" || a == b {
			t.Errorf("checksum/secret %q → %q with %s; a new secret must restart the pods, which read it only at start", a, b, set)
		}
	}
}

// TestHelmChartRefusesWhatCannotWork: values that would deploy a bot that
// cannot start, or replicas with separate in-memory stores (each would
// know only its own requests, and a restart would forget grants to
// revoke), are refused at render time with every problem named.
func TestHelmChartRefusesWhatCannotWork(t *testing.T) {
	ok := []string{"--set", "secret.slackAppToken=xapp-1,secret.slackBotToken=xoxb-1", "--set-file", "catalog.roles=" + catalogFile}
	okHTTP := []string{"--set", "slack.mode=http,secret.slackBotToken=xoxb-1,secret.slackSigningSecret=" + signingSecret + ",redis.url=redis://r:6379,secret.signingKey=" + signingSecret,
		"--set-file", "catalog.roles=" + catalogFile}
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{name: "defaults", want: []string{"Slack tokens: set secret.existingSecret", "role catalog: set catalog.roles", "Redis: 2 replicas need a shared Redis"}},
		{name: "wrong token kinds", args: slices.Concat(ok, []string{"--set", "secret.slackAppToken=xoxb-1,secret.slackBotToken=xapp-1,redis.url=redis://r:6379"}),
			want: []string{"secret.slackAppToken: expected an app-level token starting with xapp-", "secret.slackBotToken: expected a bot token starting with xoxb-"}},
		// Redis without the key that signs its records: whoever can write
		// to Redis could forge an approval.
		{name: "redis without signing key", args: slices.Concat(ok, []string{"--set", "redis.url=redis://r:6379"}),
			want: []string{"secret.signingKey: Redis needs JIT_SIGNING_KEY"}},
		{name: "redis url in the secret without signing key", args: slices.Concat(ok, []string{"--set", "secret.redisURL=redis://:pw@r:6379"}),
			want: []string{"secret.signingKey: Redis needs JIT_SIGNING_KEY"}, notWant: []string{"pw@r"}},
		{name: "signing key in config", args: slices.Concat(okHTTP, []string{"--set", "config.JIT_SIGNING_KEY=" + signingSecret}),
			want: []string{"config.JIT_SIGNING_KEY: set it through secret.*"}},
		{name: "replicas without redis", args: slices.Concat(ok, []string{"--set", "replicaCount=3"}), want: []string{"Redis: 3 replicas need a shared Redis"}},
		{name: "audit export without redis", args: slices.Concat(ok, []string{"--set", "replicaCount=1,config.JIT_AUDIT_S3_BUCKET=evidence"}), want: []string{"config.JIT_AUDIT_S3_BUCKET needs Redis"}},
		{name: "secret in config", args: slices.Concat(ok, []string{"--set", "redis.url=redis://r:6379,config.SLACK_BOT_TOKEN=xoxb-2"}), want: []string{"config.SLACK_BOT_TOKEN: set it through secret.*"}},
		{name: "http mode settings in config", args: slices.Concat(okHTTP, []string{"--set", "config.SLACK_SIGNING_SECRET=" + signingSecret + ",config.JIT_SLACK_MODE=http,config.JIT_SLACK_ADDR=:3000"}),
			want: []string{"config.SLACK_SIGNING_SECRET: set it through secret.*", "config.JIT_SLACK_MODE: set it through slack.mode", "config.JIT_SLACK_ADDR: set it through slack.port"}},
		{name: "unknown slack mode", args: slices.Concat(ok, []string{"--set", "redis.url=redis://r:6379,slack.mode=websocket"}), want: []string{`slack.mode: expected socket or http, got "websocket"`}},
		// http mode needs the signing secret, and never the app-level token.
		{name: "http mode without signing secret", args: []string{"--set", "slack.mode=http,secret.slackBotToken=xoxb-1,redis.url=redis://r:6379", "--set-file", "catalog.roles=" + catalogFile},
			want:    []string{"Slack credentials: http mode needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET", "both secret.slackBotToken and secret.slackSigningSecret"},
			notWant: []string{"SLACK_APP_TOKEN", "slackAppToken"}},
		{name: "http mode without bot token", args: []string{"--set", "slack.mode=http,secret.slackSigningSecret=" + signingSecret + ",redis.url=redis://r:6379", "--set-file", "catalog.roles=" + catalogFile},
			want: []string{"Slack credentials: http mode needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"}, notWant: []string{"SLACK_APP_TOKEN", signingSecret}},
		{name: "signing secret is a token", args: slices.Concat(okHTTP, []string{"--set", "secret.slackSigningSecret=xoxb-0000000000-0000000000000-ffffffffffff"}),
			want: []string{"secret.slackSigningSecret: expected the app's signing secret, got a token"}, notWant: []string{"xoxb-0000000000"}},
		{name: "verification token for signing secret", args: slices.Concat(okHTTP, []string{"--set", "secret.slackSigningSecret=abcdefghijklmnopqrstuvwx"}),
			want: []string{"secret.slackSigningSecret: expected the app's signing secret", "got 24 characters"}, notWant: []string{"abcdefghijklmnopqrstuvwx"}},
		{name: "slack port is the metrics port", args: slices.Concat(okHTTP, []string{"--set", "slack.port=8080"}),
			want: []string{"slack.port: expected a port other than service.port's 8080"}},
		{name: "ingress in socket mode", args: slices.Concat(ok, []string{"--set", "redis.url=redis://r:6379,ingress.enabled=true,ingress.host=jitbot.example.com"}),
			want: []string{"ingress.enabled: the Ingress carries Slack's requests in http mode; set slack.mode=http"}},
		{name: "ingress without host", args: slices.Concat(okHTTP, []string{"--set", "ingress.enabled=true"}), want: []string{`ingress.host: expected the public host of the Slack app's request URLs`}},
		{name: "ingress host as a URL", args: slices.Concat(okHTTP, []string{"--set", "ingress.enabled=true,ingress.host=https://jitbot.example.com/slack"}),
			want: []string{`ingress.host: expected the public host of the Slack app's request URLs, such as jitbot.example.com (no scheme, port or path), got "https://jitbot.example.com/slack"`}},
		{name: "dry run with AWS features", args: slices.Concat(okHTTP, []string{"--set", "config.JIT_DRY_RUN=true,config.JIT_USAGE_LOOKUP=true,config.JIT_AUDIT_S3_BUCKET=evidence"}),
			want: []string{"config.JIT_USAGE_LOOKUP: cannot be true with JIT_DRY_RUN", "config.JIT_AUDIT_S3_BUCKET: cannot be set with JIT_DRY_RUN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helm(t, append([]string{"template", "jitbot", chart}, tt.args...)...)
			if err == nil {
				t.Fatalf("helm template succeeded; want it refused")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error says %q:\n%v", w, err)
				}
			}
		})
	}

	// One replica on the in-memory store is a trial, and allowed.
	docs := render(t, slices.Concat(ok, []string{"--set", "replicaCount=1"})...)
	_, env := decode[deployment](t, docs, "Deployment").container(t)
	if _, set := env["REDIS_URL"]; set {
		t.Errorf("REDIS_URL set although no Redis was given")
	}
}

// TestHelmChartHTTPMode renders http mode the way docs/deploy.md installs
// it, from an existing Secret: Slack's requests reach the pods on their
// slack port, through a Service of its own and an Ingress that routes
// /slack/ alone (checkPod checks the routes); the signing secret comes
// from the Secret, the app-level token is not asked for, and a dry run
// is passed on.
func TestHelmChartHTTPMode(t *testing.T) {
	args := []string{"-f", chart + "/ci/minimal-values.yaml", "--set-file", "catalog.roles=" + catalogFile,
		"--set", "slack.mode=http,ingress.enabled=true,ingress.host=jitbot.example.com,config.JIT_DRY_RUN=true"}
	if out, err := helm(t, append([]string{"lint", "--strict", chart}, args...)...); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	docs := render(t, args...)
	if got, want := kinds(docs), []string{"ConfigMap", "Deployment", "Ingress", "PodDisruptionBudget", "Service", "Service/slack", "ServiceAccount"}; !slices.Equal(got, want) {
		t.Errorf("rendered %v; want %v", got, want)
	}
	d := checkPod(t, docs, 8080)
	c, env := d.container(t)
	if got := value(t, env, "JIT_SLACK_MODE"); got != "http" {
		t.Errorf("JIT_SLACK_MODE %q; want http", got)
	}
	if p := c.Ports[len(c.Ports)-1]; p.Name != "slack" || p.ContainerPort != 3000 {
		t.Errorf("container port %+v; want slack 3000 by default", p)
	}
	for _, name := range []string{"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} {
		if ref := fromSecret(t, env, name); ref.Name != "jitbot-slack" || ref.Key != name || ref.Optional {
			t.Errorf("%s from %+v; want the required key %s of the existing Secret jitbot-slack", name, ref, name)
		}
	}
	if got := value(t, env, "JIT_DRY_RUN"); got != "true" {
		t.Errorf("JIT_DRY_RUN %q; want true", got)
	}
	ing := decode[ingress](t, docs, "Ingress")
	if ing.Metadata.Name != "jitbot-slack" || len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != "jitbot.example.com" {
		t.Errorf("Ingress %s rules %+v; want jitbot-slack for jitbot.example.com", ing.Metadata.Name, ing.Spec.Rules)
	}
	if len(ing.Spec.TLS) != 0 || ing.Spec.IngressClassName != "" {
		t.Errorf("Ingress TLS %+v, class %q; want neither when not set", ing.Spec.TLS, ing.Spec.IngressClassName)
	}
}

// TestHelmChartSocketMode: Slack never connects in, so Socket Mode
// exposes nothing for it, whatever the http mode's values say; the tokens
// come from the chart's Secret, which keeps a signing secret given ahead
// of a switch to http mode without handing it to the pods.
func TestHelmChartSocketMode(t *testing.T) {
	args := []string{"--set-file", "catalog.roles=" + catalogFile, "--set", "redis.url=redis://r:6379,secret.signingKey=" + signingSecret + "," +
		"secret.slackAppToken=xapp-1,secret.slackBotToken=xoxb-1,secret.slackSigningSecret=" + signingSecret + "," +
		"ingress.host=jitbot.example.com,ingress.tlsSecretName=tls,slack.port=3001"}
	if out, err := helm(t, append([]string{"lint", "--strict", chart}, args...)...); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	docs := render(t, args...)
	if got, want := kinds(docs), []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"}; !slices.Equal(got, want) {
		t.Errorf("rendered %v; want %v (no Ingress, no Service for Slack)", got, want)
	}
	d := checkPod(t, docs, 8080)
	c, env := d.container(t)
	if len(c.Ports) != 1 {
		t.Errorf("container ports %+v; want http alone", c.Ports)
	}
	s := decode[secret](t, docs, "Secret")
	for name, want := range map[string]string{"SLACK_APP_TOKEN": "xapp-1", "SLACK_BOT_TOKEN": "xoxb-1"} {
		if ref := fromSecret(t, env, name); ref.Name != s.Metadata.Name || ref.Key != name || ref.Optional || s.StringData[name] != want {
			t.Errorf("%s from %+v (Secret %s has %q); want the required key %s = %q", name, ref, s.Metadata.Name, s.StringData[name], name, want)
		}
	}
}
