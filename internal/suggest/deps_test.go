package suggest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPure: the suggestion decides in pure code; reading Slack, AWS or
// Redis belongs to its adapter, suggest/history.
func TestPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/slack-go/", "github.com/aws/", "github.com/redis/", "/internal/slackapp"} {
			if strings.Contains(dep, banned) {
				t.Errorf("package suggest depends on %s", dep)
			}
		}
	}
}
