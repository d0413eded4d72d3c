package s3export

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// RedisCursor keeps the export cursor in one Redis string. Give it a key
// with the audit log's hash tag ({<prefix>}:audit:s3cursor), so it lives
// on the same Cluster slot as the log it points into.
type RedisCursor struct {
	client redis.UniversalClient
	key    string
}

var _ Cursor = (*RedisCursor)(nil)

// NewRedisCursor returns the cursor stored at key.
func NewRedisCursor(client redis.UniversalClient, key string) *RedisCursor {
	return &RedisCursor{client: client, key: key}
}

// Get returns the stream ID of the last entry exported, or "" when none
// has been.
func (c *RedisCursor) Get(ctx context.Context) (string, error) {
	id, err := c.client.Get(ctx, c.key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get %s: %w", c.key, err)
	}
	return id, nil
}

// forwardScript sets the cursor only if it moves it forward, comparing
// stream IDs as numbers.
var forwardScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
	local cm, cn = string.match(cur, '^(%d+)-(%d+)$')
	local nm, nn = string.match(ARGV[1], '^(%d+)-(%d+)$')
	if cm then
		cm, cn, nm, nn = tonumber(cm), tonumber(cn), tonumber(nm), tonumber(nn)
		if cm > nm or (cm == nm and cn >= nn) then
			return 0
		end
	end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`)

// Set records streamID as exported. It never moves the cursor back: with
// two replicas exporting, the slower one's Set would otherwise rewind it
// and make the faster one's objects be written again. (To re-export on
// purpose, delete the key.)
func (c *RedisCursor) Set(ctx context.Context, streamID string) error {
	if _, _, err := parseID(streamID); err != nil {
		return fmt.Errorf("set %s: %w", c.key, err)
	}
	if err := forwardScript.Run(ctx, c.client, []string{c.key}, streamID).Err(); err != nil {
		return fmt.Errorf("set %s to %s: %w", c.key, streamID, err)
	}
	return nil
}
