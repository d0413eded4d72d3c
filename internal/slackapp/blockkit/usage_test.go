package blockkit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// TestWithUsage: the line sits just above the buttons, escaped; no line,
// no block.
func TestWithUsage(t *testing.T) {
	plain := ApprovalRequest(pendingSTS())
	if got := WithUsage(plain, ""); len(got) != len(plain) {
		t.Errorf("an empty line added %d blocks", len(got)-len(plain))
	}
	bs := WithUsage(ApprovalRequest(pendingSTS()), "the last 9 grants used only s3:Get* "+evil)
	if len(bs) != len(plain)+1 {
		t.Fatalf("%d blocks; want %d", len(bs), len(plain)+1)
	}
	var at int
	for i, b := range bs {
		if _, ok := b.(*slack.ActionBlock); ok {
			at = i
		}
	}
	cb, ok := bs[at-1].(*slack.ContextBlock)
	if !ok {
		t.Fatalf("block above the buttons is %T; want the usage note", bs[at-1])
	}
	text := cb.ContextElements.Elements[0].(*slack.TextBlockObject).Text
	if !strings.Contains(text, "the last 9 grants used only s3:Get*") {
		t.Errorf("block above the buttons is %s; want the usage line", text)
	}
	if strings.Contains(text, "<!channel>") || !strings.Contains(text, "&lt;!channel&gt;") {
		t.Errorf("usage line not escaped: %s", text)
	}
	if raw, _ := json.Marshal(plain); strings.Contains(string(raw), "Usage:") {
		t.Errorf("WithUsage changed the blocks it was given")
	}
}
