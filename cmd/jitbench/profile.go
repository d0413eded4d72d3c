package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// pprofEnv names the address the profiling build of the bot serves
// net/http/pprof on. serve.go has no pprof endpoint, and the bench does
// not change it: the profiling build adds one file to package main
// through go build -overlay, so the code measured is otherwise the same.
const pprofEnv = "JITBENCH_PPROF_ADDR"

const pprofFile = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

// Added by jitbench's profiling build (go build -overlay); not in the
// repository.
func init() {
	if addr := os.Getenv("` + pprofEnv + `"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
`

// buildBot builds ./cmd/jitbot into dir, with the pprof listener when asked
// and the files that the go build overlay file userOverlay (if any)
// replaces, to measure a candidate change without touching the tree.
func buildBot(ctx context.Context, dir string, withPprof bool, userOverlay string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return "", fmt.Errorf("not inside the jitbot module (go env GOMOD says %q); run from the repository or pass -bot", strings.TrimSpace(string(gomod)))
	}
	bin := filepath.Join(dir, "jitbot")
	args := []string{"build", "-o", bin}
	replace := map[string]string{}
	if userOverlay != "" {
		var ov struct{ Replace map[string]string }
		data, err := os.ReadFile(userOverlay)
		if err == nil {
			err = json.Unmarshal(data, &ov)
		}
		if err != nil {
			return "", fmt.Errorf("-overlay %s: %w", userOverlay, err)
		}
		replace = ov.Replace
	}
	if withPprof {
		src := filepath.Join(dir, "jitbench_pprof.go")
		if err := os.WriteFile(src, []byte(pprofFile), 0o644); err != nil {
			return "", err
		}
		replace[filepath.Join(root, "cmd", "jitbot", "zz_jitbench_pprof.go")] = src
	}
	if len(replace) > 0 {
		overlay, _ := json.Marshal(map[string]any{"Replace": replace})
		ov := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(ov, overlay, 0o644); err != nil {
			return "", err
		}
		args = append(args, "-overlay", ov)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/jitbot")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/jitbot: %w\n%s", err, out)
	}
	return bin, nil
}

// profiler fetches profiles from the profiling build of the bot, one CPU
// profile at a time (the runtime allows no more), in the background.
type profiler struct {
	addr, dir, bin string
	log            func(format string, args ...any)

	mu sync.Mutex // held while a CPU profile is being taken
	wg sync.WaitGroup

	errMu sync.Mutex
	errs  []string
}

// profileCPU takes a CPU profile of the bot over the next d, into
// <profile dir>/<name>.cpu.pprof, with its top functions in
// <name>.cpu.top.txt. It does nothing without -profile.
func (b *bench) profileCPU(name string, d time.Duration) {
	p := b.prof
	if p == nil {
		return
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	p.mu.Lock() // waits for the previous CPU profile to end
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.mu.Unlock()
		p.fetch(name+".cpu", fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), time.Duration(secs+30)*time.Second)
	}()
}

// profileHeap saves the bot's heap profile now, and the same as text
// with the runtime's memory statistics (stacks, memory not yet returned
// to the system: what a resident size holds besides the live heap).
func (b *bench) profileHeap(name string) {
	if b.prof != nil {
		b.prof.fetch(name+".heap", "/debug/pprof/heap", 30*time.Second)
		b.prof.fetch(name+".memstats", "/debug/pprof/heap?debug=1", 30*time.Second)
	}
}

// profileGoroutines saves where every goroutine of the bot is at d from
// now (text, aggregated by stack): what the bot waits on, which a CPU
// profile does not show.
func (b *bench) profileGoroutines(name string, d time.Duration) {
	p := b.prof
	if p == nil {
		return
	}
	p.wg.Go(func() {
		time.Sleep(d)
		p.fetch(name+".goroutine", "/debug/pprof/goroutine?debug=1", 30*time.Second)
	})
}

func (p *profiler) fetch(name, path string, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.fail(name, err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if err != nil {
		p.fail(name, err)
		return
	}
	if strings.Contains(path, "debug=1") {
		file := filepath.Join(p.dir, name+".txt")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			p.fail(name, err)
		}
		p.log("profile %s written to %s", name, file)
		return
	}
	file := filepath.Join(p.dir, name+".pprof")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		p.fail(name, err)
		return
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", p.bin, file).CombinedOutput()
	if err != nil {
		p.fail(name, fmt.Errorf("go tool pprof: %w: %s", err, top))
		return
	}
	os.WriteFile(filepath.Join(p.dir, name+".top.txt"), top, 0o644)
	p.log("profile %s written to %s", name, file)
}

func (p *profiler) fail(name string, err error) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	p.errs = append(p.errs, fmt.Sprintf("%s: %v", name, err))
	p.log("profile %s failed: %v", name, err)
}

// wait waits for the profiles still being taken.
func (p *profiler) wait() {
	if p != nil {
		p.wg.Wait()
	}
}
