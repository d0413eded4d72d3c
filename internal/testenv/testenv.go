// Package testenv starts the real parts that tests run against — redis-server
// and moto_server — each on a free loopback port in a temporary directory,
// plus a recording fault proxy for AWS and the Slack fake (in process, on a
// loopback port, spoken to over real HTTP and a real websocket). Helpers
// fail the test when a part cannot start; they never skip. Besides tests and
// test helpers, only the load generator cmd/jitbench imports it, through the
// error-returning API of program.go.
package testenv

import (
	"errors"
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
	port, err := LoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
