package testenv

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// takenFirst makes freePort return port once, as if another test process
// had grabbed the port between FreePort and the server's bind, and then
// real free ports.
func takenFirst(t *testing.T, port int) {
	calls := 0
	freePort = func(t testing.TB) int {
		calls++
		if calls == 1 {
			return port
		}
		return FreePort(t)
	}
	t.Cleanup(func() { freePort = FreePort })
}

func TestStartRedisSkipsAPortAnotherServerTook(t *testing.T) {
	other := StartRedis(t)
	takenFirst(t, other.port)

	r := StartRedis(t)
	if r.port == other.port {
		t.Fatalf("StartRedis returned the other server's port %d", r.port)
	}
	pid, err := redisPID(r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if pid != r.cmd.Process.Pid {
		t.Errorf("%s is served by process %d, want the started redis-server %d", r.Addr(), pid, r.cmd.Process.Pid)
	}
}

func TestStartMotoSkipsAPortAnotherServerTook(t *testing.T) {
	// A stand-in that answers the readiness probe exactly as moto does.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(other.Close)
	port, err := strconv.Atoi(other.URL[strings.LastIndexByte(other.URL, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	takenFirst(t, port)

	m := StartMoto(t)
	if m.port == port {
		t.Fatalf("StartMoto settled on port %d, which another server holds", port)
	}
	resp, err := http.Get(m.URL() + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /moto-api/data.json on the started server: %s", resp.Status)
	}
}
