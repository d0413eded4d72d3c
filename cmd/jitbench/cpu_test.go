package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startGroup starts script in a shell in its own process group.
func startGroup(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

func TestCPUSamplerCountsABusyProcess(t *testing.T) {
	busy := startGroup(t, "while :; do :; done")
	idle := startGroup(t, "sleep 60")
	c := startCPUSampler(func() map[string][]int {
		return map[string][]int{"busy": processGroup(busy.Process.Pid), "idle": {idle.Process.Pid}}
	})
	time.Sleep(1500 * time.Millisecond)
	s := c.stop()
	if got := s.cores["busy"]; got < 0.5 || got > 1.1 {
		t.Errorf("a shell spinning for 1.5 s took %.2f cores; want about 1 (%s)", got, s)
	}
	if got := s.cores["idle"]; got > 0.05 {
		t.Errorf("a sleeping process took %.2f cores; want about 0 (%s)", got, s)
	}
	if s.machineBusy < 0.25 || s.machineBusy > 1 {
		t.Errorf("machine busy %.2f with one core spinning; want between 0.25 and 1", s.machineBusy)
	}
	path := filepath.Join(t.TempDir(), "cpu.tsv")
	if err := c.writeTimeline(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 || lines[0] != "time\tmoto\tjitbot\tbench\tredis\tmachine_busy" {
		t.Fatalf("timeline:\n%s", data)
	}
	for _, l := range lines[1:] {
		if f := strings.Split(l, "\t"); len(f) != 6 {
			t.Errorf("timeline line %q has %d fields; want 6", l, len(f))
		}
	}
}

func TestPrioritizeSetsEveryProcessOfTheGroup(t *testing.T) {
	// Raising the nice value needs no privilege, so the test runs anywhere.
	cmd := startGroup(t, "sleep 60 & sleep 60")
	time.Sleep(100 * time.Millisecond) // the shell starts its children
	pids := processGroup(cmd.Process.Pid)
	if len(pids) < 2 {
		t.Fatalf("process group %d has %v; want the shell and its sleeps", cmd.Process.Pid, pids)
	}
	if err := prioritize(cmd.Process.Pid, 7); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		f, err := statFields(pid)
		if err != nil {
			t.Fatal(err)
		}
		if f[16] != "7" {
			t.Errorf("process %d has nice %s; want 7", pid, f[16])
		}
	}
	if err := prioritize(0, 7); err == nil {
		t.Error("prioritize of no process group succeeded")
	}
}

func TestProcessCPUOfAMissingProcess(t *testing.T) {
	if _, err := processCPU(1 << 30); err == nil {
		t.Error("processCPU of a process that does not exist succeeded")
	}
	if pid := strconv.Itoa(1 << 30); processGroup(1<<30) != nil {
		t.Errorf("process group %s has processes", pid)
	}
}
