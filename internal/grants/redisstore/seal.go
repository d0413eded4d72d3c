package redisstore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/jitbot/jitbot/internal/grants"
)

// MinKeyLen is the shortest signing key New accepts, in bytes.
const MinKeyLen = 32

// sealer MACs the records this store writes and checks the ones it reads,
// so that a record is trusted only if a holder of the key wrote it. The
// key never goes to Redis: someone who can write there can change a
// record's JSON, but not make its MAC match (docs/design.md §4).
//
// The MAC covers the record's JSON exactly as stored, its ID and the key
// prefix, so a record cannot be moved to another ID or another jitbot's
// key space either. It does not stop an older version of the same record
// from being written back; the service bounds what that can do (see
// grants.Service, "approvals are good for").
type sealer struct {
	keys [][]byte // keys[0] signs; every key verifies (rotation)
}

func newSealer(keys [][]byte) (sealer, error) {
	if len(keys) == 0 {
		// A key of this process alone: right for the embedded store and
		// for tests, wrong for anything another process must read.
		k := make([]byte, MinKeyLen)
		rand.Read(k)
		keys = [][]byte{k}
	}
	for i, k := range keys {
		if len(k) < MinKeyLen {
			return sealer{}, fmt.Errorf("signing key %d is %d bytes; want at least %d", i+1, len(k), MinKeyLen)
		}
	}
	return sealer{keys: keys}, nil
}

// seal is the MAC of data, the JSON of the record id under tag.
func (s sealer) seal(tag string, id grants.RequestID, data string) string {
	return hex.EncodeToString(mac(s.keys[0], tag, id, data))
}

// verify reports whether sum is the MAC of data under any of the keys.
func (s sealer) verify(tag string, id grants.RequestID, data, sum string) bool {
	got, err := hex.DecodeString(sum)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	for _, k := range s.keys {
		if hmac.Equal(got, mac(k, tag, id, data)) {
			return true
		}
	}
	return false
}

func mac(key []byte, tag string, id grants.RequestID, data string) []byte {
	h := hmac.New(sha256.New, key)
	// Each part is length-prefixed so that no two different (tag, id,
	// data) triples feed the same bytes.
	for _, part := range []string{"jitbot-record-v1", tag, string(id), data} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return h.Sum(nil)
}
