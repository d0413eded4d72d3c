package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestStartBrowserWithoutChromium: a machine without Chromium fails the
// test, naming the script that installs it; it never skips.
func TestStartBrowserWithoutChromium(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // nothing on it
	f := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		StartBrowser(f)
	}()
	<-done
	if !f.failed || !strings.Contains(f.msg, "scripts/test-deps.sh") {
		t.Errorf("StartBrowser without chromium: failed %v with %q; want a failure naming scripts/test-deps.sh", f.failed, f.msg)
	}
}

// fatalRecorder is a testing.TB whose Fatal records the message and ends
// the goroutine, as testing's does, without failing the real test.
type fatalRecorder struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Skip(args ...any) {
	f.msg = "skipped: " + fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Skipf(format string, args ...any) { f.Skip(fmt.Sprintf(format, args...)) }
