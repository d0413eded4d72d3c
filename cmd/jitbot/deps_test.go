package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryDoesNotLinkTesting: the production binary must not carry the
// testing package or the test environment (their flags, their helpers
// that start servers); test fakes reach jitbot only through its tests.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" || strings.HasSuffix(dep, "/internal/testenv") {
			t.Errorf("jitbot links %s", dep)
		}
	}
}
