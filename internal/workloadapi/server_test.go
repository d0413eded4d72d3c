package workloadapi

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// A GET may wait MaxWait: the server must not cut it off before.
func TestServerTimeoutsOutlastTheWait(t *testing.T) {
	for _, maxWait := range []time.Duration{0, 2 * time.Minute} {
		s := NewServer("127.0.0.1:0", http.NotFoundHandler(), maxWait)
		want := max(maxWait, DefaultMaxWait)
		if s.srv.WriteTimeout <= want || s.srv.ReadHeaderTimeout == 0 || s.srv.ReadTimeout == 0 || s.srv.IdleTimeout == 0 {
			t.Errorf("maxWait %v: timeouts %+v, want all set and WriteTimeout above %v", maxWait, s.srv, want)
		}
	}
}

func TestServerServesUntilCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- NewServer("", New(Options{Verifier: countingVerifier{nil, &f.verifies}, Service: f.svc}), 0).Serve(ctx, ln)
	}()
	f.url = "http://" + ln.Addr().String()
	wantStatus(t, f.do("PUT", "/v1/requests", "", ""), http.StatusMethodNotAllowed)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v, want nil after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
