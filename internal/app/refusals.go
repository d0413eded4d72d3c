package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jitbot/jitbot/internal/workloadapi"
)

// refusalFold is the audit channel's window for refused workload tokens:
// at most one post a window tells of them.
const refusalFold = time.Minute

// refusalDigest tells the audit channel of refused workload tokens,
// folded: the first after a quiet window at once, every later one of the
// window in a single post when it closes. A flood of forged tokens then
// costs one Slack post a minute and never the channel's rate budget,
// which the grants' own events need. Each refusal is in the durable
// audit log on its own; the channel is where people notice.
type refusalDigest struct {
	every    time.Duration
	announce func(string)
	now      func() time.Time

	mu     sync.Mutex
	posted time.Time // the last post
	counts map[refusalKind]int
	total  int
}

// refusalKind is what a folded post counts refusals by.
type refusalKind struct{ ip, reason string }

// maxKinds bounds the lines of a folded post; maxReason the text of one.
const (
	maxKinds  = 8
	maxReason = 200
)

func newRefusalDigest(every time.Duration, announce func(string)) *refusalDigest {
	return &refusalDigest{every: every, announce: announce, now: time.Now, counts: map[refusalKind]int{}}
}

// add takes one refusal; it never blocks on Slack.
func (d *refusalDigest) add(r workloadapi.Refusal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now := d.now(); d.total == 0 && now.Sub(d.posted) >= d.every {
		d.posted = now
		d.announce(fmt.Sprintf("Workload API refused a token from %s on %s %s: %s. Every refusal is kept in the durable audit log (%s); more within %v are told in one message.",
			r.ClientIP, r.Method, cut(r.Path, maxReason), cut(r.Reason, maxReason), "token_refused", d.every))
		return
	}
	d.counts[refusalKind{ip: r.ClientIP, reason: cut(r.Reason, maxReason)}]++
	d.total++
}

// run posts the refusals folded at the end of each window, and those left
// when ctx is done.
func (d *refusalDigest) run(ctx context.Context) error {
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.flush()
			return nil
		case <-t.C:
			d.flush()
		}
	}
}

// flush posts the refusals folded since the last post, if any.
func (d *refusalDigest) flush() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.total == 0 {
		return
	}
	type line struct {
		refusalKind
		n int
	}
	lines := make([]line, 0, len(d.counts))
	for k, n := range d.counts {
		lines = append(lines, line{k, n})
	}
	slices.SortFunc(lines, func(a, b line) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.ip, b.ip), cmp.Compare(a.reason, b.reason))
	})
	var b strings.Builder
	fmt.Fprintf(&b, "Workload API refused %d more %s since %s (each is in the durable audit log as token_refused):",
		d.total, plural(d.total, "token", "tokens"), d.posted.UTC().Format(time.TimeOnly))
	for _, l := range lines[:min(len(lines), maxKinds)] {
		fmt.Fprintf(&b, "\n• %d from %s: %s", l.n, l.ip, l.reason)
	}
	if rest := len(lines) - maxKinds; rest > 0 {
		fmt.Fprintf(&b, "\n• and %d other kinds of refusal", rest)
	}
	d.announce(b.String())
	d.posted, d.total = d.now(), 0
	clear(d.counts)
}

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
