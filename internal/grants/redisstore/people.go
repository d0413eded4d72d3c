package redisstore

import (
	"context"
	"fmt"

	"github.com/jitbot/jitbot/internal/grants"
)

// The per-person indexes: the open records of each requester or filer,
// and of each role, kept by write.lua in the same step as the record, so
// that /jit list and App Home read one person's records, not every open
// one (store_open took 120–150 ms at 10,000).

func (s *Store) userKey(id string) string   { return s.tag + ":by-user:" + id }
func (s *Store) roleKey(role string) string { return s.tag + ":by-role:" + role }

// peopleKeys are the person indexes r belongs in: its requester's and its
// filer's (the requester's again when nobody filed it for them).
func (s *Store) peopleKeys(r *grants.Request) (requester, filer string) {
	requester = s.userKey(r.Requester.ID)
	if r.FiledBy == nil {
		return requester, requester
	}
	return requester, s.userKey(r.FiledBy.ID)
}

// OpenOf returns the open records of userID and of roles (see
// grants.Store).
func (s *Store) OpenOf(ctx context.Context, userID string, roles []string) ([]*grants.Request, error) {
	keys := make([]string, 0, len(roles)+1)
	keys = append(keys, s.userKey(userID))
	for _, r := range roles {
		keys = append(keys, s.roleKey(r))
	}
	ids, err := s.client.SUnion(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("list the open requests of %s: %w", userID, err)
	}
	return s.load(ctx, ids)
}
