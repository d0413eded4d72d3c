// Package testenv starts the real parts that tests run against — redis-server
// and moto_server — each on a free loopback port in a temporary directory,
// plus a recording fault proxy for AWS. Helpers fail the test when a part
// cannot start; they never skip. Test-only: nothing outside _test.go files
// and test helpers imports it.
package testenv

import (
	"net"
	"testing"
)

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
