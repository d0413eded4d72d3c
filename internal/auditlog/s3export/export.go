// Package s3export copies the durable audit log to S3 in batches, so that
// a team can keep it under Object Lock and feed it to its SIEM. Export is
// at-least-once: the cursor (the stream ID of the last entry exported)
// moves only after S3 has accepted the object, so a crash re-exports a
// batch but never skips one, and a restarted exporter resumes at the
// cursor.
//
// Objects are named
//
//	<prefix>/<yyyy>/<mm>/<dd>/<first>-<last>.jsonl
//
// where first and last are the stream IDs of the batch's first and last
// entries, written with fixed-width numbers so that key order is log order
// (1795428000000-00000000000000000009), and the date is the first entry's
// stream time (UTC). Each body
// holds the entries' JSON exactly as stored, one per line, so the
// concatenation of the objects in key order is a file that
// `jitbot audit verify --file` accepts.
//
// Keys are deterministic: a batch exported twice lands on the same key and
// overwrites an identical object. Only when a crash falls between a put
// and the cursor update, and new entries arrive before the restart, can
// the re-export cut the batch differently; the log then holds the same
// entries twice, byte for byte (same seq, same hash), in two objects.
// Readers de-duplicate by seq, as ReadAll does.
package s3export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/jitbot/jitbot/internal/auditlog"
)

// BatchSize is the most entries one object holds. 500 entries of a few KB
// each make objects of a megabyte or two: small enough for one PutObject
// and for a SIEM to read in one go, large enough that a busy day makes
// tens of objects, not thousands.
const BatchSize = 500

// Metadata keys of each object (sent as x-amz-meta-…), so a reader can
// check that objects chain to each other without reading their bodies.
const (
	MetaFirstSeq = "first-seq"
	MetaLastSeq  = "last-seq"
	MetaLastHash = "last-hash"
)

// Cursor remembers the stream ID of the last entry exported. Get returns
// "" when nothing has been exported yet.
type Cursor interface {
	Get(ctx context.Context) (string, error)
	Set(ctx context.Context, streamID string) error
}

// Exporter copies the audit log to S3. Its methods may be called from
// several goroutines; one export runs at a time.
type Exporter struct {
	log    *auditlog.Log
	cursor Cursor
	s3     *s3.Client
	bucket string
	prefix string
	logger *slog.Logger

	mu sync.Mutex
	// redo is the batch last sent to S3 whose cursor update has not
	// happened (the put or the Set failed). The next export cuts its first
	// batch the same way, so it overwrites the same object even if entries
	// were appended in between, instead of adding a second, longer one.
	redo struct {
		after string // cursor the batch followed
		count int64  // entries in it; 0: none pending
	}
}

// New returns an exporter of log to bucket under prefix ("" for the
// bucket's root; a trailing slash is ignored). logger may be nil.
func New(log *auditlog.Log, cursor Cursor, client *s3.Client, bucket, prefix string, logger *slog.Logger) *Exporter {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Exporter{
		log: log, cursor: cursor, s3: client, bucket: bucket,
		prefix: strings.Trim(prefix, "/"), logger: logger,
	}
}

