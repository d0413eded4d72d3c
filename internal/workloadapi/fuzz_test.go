package workloadapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzParseRequestBody checks that no body makes the parser panic, that a
// body it accepts has a role and a reason and no negative duration, and
// that it refuses the others with a 400 or, past the bound, a 413 — never
// an error the API would answer with a 500. The seed corpus is in
// testdata/fuzz/FuzzParseRequestBody.
func FuzzParseRequestBody(f *testing.F) {
	f.Add([]byte(`{"role":"deploy","duration":"30m","reason":"release","account":"prod"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		const bound = 512
		r := http.MaxBytesReader(httptest.NewRecorder(), readCloser{bytes.NewReader(body)}, bound)
		p, err := parseRequestBody(r)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || (he.status != http.StatusBadRequest && he.status != http.StatusRequestEntityTooLarge) || he.msg == "" {
				t.Fatalf("body %q: error %v is not a 400 or 413 with a message", body, err)
			}
			if he.status == http.StatusRequestEntityTooLarge && len(body) <= bound {
				t.Fatalf("body of %d bytes refused as over %d", len(body), bound)
			}
			return
		}
		if p.Role == "" || p.Reason == "" || p.Duration < 0 {
			t.Fatalf("body %q accepted as %+v", body, p)
		}
	})
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
