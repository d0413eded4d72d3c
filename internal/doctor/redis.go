package doctor

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisConfig is Redis on a go-redis client, such as the store's.
type RedisConfig struct{ Client redis.UniversalClient }

var _ Redis = RedisConfig{}

// ConfigGet returns the value of the parameter name. A server that does
// not know CONFIG, as managed ones rename or remove it, is ErrNoConfig.
func (r RedisConfig) ConfigGet(ctx context.Context, name string) (string, error) {
	m, err := r.Client.ConfigGet(ctx, name).Result()
	if err != nil {
		if msg := strings.ToLower(err.Error()); strings.Contains(msg, "unknown command") || strings.Contains(msg, "noperm") {
			return "", fmt.Errorf("%w (%v)", ErrNoConfig, err)
		}
		return "", fmt.Errorf("CONFIG GET %s: %w", name, err)
	}
	v, ok := m[name]
	if !ok {
		return "", fmt.Errorf("CONFIG GET %s: the server has no such parameter", name)
	}
	return v, nil
}
