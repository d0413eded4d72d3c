package auditlog_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/auditlog"
)

func TestParseAnchor(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		name, in string
		seq      int64
		ok       bool
	}{
		{name: "as posted", in: auditlog.FormatAnchor(42, hash), seq: 42, ok: true},
		{name: "short hash", in: "Audit anchor: entry 42, hash abcd"},
		{name: "upper-case hash", in: "Audit anchor: entry 42, hash " + strings.ToUpper(hash)},
		{name: "seq 0", in: "Audit anchor: entry 0, hash " + hash},
		{name: "seq overflows", in: "Audit anchor: entry 9999999999999999999, hash " + hash},
		{name: "text around it", in: "see " + auditlog.FormatAnchor(42, hash)},
		{name: "other message", in: "Catalog reloaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, h, ok := auditlog.ParseAnchor(tt.in)
			if ok != tt.ok || seq != tt.seq || (ok && h != hash) {
				t.Errorf("ParseAnchor(%q) = %d, %q, %v", tt.in, seq, h, ok)
			}
		})
	}
}

// FuzzParseAnchor: whatever the text, an anchor read back formats to the
// same text.
func FuzzParseAnchor(f *testing.F) {
	f.Add(auditlog.FormatAnchor(1, strings.Repeat("0", 64)))
	f.Add("Audit anchor: entry 12, hash zz")
	f.Fuzz(func(t *testing.T, text string) {
		seq, hash, ok := auditlog.ParseAnchor(text)
		if ok && auditlog.FormatAnchor(seq, hash) != text {
			t.Errorf("ParseAnchor(%q) = %d, %q, which formats differently", text, seq, hash)
		}
	})
}
