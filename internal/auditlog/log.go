package auditlog

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/grants/redisstore"
)

// Log is the audit stream in Redis:
//
//	{<prefix>}:audit        STREAM  field e = an Entry's JSON, in chain order
//	{<prefix>}:audit:head   STRING  "<seq> <hash>" of the last entry
//	{<prefix>}:audit:ev:<request>#<note>  STRING  the fingerprint of a
//	                        journaled event (eventPrint), for a day, so an
//	                        event handed over twice is appended once
//
// Both keys share the store's hash tag, so the append script works on
// Cluster. Appends from several replicas are serialised by compare-and-set
// on the head, so the chain never forks.
type Log struct {
	client redis.UniversalClient
	stream string
	head   string
	log    *slog.Logger
	key    []byte // chains new entries with HMAC-SHA256; nil: plain SHA-256
	w      *writer
}

// writer serialises this process's appends and remembers the head its
// last one left. The chain admits one append at a time anyway: workers of
// one process racing each other through compare-and-set retried each
// other to a crawl (a burst of 1,000 revocations drained at 140 a
// second). Now only another replica's append costs a retry, and an
// uncontended append is one round trip, not two.
type writer struct {
	mu   sync.Mutex
	head string // the head as of this process's last append
	ok   bool   // head is worth trying
}

// WithKey returns the log chaining the entries it appends with an
// HMAC-SHA256 under key (JIT_SIGNING_KEY). The key must never be stored
// in Redis: it is what keeps a Redis writer from re-chaining the log.
func (l *Log) WithKey(key []byte) *Log {
	c := *l
	c.key = key
	return &c
}

// New returns the audit log under prefix (the JIT_REDIS_PREFIX). log, if
// not nil, receives one `audit` record per entry: the log sink.
func New(client redis.UniversalClient, prefix string, log *slog.Logger) *Log {
	tag := redisstore.KeyTag(prefix)
	return &Log{client: client, stream: tag + ":audit", head: tag + ":audit:head", log: log, w: &writer{}}
}

// appendScript adds an entry if the head is still what the caller chained
// it to, and moves the head, in one step. With an event key (KEYS[3],
// ARGV[4] its lifetime in ms) it appends nothing if the key exists, and
// sets it otherwise. The key holds the event's fingerprint (ARGV[5]): only
// the same event keeps itself out, not another one that a Redis writer or
// a replayed record numbered alike.
var appendScript = redis.NewScript(`
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[5] then
	return 'appended before'
end
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then
	return false
end
local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
if ARGV[4] ~= '' then
	redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[4])
end
return id
`)

// eventKeyTTL is how long an event's key keeps a second hand-over of it
// out of the log. Hand-overs repeat within seconds (JournalGrace) unless
// every replica is down.
const eventKeyTTL = 24 * time.Hour

// ErrAppended is returned by AppendEvent for an event already in the log.
var ErrAppended = errors.New("audit entry of this event appended before")

// Append chains en to the log and returns it as stored (with Seq, Prev,
// Hash).
func (l *Log) Append(ctx context.Context, en Entry) (Entry, error) {
	return l.append(ctx, en, "", "")
}

// AppendEvent appends the entry of the journaled event e once: when e was
// appended before it returns ErrAppended. Events that are not journaled
// (e.Note == 0) are appended every time.
func (l *Log) AppendEvent(ctx context.Context, e grants.Event) (Entry, error) {
	key, print := "", ""
	if e.Note > 0 {
		key = l.stream + ":ev:" + string(e.Request.ID) + "#" + strconv.Itoa(e.Note)
		print = l.eventPrint(e)
	}
	return l.append(ctx, FromEvent(e), key, print)
}

