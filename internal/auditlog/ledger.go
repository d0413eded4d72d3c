package auditlog

import (
	"context"
	"slices"
	"time"

	"github.com/jitbot/jitbot/internal/grants"
)

var _ grants.Ledger = (*Log)(nil)

// Granted returns what the log's entries since since say request id was
// granted: the backend, target and principal of each of its `granted`
// entries whose HMAC holds under the log's key. Whoever can write to
// Redis can change the request's record, but cannot write such an entry
// without JIT_SIGNING_KEY, so a tampered record is also revoked by what
// this says (grants.Ledger). An unkeyed log vouches for nothing.
func (l *Log) Granted(ctx context.Context, id grants.RequestID, since time.Time) ([]grants.Hold, error) {
	if l.key == nil {
		return nil, nil
	}
	entries, err := l.Since(ctx, since)
	if err != nil {
		return nil, err
	}
	var out []grants.Hold
	for _, s := range entries {
		e := s.Entry
		if e.RequestID != string(id) || e.Type != string(grants.EventGranted) || !e.Keyed || !e.macOK([][]byte{l.key}) {
			continue
		}
		if h := (grants.Hold{Backend: e.Backend, Target: e.Target, Principal: e.Principal}); !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}
