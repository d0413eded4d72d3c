package config_test

import (
	"testing"

	"github.com/jitbot/jitbot/internal/config"
)

func TestDryRun(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr string
	}{
		{name: "off by default", env: nil, want: false},
		{name: "on", env: map[string]string{"JIT_DRY_RUN": "true"}, want: true},
		{name: "malformed", env: map[string]string{"JIT_DRY_RUN": "maybe"}, wantErr: `JIT_DRY_RUN: expected true or false, got "maybe"`},
		{name: "with usage lookups", env: map[string]string{"JIT_DRY_RUN": "true", "JIT_USAGE_LOOKUP": "true"},
			wantErr: "JIT_USAGE_LOOKUP: cannot be true with JIT_DRY_RUN=true: a dry run issues no AWS access for CloudTrail to show"},
		{name: "with S3 export", env: map[string]string{"JIT_DRY_RUN": "true", "JIT_AUDIT_S3_BUCKET": "evidence", "REDIS_URL": "redis://127.0.0.1:6379/0"},
			wantErr: "JIT_AUDIT_S3_BUCKET: cannot be set with JIT_DRY_RUN=true: a dry run calls no AWS API, S3 included"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env)
			c, err := config.Load()
			switch {
			case tt.wantErr != "":
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("Load() error = %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("Load() error = %v", err)
			case c.DryRun != tt.want:
				t.Errorf("DryRun = %v, want %v", c.DryRun, tt.want)
			}
		})
	}
}

// TestDefaultsIgnoreTheEnvironment: Defaults is what Load reads from an
// empty environment, even when the environment is not empty.
func TestDefaultsIgnoreTheEnvironment(t *testing.T) {
	setEnv(t, nil)
	want, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	setEnv(t, map[string]string{"SLACK_BOT_TOKEN": "xoxb-mine", "REDIS_URL": "redis://10.0.0.1:6379/0", "JIT_DRY_RUN": "true", "JIT_LEASE": "5m"})
	got, err := config.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Defaults() = %+v\nLoad() of an empty environment = %+v", got, want)
	}
}
