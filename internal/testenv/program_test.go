package testenv_test

import (
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/testenv"
)

// TestServersWithoutATest starts each part through the error-returning API
// a program uses and proves Close really stops it.
func TestServersWithoutATest(t *testing.T) {
	r, err := testenv.NewRedis(filepath.Join(t.TempDir(), "redis"))
	if err != nil {
		t.Fatal(err)
	}
	do(t, r.Addr(), "SET k v")
	r.Close()
	if err := r.Restart(); err != nil {
		t.Fatalf("Restart after Close: %v", err)
	}
	if got := do(t, r.Addr(), "GET k"); got != "v" {
		t.Errorf("GET k after Restart = %q, want v", got)
	}
	r.Close()
	if conn, err := net.DialTimeout("tcp", r.Addr(), time.Second); err == nil {
		conn.Close()
		t.Errorf("redis-server still answers on %s after Close", r.Addr())
	}

	m, err := testenv.NewMoto(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ResetAll(); err != nil {
		t.Error(err)
	}
	p, err := testenv.NewProxy(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	p.Stall(30 * time.Millisecond)
	before := time.Now()
	resp, err := http.PostForm(p.URL(), url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	calls := p.Calls("ListUsers")
	if len(calls) != 1 {
		t.Fatalf("recorded %d ListUsers calls, want 1", len(calls))
	}
	c := calls[0]
	if c.Start.Before(before) || c.End.Sub(c.Start) < 30*time.Millisecond || c.End.After(time.Now()) {
		t.Errorf("call recorded from %v to %v; want within the request and at least the 30ms stall", c.Start, c.End)
	}
	p.Close()
	p.Close() // a second Close does nothing
	m.Close()
	m.Close()
	if resp, err := http.Get(m.URL() + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Errorf("moto_server still answers on %s after Close", m.URL())
	}
}
