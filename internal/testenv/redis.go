package testenv

import (
	"bufio"
	"errors"
	"fmt"
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
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not installed (make test installs it): %v", err)
	}
	r := &Redis{bin: bin, dir: t.TempDir(), port: FreePort(t)}
	r.Start(t) // Stop/Start let a test restart Redis
	t.Cleanup(r.Stop)
	return r
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
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		t.Fatalf("redis-server on %s is already running", r.Addr())
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
		t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()

	deadline := time.Now().Add(redisStartTimeout)
	for {
		err := pingRedis(r.Addr())
		if err == nil {
			break
		}
		select {
		case <-done:
			t.Fatalf("redis-server on %s exited during start-up: %s%s", r.Addr(), stderr.String(), tail(logFile))
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("redis-server on %s did not answer PING within %v: %v%s", r.Addr(), redisStartTimeout, err, tail(logFile))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd, r.done = cmd, done
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
	r.cmd.Process.Signal(sig)
	select {
	case <-r.done:
	case <-time.After(redisStopTimeout):
		r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd, r.done = nil, nil
}

// pingRedis speaks just enough RESP to tell whether the server is serving.
// While it loads the append-only file it answers -LOADING, which is not
// ready yet.
func pingRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
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
