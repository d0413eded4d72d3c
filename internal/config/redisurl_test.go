package config_test

import (
	"testing"

	"github.com/jitbot/jitbot/internal/config"
)

// TestRedisTLSSchemes: Sentinel and Cluster over TLS are REDIS_URLs too.
func TestRedisTLSSchemes(t *testing.T) {
	for _, u := range []string{
		"rediss-sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster?sentinel_password=spw",
		"rediss-cluster://:pw@10.0.0.1:6379,10.0.0.2:6379",
	} {
		setEnv(t, map[string]string{"REDIS_URL": u})
		if _, err := config.Load(); err != nil {
			t.Errorf("REDIS_URL=%s: %v", u, err)
		}
	}
}
