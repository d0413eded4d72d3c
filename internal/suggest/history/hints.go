package history

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jitbot/jitbot/internal/suggest"
)

// Hints keeps, per role, the one line of usage the approval DM shows
// ("the last 20 grants used only s3:Get*, ec2:Describe*"). Reading the
// audit log and CloudTrail takes seconds, so the request path never does
// it: Line answers from memory and asks Run, in the background, to
// compute a line that is missing or older than TTL.
type Hints struct {
	log    Log
	calls  Caller
	logger *slog.Logger
	now    func() time.Time

	// Window is how far back grants are read, Last how many of the most
	// recent ones count, MaxScan how many log entries a line may read at
	// most (a role seldom asked for has its line from fewer grants, or
	// none), TTL how long a line is good for.
	Window  time.Duration
	Last    int
	MaxScan int
	TTL     time.Duration

	mu      sync.Mutex
	lines   map[string]hint
	pending map[string]bool
	wanted  chan string
}

type hint struct {
	line string
	at   time.Time
}

// NewHints returns Hints on the audit log l and CloudTrail c, with a 90-day
// window, the last 20 grants, at most 200,000 log entries read (a few
// seconds of Redis, whatever the log's length) and a one-hour TTL.
func NewHints(l Log, c Caller, logger *slog.Logger) *Hints {
	return &Hints{log: l, calls: c, logger: logger, now: time.Now,
		Window: 90 * 24 * time.Hour, Last: 20, MaxScan: 200_000, TTL: time.Hour,
		lines: map[string]hint{}, pending: map[string]bool{}, wanted: make(chan string, 64)}
}

// Line returns role's usage line, or "" when there is none yet or the
// history is too short (suggest.MinHistory). A missing or stale line is
// queued for Run; Line never blocks, and a stale line is still returned
// until its replacement is ready.
func (h *Hints) Line(role string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	got, ok := h.lines[role]
	if (!ok || h.now().Sub(got.at) > h.TTL) && !h.pending[role] {
		select {
		case h.wanted <- role:
			h.pending[role] = true
		default: // the queue is full: a later request asks again
		}
	}
	return got.line
}

// Run computes queued lines, one role at a time, until ctx ends. A role
// whose history cannot be read keeps its old line and is asked for again
// by the next request.
func (h *Hints) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case role := <-h.wanted:
			line, err := h.compute(ctx, role)
			h.mu.Lock()
			delete(h.pending, role)
			if err == nil {
				h.lines[role] = hint{line, h.now()}
			}
			h.mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					h.logger.Warn("usage line for the approval DM", "role", role, "err", err)
				}
				continue
			}
			h.logger.Info("usage line ready", "role", role, "line", line)
		}
	}
}

func (h *Hints) compute(ctx context.Context, role string) (string, error) {
	past, err := Load(ctx, h.log, h.calls, role, Scan{Since: h.now().Add(-h.Window), Last: h.Last, Max: h.MaxScan})
	if err != nil {
		return "", err
	}
	return suggest.Build(role, 0, past).Line(), nil
}
