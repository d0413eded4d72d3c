package testenv

import (
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mustCall runs one command and fails the test on any error.
func mustCall(t *testing.T, addr string, args ...string) any {
	t.Helper()
	reply, err := call(addr, args...)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// setAndWait writes key on addr and runs WAIT 1 timeout on the same
// connection, returning how many replicas acknowledged the write.
func setAndWait(t *testing.T, addr, key, value, timeoutMS string) int64 {
	t.Helper()
	replies, err := pipeline(addr, []string{"SET", key, value}, []string{"WAIT", "1", timeoutMS})
	if err != nil {
		t.Fatal(err)
	}
	if replies[0] != "OK" {
		t.Fatalf("SET %s on %s = %v", key, addr, replies[0])
	}
	n, ok := replies[1].(int64)
	if !ok {
		t.Fatalf("WAIT on %s = %v", addr, replies[1])
	}
	return n
}

func TestSentinel(t *testing.T) {
	start := time.Now()
	s := StartSentinel(t)
	t.Logf("StartSentinel took %v", time.Since(start).Round(time.Millisecond))

	if !regexp.MustCompile(`^redis-sentinel://127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+/jitbot$`).MatchString(s.URL()) {
		t.Errorf("URL() = %q, want redis-sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/jitbot", s.URL())
	}
	primary, replica := s.Primary(), s.Replica()
	if primary == replica {
		t.Fatalf("Primary() and Replica() are both %s", primary)
	}

	// Writes reach the replica, and WAIT counts it.
	if n := setAndWait(t, primary, "k", "v1", "2000"); n != 1 {
		t.Fatalf("WAIT after SET = %d replicas, want 1", n)
	}
	if got := mustCall(t, replica, "GET", "k"); got != "v1" {
		t.Errorf("GET k on the replica = %v, want v1", got)
	}

	// A paused replica acknowledges nothing, until it is resumed.
	s.PauseReplica()
	if n := setAndWait(t, primary, "k", "v2", "200"); n != 0 {
		t.Errorf("WAIT with the replica paused = %d replicas, want 0", n)
	}
	// WAIT counts from its own connection's last write: on a connection
	// that wrote nothing, it answers at once, even now. A store must send
	// it on the connection of the write it waits for.
	if got := mustCall(t, primary, "WAIT", "1", "200"); got != int64(1) {
		t.Errorf("WAIT on a fresh connection with the replica paused = %v, want 1 (it waits for nothing)", got)
	}
	s.ResumeReplica()
	if n := setAndWait(t, primary, "k", "v3", "2000"); n != 1 {
		t.Fatalf("WAIT after ResumeReplica = %d replicas, want 1", n)
	}

	// Failover: the replica becomes the primary, with the data.
	start = time.Now()
	s.KillPrimary()
	if _, err := net.DialTimeout("tcp", primary, time.Second); err == nil {
		t.Fatalf("old primary %s still accepts connections after KillPrimary", primary)
	}
	got := s.WaitFailover(t, 20*time.Second)
	t.Logf("failover took %v", time.Since(start).Round(time.Millisecond))
	if got != replica || s.Primary() != replica {
		t.Errorf("WaitFailover = %s, Primary() = %s; want the old replica %s", got, s.Primary(), replica)
	}
	if v := mustCall(t, got, "GET", "k"); v != "v3" {
		t.Errorf("GET k on the new primary = %v, want v3", v)
	}
	if v := mustCall(t, got, "SET", "k", "v4"); v != "OK" {
		t.Errorf("SET on the new primary = %v, want OK", v)
	}
	s.KillPrimary()
	s.KillPrimary() // nothing left to kill: does nothing
}

func TestStartServerSkipsAPortAnotherServerTook(t *testing.T) {
	other := StartRedis(t)
	takenFirst(t, other.port)

	s := startServer(t, "probe", false, func(testing.TB, int) string { return dataConfig })
	if s.port == other.port {
		t.Fatalf("startServer settled on port %d, which another server holds", s.port)
	}
	pid, err := redisPID(s.addr())
	if err != nil {
		t.Fatal(err)
	}
	if pid != s.cmd.Process.Pid {
		t.Errorf("%s is served by process %d, want the started redis-server %d", s.addr(), pid, s.cmd.Process.Pid)
	}
}

func TestCallReplies(t *testing.T) {
	r := StartRedis(t)
	tests := []struct {
		name string
		args []string
		want any
	}{
		{name: "simple string", args: []string{"SET", "k", "v"}, want: "OK"},
		{name: "bulk string", args: []string{"GET", "k"}, want: "v"},
		{name: "null", args: []string{"GET", "nosuch"}, want: nil},
		{name: "integer", args: []string{"INCR", "n"}, want: int64(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustCall(t, r.Addr(), tt.args...); got != tt.want {
				t.Errorf("%v = %#v, want %#v", tt.args, got, tt.want)
			}
		})
	}
	got := mustCall(t, r.Addr(), "MGET", "k", "nosuch")
	if a, ok := got.([]any); !ok || len(a) != 2 || a[0] != "v" || a[1] != nil {
		t.Errorf("MGET = %#v, want [v <nil>]", got)
	}
	_, err := call(r.Addr(), "NOSUCHCOMMAND")
	var re respError
	if !errors.As(err, &re) || !strings.HasPrefix(string(re), "ERR unknown command") {
		t.Errorf("unknown command: error %v, want an ERR reply", err)
	}
}
