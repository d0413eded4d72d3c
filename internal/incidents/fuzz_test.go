package incidents_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/incidents"
	"github.com/jitbot/jitbot/internal/oncall/pagerdutyfake"
)

// FuzzParseEvent: whatever arrives (after a good signature, so from
// PagerDuty or from someone holding the secret), ParseEvent neither panics
// nor returns an event that says less than it promises. Seeds are in
// testdata/fuzz/FuzzParseEvent.
func FuzzParseEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := incidents.ParseEvent(body)
		if err != nil {
			if ev != (incidents.Event{}) {
				t.Errorf("ParseEvent returned %+v with the error %v", ev, err)
			}
			return
		}
		if ev.Type == "" {
			t.Errorf("ParseEvent(%q) = %+v: an event without a type", body, ev)
		}
		if ev.Incident != (incidents.Incident{}) && ev.Incident.ID == "" {
			t.Errorf("ParseEvent(%q) = %+v: an incident without an ID", body, ev)
		}
	})
}

// FuzzVerifySignature: the header is what an attacker controls. Whatever
// it holds, it verifies only if it carries the body's true v1 signature,
// and other entries around the true one never stop it from verifying.
// Seeds are in testdata/fuzz/FuzzVerifySignature.
func FuzzVerifySignature(f *testing.F) {
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		good := pagerdutyfake.Sign(secret, body)
		hexSig := strings.TrimPrefix(good, "v1=")
		ok := incidents.VerifySignature(secret, body, header)
		if ok && (secret == "" || !strings.Contains(strings.ToLower(header), hexSig)) {
			t.Fatalf("VerifySignature(%q, %q, %q) = true without the body's signature", secret, body, header)
		}
		if secret == "" {
			return
		}
		for _, h := range []string{header + "," + good, good + "," + header, header + ", " + good + " "} {
			if !incidents.VerifySignature(secret, body, h) {
				t.Fatalf("VerifySignature(%q, %q, %q) = false with the body's signature in it", secret, body, h)
			}
		}
		if !incidents.VerifySignature(secret, body, good) {
			t.Fatalf("VerifySignature(%q, %q, its own signature) = false", secret, body)
		}
	})
}
