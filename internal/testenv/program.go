package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// This file is the package's API for programs that have no testing.TB, such
// as the load generator cmd/jitbench: the same servers, started in a
// directory the caller owns and stopped by Close. The Start functions are
// thin wrappers that fail the test where these return an error.

// LoopbackPort returns a loopback TCP port that was free a moment ago.
func LoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StopProcess sends sig to cmd's process and waits until exited is closed
// (by whoever waits for cmd); a process still running after grace is
// killed.
func StopProcess(cmd *exec.Cmd, exited <-chan struct{}, sig syscall.Signal, grace time.Duration) {
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-exited
	}
}

// NewRedis starts redis-server on a free loopback port with its data in
// dir (created if missing), as StartRedis does. Close (or Stop) stops it.
func NewRedis(dir string) (*Redis, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("redis data directory: %v", err)
	}
	return newRedis(dir, LoopbackPort)
}

// Restart starts a stopped server again on the same port and data
// directory, as Start does.
func (r *Redis) Restart() error { return r.start() }

// Close stops the server gracefully, as Stop does.
func (r *Redis) Close() error {
	r.Stop()
	return nil
}

// NewMoto starts moto_server on a free loopback port with dir (created if
// missing) as its working directory, as StartMoto does. Close stops it.
func NewMoto(dir string) (*Moto, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("moto working directory: %v", err)
	}
	return newMoto(dir, LoopbackPort)
}

// Close stops the server and every process it started.
func (m *Moto) Close() error {
	m.stop()
	return nil
}

// ResetAll drops every resource in every emulated service, as Reset does.
func (m *Moto) ResetAll() error {
	resp, err := http.Post(m.URL()+"/moto-api/reset", "", nil)
	if err != nil {
		return fmt.Errorf("reset moto: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: %s", resp.Status)
	}
	return nil
}