// eventPrint names one journaled event: the same event handed over again
// has the same one (its note carries type, time and actor), and under the
// signing key nobody without it can compute one to set ahead of the event.
func (l *Log) eventPrint(e grants.Event) string {
	msg := fmt.Sprintf("jitbot-audit-event-v1|%s|%d|%s|%d|%s", e.Request.ID, e.Note, e.Type, e.At.UnixNano(), e.Actor)
	if l.key == nil {
		h := sha256.Sum256([]byte(msg))
		return hex.EncodeToString(h[:])
	}
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func (l *Log) append(ctx context.Context, en Entry, eventKey, print string) (Entry, error) {
	ttl := ""
	if eventKey != "" {
		ttl = strconv.FormatInt(eventKeyTTL.Milliseconds(), 10)
	} else {
		eventKey = l.head // a key of the same slot, never read
	}
	en, body, err := l.chain(ctx, en, eventKey, ttl, print)
	if err == nil && l.log != nil {
		l.log.Info("audit", "entry", json.RawMessage(body))
	}
	return en, err
}

// chain appends en after the head under the process's append lock and
// returns it with its body.
func (l *Log) chain(ctx context.Context, en Entry, eventKey, ttl, print string) (Entry, []byte, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	for attempt := 0; attempt < 100; attempt++ {
		head, err := l.currentHead(ctx)
		if err != nil {
			return Entry{}, nil, err
		}
		seq, prev, err := parseHead(head)
		if err != nil {
			return Entry{}, nil, err
		}
		en.Seq, en.Prev, en.Hash, en.Keyed = seq+1, prev, "", l.key != nil
		en.Hash = en.sum(l.key)
		body, err := json.Marshal(en)
		if err != nil {
			return Entry{}, nil, err
		}
		next := strconv.FormatInt(en.Seq, 10) + " " + en.Hash
		res, err := appendScript.Run(ctx, l.client, []string{l.stream, l.head, eventKey}, head, body, next, ttl, print).Result()
		if errors.Is(err, redis.Nil) {
			l.w.ok = false
			continue // another replica appended first: chain to its entry
		}
		if err != nil {
			l.w.ok = false
			return Entry{}, nil, fmt.Errorf("append audit entry: %w", err)
		}
		if res == "appended before" {
			return Entry{}, nil, ErrAppended
		}
		l.w.head, l.w.ok = next, true
		return en, body, nil
	}
	return Entry{}, nil, errors.New("append audit entry: the head kept moving")
}

// currentHead is the head to chain to: the one this process's last append
// left, or else the one in Redis. l.w.mu is held.
func (l *Log) currentHead(ctx context.Context) (string, error) {
	if l.w.ok {
		return l.w.head, nil
	}
	head, err := l.client.Get(ctx, l.head).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("read audit head: %w", err)
	}
	return head, nil
}

func parseHead(head string) (seq int64, hash string, err error) {
	if head == "" {
		return 0, "", nil
	}
	s, h, ok := strings.Cut(head, " ")
	n, perr := strconv.ParseInt(s, 10, 64)
	if !ok || perr != nil {
		return 0, "", fmt.Errorf("audit head %q is not <seq> <hash>", head)
	}
	return n, h, nil
}

// Notify appends the event, so the log is a grants.Notifier. It runs
// before the Slack notifiers and waits for Redis: the entry exists before
// anything is posted. A failed append is logged loudly; the domain goes on.
func (l *Log) Notify(ctx context.Context, e grants.Event) {
	_, err := l.AppendEvent(context.WithoutCancel(ctx), e)
	switch {
	case errors.Is(err, ErrAppended):
		if l.log != nil {
			l.log.Info("audit entry of a re-delivered event already written", "type", e.Type, "request_id", e.Request.ID, "note", e.Note)
		}
	case err != nil && l.log != nil:
		l.log.Error("AUDIT ENTRY NOT WRITTEN", "type", e.Type, "request_id", e.Request.ID, "err", err)
	}
}

// Stored is an entry with its stream ID.
type Stored struct {
	StreamID string
	Entry    Entry
	Raw      []byte // the JSON as stored
}

// Read returns the entries from the stream ID start ("-" for the first)
// on, at most count (0: all).
func (l *Log) Read(ctx context.Context, start string, count int64) ([]Stored, error) {
	var msgs []redis.XMessage
	var err error
	if count > 0 {
		msgs, err = l.client.XRangeN(ctx, l.stream, start, "+", count).Result()
	} else {
		msgs, err = l.client.XRange(ctx, l.stream, start, "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return storedOf(msgs), nil
}

// Back returns at most count entries (count > 0) before the stream ID end,
// newest first: end is "+" for the newest entry on, "(" + a StreamID for
// those before it. It reads the log backwards a page at a time.
func (l *Log) Back(ctx context.Context, end string, count int64) ([]Stored, error) {
	msgs, err := l.client.XRevRangeN(ctx, l.stream, end, "-", count).Result()
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return storedOf(msgs), nil
}

// storedOf decodes stream messages; an entry that does not parse is kept
// empty, with its raw JSON, for Verify to report.
func storedOf(msgs []redis.XMessage) []Stored {
	out := make([]Stored, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["e"].(string)
		s := Stored{StreamID: m.ID, Raw: []byte(raw)}
		if err := json.Unmarshal([]byte(raw), &s.Entry); err != nil {
			s.Entry = Entry{} // Verify reports it
		}
		out = append(out, s)
	}
	return out
}

// Since returns the entries at or after t.
// A zero t means from the first entry.
func (l *Log) Since(ctx context.Context, t time.Time) ([]Stored, error) {
	if t.IsZero() || t.UnixMilli() <= 0 {
		return l.Read(ctx, "-", 0)
	}
	return l.Read(ctx, strconv.FormatInt(t.UnixMilli(), 10), 0)
}

// Head returns the sequence number and hash of the last entry.
func (l *Log) Head(ctx context.Context) (int64, string, error) {
	head, err := l.client.Get(ctx, l.head).Result()
	if errors.Is(err, redis.Nil) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	return parseHead(head)
}
