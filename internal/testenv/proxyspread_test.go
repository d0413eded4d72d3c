package testenv_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/jitbot/jitbot/internal/testenv"
)

// named is an upstream that answers 200 with its name.
func named(t *testing.T, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(name))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestProxySpread(t *testing.T) {
	p := testenv.StartProxy(t, named(t, "first").URL)
	if err := p.Spread("RemoveUserFromGroup", named(t, "second").URL, named(t, "third").URL); err != nil {
		t.Fatal(err)
	}
	answered := map[string]int{}
	for range 6 {
		status, body := post(t.Context(), t, p.URL(), url.Values{"Action": {"RemoveUserFromGroup"}})
		if status != http.StatusOK {
			t.Fatalf("spread call: %d %q", status, body)
		}
		answered[body]++
	}
	if answered["first"] != 2 || answered["second"] != 2 || answered["third"] != 2 {
		t.Errorf("6 calls answered by %v, want 2 by each upstream in turn", answered)
	}
	if _, body := post(t.Context(), t, p.URL(), url.Values{"Action": {"AddUserToGroup"}}); body != "first" {
		t.Errorf("another action was answered by %q, want the proxy's own upstream", body)
	}
	if n := p.Count("RemoveUserFromGroup"); n != 6 {
		t.Errorf("%d spread calls recorded, want 6", n)
	}

	if err := p.Spread("RemoveUserFromGroup"); err != nil {
		t.Fatal(err)
	}
	if _, body := post(t.Context(), t, p.URL(), url.Values{"Action": {"RemoveUserFromGroup"}}); body != "first" {
		t.Errorf("after Spread with no upstreams, answered by %q, want the proxy's own upstream", body)
	}
	if err := p.Spread("RemoveUserFromGroup", "not a url"); err == nil {
		t.Error("Spread to a malformed upstream was accepted")
	}
}
