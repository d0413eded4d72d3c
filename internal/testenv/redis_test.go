package testenv_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/testenv"
)

// do sends one inline command and returns the first reply line.
func do(t *testing.T, addr, cmd string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(conn, "%s\r\n", cmd)
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" { // bulk string: the value is on the next line
		line, err = r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	return strings.TrimSpace(line)
}

func TestRedisRestartKeepsData(t *testing.T) {
	r := testenv.StartRedis(t)
	if want := "redis://" + r.Addr() + "/0"; r.URL() != want {
		t.Errorf("URL() = %q, want %q", r.URL(), want)
	}
	if !strings.HasPrefix(r.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q, want a loopback address", r.Addr())
	}
	if got := do(t, r.Addr(), "SET k v1"); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}

	r.Stop()
	r.Stop() // idempotent
	if _, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		t.Fatalf("server still accepts connections after Stop")
	}

	r.Start(t)
	if got := do(t, r.Addr(), "GET k"); got != "v1" {
		t.Errorf("GET k after restart = %q, want v1", got)
	}
}

func TestRedisKill(t *testing.T) {
	r := testenv.StartRedis(t)
	r.Kill()
	r.Kill()
	if _, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		t.Fatalf("server still accepts connections after Kill")
	}
	r.Start(t)
	if got := do(t, r.Addr(), "PING"); got != "+PONG" {
		t.Errorf("PING after restart = %q", got)
	}
}
