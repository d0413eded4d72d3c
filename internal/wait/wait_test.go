package wait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/wait"
)

func TestSleep(t *testing.T) {
	start := time.Now()
	if err := wait.Sleep(t.Context(), 20*time.Millisecond); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Errorf("Sleep(20ms) = %v after %v, want nil after at least 20ms", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := wait.Sleep(ctx, time.Minute); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("Sleep(1m) with a 10ms deadline = %v after %v, want DeadlineExceeded at once", err, time.Since(start))
	}
}
