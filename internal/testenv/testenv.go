// Package testenv starts the real parts that tests run against — redis-server
// and moto_server — each on a free loopback port in a temporary directory,
// plus a recording fault proxy for AWS and the Slack fake (in process, on a
// loopback port, spoken to over real HTTP and a real websocket). Helpers
// fail the test when a part cannot start; they never skip. Test-only: nothing outside _test.go files
// and test helpers imports it.
package testenv

import (
	"errors"
	"net"
	"testing"
)

// errPortTaken means a server could not bind the port FreePort gave it:
// another process took the port in between.
var errPortTaken = errors.New("port taken by another process before the server bound it")

// portAttempts is how many ports a Start function tries before giving up.
const portAttempts = 5

// freePort is FreePort; tests of the port race replace it.
var freePort = FreePort

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
