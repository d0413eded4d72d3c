// Package wait is how jitbot's packages pause between retries: for a
// while, or until their context ends, whichever comes first.
package wait

import (
	"context"
	"time"
)

// Sleep waits for d, or until ctx is done, which it then returns the
// error of.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
