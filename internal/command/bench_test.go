package command_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/command"
)

// BenchmarkParse parses /jit text as Slack sends it (&, < and > escaped).
// Each case checks its result once before it is timed.
func BenchmarkParse(b *testing.B) {
	// A reason at the limit (499 runes; 1,050 bytes as Slack sends it),
	// with entities to decode and multi-byte letters.
	long := strings.Repeat("r&amp;d é &lt;x&gt; ", 500/10)
	longReason := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(strings.TrimSpace(long))
	tests := []struct {
		name, in string
		want     command.Command
		wantErr  string // for the error path: part of the message
	}{
		{name: "typical", in: "request prod-readonly 1h fixing INC-42 replica lag",
			want: command.Command{Kind: command.Request, Role: "prod-readonly", Duration: time.Hour, Reason: "fixing INC-42 replica lag"}},
		{name: "incident", in: "request db-breakglass --incident INC-4242 30m restart the stuck writer on orders-db",
			want: command.Command{Kind: command.Request, Role: "db-breakglass", Duration: 30 * time.Minute, Incident: "INC-4242", Reason: "restart the stuck writer on orders-db"}},
		{name: "long", in: "request prod-admin 1h30m --incident INC-4242 " + long,
			want: command.Command{Kind: command.Request, Role: "prod-admin", Duration: 90 * time.Minute, Incident: "INC-4242", Reason: longReason}},
		{name: "too-long", in: "request prod-admin 1h " + strings.Repeat("x", 4000), wantErr: "the limit is 500"},
		{name: "extend", in: "extend jit-7k3qx2 30m", want: command.Command{Kind: command.Extend, ID: "JIT-7K3QX2", Duration: 30 * time.Minute}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			c, err := command.Parse(tt.in)
			var pe *command.Error
			switch {
			case tt.wantErr != "" && (!errors.As(err, &pe) || !strings.Contains(pe.Msg, tt.wantErr)):
				b.Fatalf("Parse = %v, want an error saying %q", err, tt.wantErr)
			case tt.wantErr == "" && (err != nil || c != tt.want):
				b.Fatalf("Parse = %+v, %v; want %+v", c, err, tt.want)
			}
			b.SetBytes(int64(len(tt.in)))
			b.ReportAllocs()
			for b.Loop() {
				command.Parse(tt.in)
			}
		})
	}
}