// Run exports at once and then every interval until ctx ends, when it
// returns nil. A failed export is logged and retried on the next round;
// the cursor makes the retry start where the failure stopped.
func (e *Exporter) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := e.ExportOnce(ctx); err != nil && ctx.Err() == nil {
			e.logger.Error("audit export to S3 failed; will try again", "bucket", e.bucket, "exported", n, "err", err, "retry_in", every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ExportOnce exports every entry after the cursor, in objects of at most
// BatchSize entries, and returns how many entries it exported. It stops
// at the first error, with the cursor after the last object S3 accepted.
func (e *Exporter) ExportOnce(ctx context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur, err := e.cursor.Get(ctx)
	if err != nil {
		return 0, fmt.Errorf("read audit export cursor: %w", err)
	}
	n := 0
	for {
		start := "-"
		if cur != "" {
			if start, err = nextID(cur); err != nil {
				return n, fmt.Errorf("audit export cursor: %w", err)
			}
		}
		limit := int64(BatchSize)
		if e.redo.count > 0 && e.redo.after == cur {
			limit = e.redo.count
		}
		batch, err := e.log.Read(ctx, start, limit)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		last := batch[len(batch)-1]
		e.redo.after, e.redo.count = cur, int64(len(batch))
		key, err := e.put(ctx, batch)
		if err != nil {
			return n, err
		}
		if err := e.cursor.Set(ctx, last.StreamID); err != nil {
			return n, fmt.Errorf("move audit export cursor to %s after putting %s: %w", last.StreamID, key, err)
		}
		e.redo.count = 0
		cur = last.StreamID
		n += len(batch)
		e.logger.Info("audit entries exported to S3", "bucket", e.bucket, "key", key, "entries", len(batch),
			"first_seq", batch[0].Entry.Seq, "last_seq", last.Entry.Seq)
	}
}

// put writes one batch as one object and returns its key.
func (e *Exporter) put(ctx context.Context, batch []auditlog.Stored) (string, error) {
	first, last := batch[0], batch[len(batch)-1]
	key, err := objectKey(e.prefix, first.StreamID, last.StreamID)
	if err != nil {
		return "", err
	}
	var body bytes.Buffer
	for _, s := range batch {
		body.Write(s.Raw)
		body.WriteByte('\n')
	}
	_, err = e.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(e.bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body.Bytes()),
		ContentType: aws.String("application/x-ndjson"),
		// A checksum on every put: S3 refuses puts without one into a
		// bucket with Object Lock retention, and it proves the evidence
		// arrived intact.
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		Metadata: map[string]string{
			MetaFirstSeq: strconv.FormatInt(first.Entry.Seq, 10),
			MetaLastSeq:  strconv.FormatInt(last.Entry.Seq, 10),
			MetaLastHash: last.Entry.Hash,
		},
	})
	if err != nil {
		return "", fmt.Errorf("put audit entries %d-%d to s3://%s/%s: %w", first.Entry.Seq, last.Entry.Seq, e.bucket, key, err)
	}
	return key, nil
}

// objectKey names the object of the batch from first to last (stream
// IDs). The stream IDs are written with fixed-width numbers, because
// Redis's own form does not sort: "…-10" comes before "…-9" as text, and
// when the server clock stands still or goes back, Redis keeps the
// millisecond and counts up the second number. Fixed width makes key
// order the log's order. The date is the first ID's, not the entry's At:
// stream IDs never go back, so neither do the dates.
func objectKey(prefix, first, last string) (string, error) {
	fms, fn, err := parseID(first)
	if err != nil {
		return "", err
	}
	lms, ln, err := parseID(last)
	if err != nil {
		return "", err
	}
	day := time.UnixMilli(int64(fms)).UTC().Format("2006/01/02")
	name := fmt.Sprintf("%s/%013d-%020d-%013d-%020d.jsonl", day, fms, fn, lms, ln)
	if prefix == "" {
		return name, nil
	}
	return prefix + "/" + name, nil
}

// parseID splits a Redis stream ID <ms>-<n>.
func parseID(id string) (ms, n uint64, err error) {
	a, b, ok := strings.Cut(id, "-")
	if ok {
		if ms, err = strconv.ParseUint(a, 10, 64); err == nil {
			n, err = strconv.ParseUint(b, 10, 64)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("%q is not a stream ID <ms>-<n>", id)
	}
	return ms, n, nil
}

// nextID is the smallest stream ID after id, so that XRANGE from it
// excludes id itself; computed here rather than with XRANGE's "(id" form,
// which needs Redis 6.2.
func nextID(id string) (string, error) {
	ms, n, err := parseID(id)
	if err != nil {
		return "", err
	}
	if n == ^uint64(0) {
		if ms == ^uint64(0) {
			return "", errors.New("cursor " + id + " is the last possible stream ID")
		}
		return strconv.FormatUint(ms+1, 10) + "-0", nil
	}
	return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(n+1, 10), nil
}
