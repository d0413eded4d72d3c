package grants

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestCredentialsNeverSerialise marshals, logs and prints every value that
// carries credentials, the way a careless log line or debug dump would,
// and finds neither secret. Only the requester's DM may show them, and it
// reads the fields directly.
func TestCredentialsNeverSerialise(t *testing.T) {
	const secret, token = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY", "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
	c := &Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: secret, SessionToken: token, Expiration: time.Unix(1e9, 0)}
	r := Request{ID: "JIT-1", Role: "readonly", State: Active, AccessKeyID: c.AccessKeyID}
	values := map[string]any{
		"*Credentials": c,
		"Credentials":  *c,
		"Event":        Event{Type: EventGranted, Request: r, Credentials: c},
		"*Event":       &Event{Type: EventGranted, Request: r, Credentials: c},
		"Issued":       Issued{Credentials: c, CredsExpire: c.Expiration},
		"*Issued":      &Issued{Credentials: c},
	}
	for name, v := range values {
		var outs []string
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%s): %v", name, err)
		}
		outs = append(outs, string(j))
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		outs = append(outs, fmt.Sprint(v), fmt.Sprintln(v))
		var buf bytes.Buffer
		opts := &slog.HandlerOptions{Level: slog.LevelDebug}
		for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, opts), slog.NewTextHandler(&buf, opts)} {
			l := slog.New(h)
			l.Debug("dump", "value", v)
			l.Debug("dump", slog.Any("any", v), slog.Group("g", "v", v))
		}
		outs = append(outs, buf.String())
		for _, out := range outs {
			if strings.Contains(out, secret) || strings.Contains(out, token) {
				t.Errorf("%s serialises a secret: %s", name, out)
			}
			// The redaction must hide the secret fields, not print
			// them in another form.
			if strings.Contains(out, fmt.Sprintf("%x", secret)) {
				t.Errorf("%s serialises the secret in hex: %s", name, out)
			}
		}
	}
	// The DM, the one place the contract allows, still reads them.
	if c.SecretAccessKey != secret || c.SessionToken != token {
		t.Fatal("the fields themselves are changed")
	}
}
