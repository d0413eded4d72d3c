package cloudtrail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
)

// Summarizer is what the watcher needs of Lookup.
type Summarizer interface {
	Summarize(ctx context.Context, r *grants.Request) (Summary, error)
}

// Getter reads a request record.
type Getter interface {
	Get(ctx context.Context, id grants.RequestID) (*grants.Request, error)
}

// Watcher schedules the looks at ended grants and carries them out. The
// schedule is a sorted set in Redis ({<prefix>}:usage, member
// "<request id> <pass>", score = due time in ms), so looks survive a
// restart. It is a grants.Notifier: an ended grant schedules two looks,
// one at once and one after Delay, because CloudTrail delivers events up to
// about 15 minutes late.
type Watcher struct {
	client redis.UniversalClient
	key    string
	lookup Summarizer
	get    Getter
	out    grants.Notifier
	log    *slog.Logger
	now    func() time.Time
	// Delay is when the second look happens; default 20m.
	Delay time.Duration
}

// NewWatcher returns a watcher whose summaries go to out (the audit log
// and channel) as EventUsage.
func NewWatcher(client redis.UniversalClient, prefix string, lookup Summarizer, get Getter, out grants.Notifier, log *slog.Logger) *Watcher {
	return &Watcher{client: client, key: redisstore.KeyTag(prefix) + ":usage", lookup: lookup, get: get, out: out, log: log, now: time.Now, Delay: 20 * time.Minute}
}

// Notify schedules the looks at a grant that has ended.
func (w *Watcher) Notify(ctx context.Context, e grants.Event) {
	if e.Type != grants.EventRevoked || e.Request.GrantedAt.IsZero() {
		return
	}
	now := w.now()
	err := w.client.ZAdd(context.WithoutCancel(ctx),
		w.key,
		redis.Z{Score: float64(now.UnixMilli()), Member: string(e.Request.ID) + " 1"},
		redis.Z{Score: float64(now.Add(w.Delay).UnixMilli()), Member: string(e.Request.ID) + " 2"},
	).Err()
	if err != nil {
		w.log.Error("schedule usage lookup", "request_id", e.Request.ID, "err", err)
	}
}

// Run carries out due looks every poll until ctx ends.
func (w *Watcher) Run(ctx context.Context, poll time.Duration) error {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := w.RunDue(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("usage lookups failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunDue carries out every look that is due. A look whose CloudTrail call
// fails stays scheduled and is tried again at the next poll. A look is
// taken off the schedule (ZREM) before it is posted, so two replicas do
// not both post it.
func (w *Watcher) RunDue(ctx context.Context) error {
	due, err := w.client.ZRangeByScore(ctx, w.key, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(w.now().UnixMilli(), 10)}).Result()
	if err != nil {
		return fmt.Errorf("read usage schedule: %w", err)
	}
	var errs []error
	for _, member := range due {
		id, pass, _ := strings.Cut(member, " ")
		r, err := w.get.Get(ctx, grants.RequestID(id))
		if err != nil {
			if errors.Is(err, grants.ErrNotFound) {
				w.client.ZRem(ctx, w.key, member)
				continue
			}
			errs = append(errs, err)
			continue
		}
		s, err := w.lookup.Summarize(ctx, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n, err := w.client.ZRem(ctx, w.key, member).Result(); err != nil || n == 0 {
			continue // another replica took it
		}
		look := "first look"
		if pass == "2" {
			look = "after CloudTrail's delivery delay"
		}
		w.out.Notify(ctx, grants.Event{Type: grants.EventUsage, At: w.now(), Request: *r, Err: s.String() + " (" + look + ")"})
	}
	return errors.Join(errs...)
}
