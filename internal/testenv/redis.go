package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// redisStartTimeout bounds how long StartRedis and Start wait for PING.
const redisStartTimeout = 10 * time.Second

// redisStopTimeout bounds how long Stop waits after SIGTERM before it kills.
const redisStopTimeout = 10 * time.Second

// Redis is a real redis-server on a loopback port. Its data lives in a
// per-test directory with an append-only file (fsynced every second), so a
// Stop followed by Start keeps every write; Kill may lose the last second.
type Redis struct {
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartRedis starts redis-server for the test and stops it when the test
// ends. It fails the test when redis-server is not installed or does not
// answer PING within 10 s; it never skips.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r, err := newRedis(t.TempDir(), func() (int, error) { return freePort(t), nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func newRedis(dir string, pickPort func() (int, error)) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not installed (make test installs it): %v", err)
	}
	r := &Redis{bin: bin, dir: dir}
	// A free port is free when it is picked, but another process may take
	// it before redis-server binds it; then try another.
	for attempt := 1; ; attempt++ {
		if r.port, err = pickPort(); err != nil {
			return nil, err
		}
		err := r.start()
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == portAttempts {
			return nil, err
		}
	}
}

// Addr is host:port of the server.
func (r *Redis) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
}

// URL is the server's redis:// URL, database 0, as REDIS_URL takes it.
func (r *Redis) URL() string {
	return "redis://" + r.Addr() + "/0"
}

// Dir is the server's data directory; it holds the append-only file and
// redis.log.
func (r *Redis) Dir() string { return r.dir }

// Start (re)starts the server on the same port and data directory, so data
// written before a Stop is still there. It fails the test when the server
// is already running or does not answer PING in time.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
}

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return fmt.Errorf("redis-server on %s is already running", r.Addr())
	}
	logFile := filepath.Join(r.dir, "redis.log")
	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.port),
		"--bind", "127.0.0.1",
		"--dir", r.dir,
		"--appendonly", "yes",
		"--appendfsync", "everysec",
		"--save", "", // AOF only: no RDB snapshots in the background
		"--daemonize", "no",
		"--logfile", logFile,
	)
	cmd.Dir = r.dir
	// redis-server writes early config errors to stderr, before it opens
	// its log file; keep them for the failure message. It is read only
	// after the process has exited, when exec has finished copying.
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(redisStartTimeout)
	for {
		// The server must be ours: a server of another test process on
		// the same port would answer PING just as well.
		pid, err := redisPID(r.Addr())
		if err == nil && pid == cmd.Process.Pid {
			break
		}
		if err == nil {
			err = fmt.Errorf("port is served by process %d, not by redis-server %d", pid, cmd.Process.Pid)
		}
		select {
		case <-done:
			out := stderr.String() + tail(logFile)
			if strings.Contains(out, "Address already in use") {
				return fmt.Errorf("redis-server on %s: %w%s", r.Addr(), errPortTaken, out)
			}
			return fmt.Errorf("redis-server on %s exited during start-up: %s", r.Addr(), out)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server on %s did not answer within %v: %v%s", r.Addr(), redisStartTimeout, err, tail(logFile))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd, r.done = cmd, done
	return nil
}

// Pid is the running server's process ID, or 0 when it is stopped.
func (r *Redis) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Stop shuts the server down gracefully (SIGTERM makes redis-server flush
// the append-only file) and waits for it to exit, killing it if it takes
// longer than 10 s. Stopping a stopped server does nothing.
func (r *Redis) Stop() {
	r.stop(syscall.SIGTERM)
}

// Kill ends the server with SIGKILL, like a crash: writes from the last
// second may be lost. Killing a stopped server does nothing.
func (r *Redis) Kill() {
	r.stop(syscall.SIGKILL)
}

func (r *Redis) stop(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	StopProcess(r.cmd, r.done, sig, redisStopTimeout)
	r.cmd, r.done = nil, nil
}

// redisPID asks the server on addr for its process ID. It is an error while
// the server still loads its append-only file: INFO answers then, but
// commands get -LOADING.
func redisPID(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("INFO server persistence\r\n")); err != nil {
		return 0, err
	}
	rd := bufio.NewReader(conn)
	header, err := rd.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(header), "$"))
	if err != nil || !strings.HasPrefix(header, "$") {
		return 0, fmt.Errorf("INFO answered %q", strings.TrimSpace(header))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd, body); err != nil {
		return 0, err
	}
	pid := 0
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "loading:1" {
			return 0, errors.New("still loading its data")
		}
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			if pid, err = strconv.Atoi(v); err != nil {
				return 0, fmt.Errorf("INFO process_id %q: %v", v, err)
			}
		}
	}
	if pid == 0 {
		return 0, errors.New("INFO server has no process_id")
	}
	return pid, nil
}

// tail returns the end of redis-server's log for a failure message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || len(b) == 0 {
		return ""
	}
	if err != nil {
		return "\n(read log: " + err.Error() + ")"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return "\nredis.log:\n" + string(b)
}
