package blockkit

import (
	"strings"
	"testing"
)

func TestPreformatted(t *testing.T) {
	got := Preformatted("role  requests\n<!channel> ```x```")
	if !strings.HasPrefix(got, "```\n") || !strings.HasSuffix(got, "\n```") {
		t.Fatalf("not a code block: %q", got)
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(got, "```\n"), "\n```")
	if strings.Contains(inner, "```") || strings.Contains(inner, "<!channel>") || !strings.Contains(inner, "&lt;!channel&gt;") {
		t.Errorf("user text can break out of the block or mention: %q", inner)
	}
	if long := Preformatted(strings.Repeat("x", MaxMessageText)); len([]rune(long)) > MaxMessageText {
		t.Errorf("%d characters, more than %d", len([]rune(long)), MaxMessageText)
	}
}
