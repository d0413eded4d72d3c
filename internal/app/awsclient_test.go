package app

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jitbot/jitbot/internal/grants"
)

// TestAWSClientKeepsAConnectionPerWorker: when every scheduler worker and
// as many approvals call AWS at once, again and again, the connections of
// the first round are reused; none is closed and opened again (a new TLS
// handshake with IAM each time).
func TestAWSClientKeepsAConnectionPerWorker(t *testing.T) {
	calls := 2 * grants.DefaultWorkers
	var arrived sync.WaitGroup
	var opened atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // every call of a round is open at once
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	client := awsHTTPClient()
	for round := range 3 {
		arrived.Add(calls)
		var done sync.WaitGroup
		for range calls {
			done.Go(func() {
				resp, err := client.Do(must(http.NewRequest("POST", srv.URL, nil)))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			})
		}
		done.Wait()
		if n := int(opened.Load()); n != calls {
			t.Fatalf("after round %d of %d calls at once, %d connections were opened; want %d, reused", round+1, calls, n, calls)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
