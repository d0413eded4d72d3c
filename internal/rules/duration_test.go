package rules_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"}, {90 * time.Second, "1m30s"}, {30 * time.Second, "30s"}, {15 * time.Minute, "15m"},
		{time.Hour, "1h"}, {90 * time.Minute, "1h30m"}, {time.Hour + time.Second, "1h0m1s"}, {48 * time.Hour, "48h"},
	}
	for _, tt := range tests {
		if got := rules.FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
