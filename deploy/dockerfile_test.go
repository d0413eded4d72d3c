package deploy_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/config"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, …
	args string
}

// stage is a FROM and the instructions up to the next FROM.
type stage struct {
	image, name string
	body        []instruction
}

// parseDockerfile reads instructions the way Docker does for what the test
// needs: comments and blank lines skipped, backslash continuations joined.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			return
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before the first FROM", path, start, in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// last is the instruction that wins when a stage repeats one (ENTRYPOINT,
// CMD, USER).
func (s stage) last(cmd string) (instruction, bool) {
	all := s.all(cmd)
	if len(all) == 0 {
		return instruction{}, false
	}
	return all[len(all)-1], true
}

// TestDockerfile checks deploy/Dockerfile without a Docker engine: a
// static binary built from ./cmd/jitbot with the version stamped in, a
// distroless final image that runs as non-root with `jitbot serve`, the
// example catalog where JIT_RULES points, and the HTTP port of
// JIT_HTTP_ADDR's default exposed.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stage(s); want a multi-stage build (a Go builder and a small final image)", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.image, "golang:1.26") {
		t.Errorf("builder image %q; want golang:1.26, the Go of go.mod", build.image)
	}
	if build.name == "" {
		t.Fatalf("builder stage has no name to COPY --from")
	}

	var goBuild instruction
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			goBuild = in
		}
	}
	switch {
	case goBuild.cmd == "":
		t.Fatalf("no RUN … go build in the builder stage")
	case !strings.Contains(goBuild.args, "CGO_ENABLED=0"):
		t.Errorf("line %d: go build without CGO_ENABLED=0; the distroless static image has no libc", goBuild.line)
	case !strings.Contains(goBuild.args, "-X main.version="):
		t.Errorf("line %d: go build does not stamp main.version; `jitbot version` would say dev", goBuild.line)
	}
	pkg := ""
	for _, f := range strings.Fields(goBuild.args) {
		if strings.HasPrefix(f, "./") {
			pkg = f
		}
	}
	if pkg != "./cmd/jitbot" {
		t.Errorf("line %d: builds %q; want ./cmd/jitbot", goBuild.line, pkg)
	}
	mainGo, err := os.ReadFile(filepath.Join("..", pkg, "main.go"))
	if err != nil {
		t.Fatalf("the build path %s: %v", pkg, err)
	}
	if !strings.Contains(string(mainGo), "package main") || !strings.Contains(string(mainGo), "var version = ") {
		t.Errorf("%s/main.go is not package main with a var version for -X main.version", pkg)
	}
	out := ""
	if f := strings.Fields(goBuild.args); slices.Contains(f, "-o") {
		if i := slices.Index(f, "-o"); i+1 < len(f) {
			out = f[i+1]
		}
	}

	if final.image != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final image %q; want gcr.io/distroless/static-debian12:nonroot", final.image)
	}
	if u, ok := final.last("USER"); !ok || (u.args != "nonroot" && u.args != "65532") {
		t.Errorf("final stage USER = %q; want nonroot (65532)", u.args)
	}
	copied := map[string]string{} // destination → source
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		if len(f) < 2 {
			t.Fatalf("line %d: COPY %s", in.line, in.args)
		}
		src := f[len(f)-2]
		if strings.HasPrefix(f[0], "--from=") {
			if f[0] != "--from="+build.name {
				t.Errorf("line %d: COPY %s; want --from=%s", in.line, f[0], build.name)
			}
			src = build.name + ":" + src
		}
		copied[f[len(f)-1]] = src
	}
	if ep, _ := final.last("ENTRYPOINT"); ep.args != `["/jitbot"]` {
		t.Errorf("ENTRYPOINT %s; want the exec form [\"/jitbot\"]", ep.args)
	}
	if copied["/jitbot"] != build.name+":"+out {
		t.Errorf("/jitbot is copied from %q; want the builder's output %s:%s", copied["/jitbot"], build.name, out)
	}
	if cmd, _ := final.last("CMD"); cmd.args != `["serve"]` {
		t.Errorf("CMD %s; want [\"serve\"]", cmd.args)
	}

	var rules string
	for _, in := range final.all("ENV") {
		if v, ok := strings.CutPrefix(in.args, "JIT_RULES="); ok {
			rules = v
		}
	}
	if rules != "/etc/jitbot/roles.yaml" {
		t.Errorf("ENV JIT_RULES=%q; want /etc/jitbot/roles.yaml, where the Helm chart mounts the catalog", rules)
	}
	if src := copied[rules]; src != "rules/roles.yaml" {
		t.Errorf("%s is copied from %q; want the example catalog rules/roles.yaml", rules, src)
	}
	if _, err := os.Stat(filepath.Join("..", "rules", "roles.yaml")); err != nil {
		t.Error(err)
	}

	port := strings.TrimPrefix(envDefault(t, "JIT_HTTP_ADDR"), ":")
	var exposed []string
	for _, in := range final.all("EXPOSE") {
		exposed = append(exposed, strings.Fields(in.args)...)
	}
	if !slices.Contains(exposed, port) {
		t.Errorf("EXPOSE %v; want %s, the port of JIT_HTTP_ADDR's default", exposed, port)
	}
}

// envDefault is the default that internal/config gives a variable.
func envDefault(t *testing.T, name string) string {
	t.Helper()
	for _, f := range reflect.VisibleFields(reflect.TypeFor[config.Config]()) {
		if f.Tag.Get("envconfig") == name {
			return f.Tag.Get("default")
		}
	}
	t.Fatalf("internal/config has no variable %s", name)
	return ""
}

// configVars is every variable internal/config reads.
func configVars() []string {
	var names []string
	for _, f := range reflect.VisibleFields(reflect.TypeFor[config.Config]()) {
		if n := f.Tag.Get("envconfig"); n != "" {
			names = append(names, n)
		}
	}
	return names
}
