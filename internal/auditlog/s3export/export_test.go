package s3export_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/auditlog/s3export"
	"github.com/jitbot/jitbot/internal/testenv"
)

const (
	bucket    = "jit-audit"
	prefix    = "jitbot/audit"
	cursorKey = "{jitbot}:audit:s3cursor"
)

// world is what outlives a jitbot process: Redis, and S3 (moto) behind a
// recording fault proxy.
type world struct {
	redis *testenv.Redis
	proxy *testenv.Proxy
}

func newWorld(t *testing.T) *world {
	t.Helper()
	t.Parallel() // moto takes seconds to start; start the tests' servers together
	w := &world{redis: testenv.StartRedis(t), proxy: testenv.StartProxy(t, testenv.StartMoto(t).URL())}
	if _, err := w.s3(t).CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	w.proxy.Reset()
	return w
}

// s3 is a new S3 client through the proxy; moto's S3 needs path-style
// addressing, as bucket.127.0.0.1 does not resolve.
func (w *world) s3(t *testing.T) *s3.Client {
	return s3.NewFromConfig(testenv.AWSConfig(t, w.proxy.URL()), func(o *s3.Options) { o.UsePathStyle = true })
}

// process is one jitbot process's view of the world: its own clients.
type process struct {
	log    *auditlog.Log
	cursor *s3export.RedisCursor
	exp    *s3export.Exporter
}

// start starts a process; cursor, if not nil, wraps the Redis cursor.
func (w *world) start(t *testing.T, wrap func(s3export.Cursor) s3export.Cursor) *process {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: w.redis.Addr()})
	t.Cleanup(func() { rc.Close() })
	p := &process{log: auditlog.New(rc, "jitbot", nil), cursor: s3export.NewRedisCursor(rc, cursorKey)}
	var c s3export.Cursor = p.cursor
	if wrap != nil {
		c = wrap(c)
	}
	p.exp = s3export.New(p.log, c, w.s3(t), bucket, prefix, nil)
	return p
}

// fill appends n entries built by hand and returns the whole log.
func (p *process) fill(t *testing.T, n int) []auditlog.Stored {
	t.Helper()
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := range n {
		_, err := p.log.Append(t.Context(), auditlog.Entry{
			Type: "requested", At: base.Add(time.Duration(i) * time.Second),
			RequestID: fmt.Sprintf("JIT-%05d", i), Requester: "UALICE", Role: "prod-readonly",
			Reason: "fixing INC-42 replica lag",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := p.log.Read(t.Context(), "-", 0)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// puts counts the PutObject calls S3 answered with success.
func (w *world) puts() int {
	n := 0
	for _, c := range w.proxy.Calls("") {
		if c.Params.Get("x-id") == "PutObject" && c.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// object is one exported object, read back raw.
type object struct {
	key  string
	meta map[string]string
	typ  string
	body []byte
}

// objects lists and reads every exported object, in key order.
func (w *world) objects(t *testing.T) []object {
	t.Helper()
	c := w.s3(t)
	list, err := c.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	for _, o := range list.Contents {
		got, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, object{key: *o.Key, meta: got.Metadata, typ: aws.ToString(got.ContentType), body: body})
	}
	if !slices.IsSortedFunc(out, func(a, b object) int { return strings.Compare(a.key, b.key) }) {
		t.Fatal("S3 did not list keys in order")
	}
	return out
}

// concatenation is the objects' lines in key order, as `jitbot audit
// verify --file` reads a file made by concatenating the objects.
func concatenation(objs []object) []auditlog.Stored {
	var out []auditlog.Stored
	for _, o := range objs {
		for line := range bytes.Lines(o.body) {
			out = append(out, auditlog.Stored{Raw: bytes.TrimSuffix(line, []byte("\n"))})
		}
	}
	return out
}

// mustBeWhole checks that the objects hold exactly the log: every entry
// once, in order, with an intact chain, both as ReadAll reassembles it and
// as a plain concatenation of the objects.
func (w *world) mustBeWhole(t *testing.T, want []auditlog.Stored) {
	t.Helper()
	got, err := s3export.ReadAll(t.Context(), w.s3(t), bucket, prefix)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("ReadAll returned %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Fatalf("entry %d from S3 is\n%s\nwant\n%s", i+1, got[i].Raw, want[i].Raw)
		}
	}
	last := want[len(want)-1].Entry
	if _, br := auditlog.Verify(got, last.Seq, last.Hash); br != nil {
		t.Fatalf("the chain read back from S3 does not verify: %v", br)
	}
	cat := concatenation(w.objects(t))
	if len(cat) != len(want) {
		t.Fatalf("the objects hold %d lines for %d entries: an entry is missing or exported twice", len(cat), len(want))
	}
	if _, br := auditlog.Verify(cat, last.Seq, last.Hash); br != nil {
		t.Fatalf("the objects concatenated in key order do not verify: %v", br)
	}
}

func TestExportWritesBatchesThatVerify(t *testing.T) {
	w := newWorld(t)
	p := w.start(t, nil)
	all := p.fill(t, 1200)

	n, err := p.exp.ExportOnce(t.Context())
	if err != nil || n != 1200 {
		t.Fatalf("ExportOnce = %d, %v; want 1200 entries", n, err)
	}
	objs := w.objects(t)
	if len(objs) != 3 {
		t.Fatalf("%d objects, want 3 of at most 500 entries", len(objs))
	}
	for i, o := range objs {
		first, last := all[i*500], all[min(i*500+499, len(all)-1)]
		day := time.UnixMilli(mustMillis(t, first.StreamID)).UTC().Format("2006/01/02")
		if !strings.HasPrefix(o.key, prefix+"/"+day+"/") || !strings.HasSuffix(o.key, ".jsonl") {
			t.Errorf("key %q is not %s/%s/<first>-<last>.jsonl", o.key, prefix, day)
		}
		if o.typ != "application/x-ndjson" {
			t.Errorf("%s: content type %q", o.key, o.typ)
		}
		wantMeta := map[string]string{
			"first-seq": fmt.Sprint(first.Entry.Seq), "last-seq": fmt.Sprint(last.Entry.Seq), "last-hash": last.Entry.Hash,
		}
		for k, v := range wantMeta {
			if o.meta[k] != v {
				t.Errorf("%s: metadata %s = %q, want %q", o.key, k, o.meta[k], v)
			}
		}
	}
	w.mustBeWhole(t, all)

	puts := w.puts()
	if n, err := p.exp.ExportOnce(t.Context()); err != nil || n != 0 || w.puts() != puts {
		t.Errorf("a second export with nothing new = %d, %v, with %d more puts; want nothing", n, err, w.puts()-puts)
	}
}

func mustMillis(t *testing.T, id string) int64 {
	t.Helper()
	var ms, seq int64
	if _, err := fmt.Sscanf(id, "%d-%d", &ms, &seq); err != nil {
		t.Fatalf("stream ID %q: %v", id, err)
	}
	return ms
}

func TestFreshExporterResumesAtTheCursor(t *testing.T) {
	w := newWorld(t)
	first := w.start(t, nil)
	first.fill(t, 700)
	if n, err := first.exp.ExportOnce(t.Context()); err != nil || n != 700 {
		t.Fatalf("first export = %d, %v; want 700", n, err)
	}
	all := first.fill(t, 300)

	w.proxy.Reset()
	second := w.start(t, nil) // a restarted jitbot: new clients, same Redis and bucket
	n, err := second.exp.ExportOnce(t.Context())
	if err != nil || n != 300 {
		t.Fatalf("export after restart = %d, %v; want only the 300 new entries", n, err)
	}
	if w.puts() != 1 {
		t.Errorf("%d objects put after the restart, want 1", w.puts())
	}
	if objs := w.objects(t); len(objs) != 3 {
		t.Errorf("%d objects, want 3 (500 + 200, then 300)", len(objs))
	}
	w.mustBeWhole(t, all)
}

// onSet calls hook after each successful Set.
type onSet struct {
	s3export.Cursor
	hook func()
}

func (c onSet) Set(ctx context.Context, id string) error {
	err := c.Cursor.Set(ctx, id)
	if err == nil {
		c.hook()
	}
	return err
}

func TestRestartMidExportLeavesNoGapsOrDuplicates(t *testing.T) {
	tests := []struct {
		name string
		// stop ends the first process's export after its first object.
		stop func(w *world, cancel context.CancelFunc)
	}{
		{name: "S3 outage", stop: func(w *world, _ context.CancelFunc) { w.proxy.Fail(true) }},
		{name: "process stopped", stop: func(_ *world, cancel context.CancelFunc) { cancel() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var once sync.Once
			first := w.start(t, func(c s3export.Cursor) s3export.Cursor {
				return onSet{c, func() { once.Do(func() { tt.stop(w, cancel) }) }}
			})
			all := first.fill(t, 1200)

			n, err := first.exp.ExportOnce(ctx)
			if err == nil || n != 500 {
				t.Fatalf("interrupted export = %d, %v; want 500 and an error", n, err)
			}
			if cur, _ := first.cursor.Get(t.Context()); cur != all[499].StreamID {
				t.Fatalf("cursor at %q, want %q (the first object's last entry)", cur, all[499].StreamID)
			}

			w.proxy.Fail(false)
			second := w.start(t, nil)
			if n, err := second.exp.ExportOnce(t.Context()); err != nil || n != 700 {
				t.Fatalf("export after restart = %d, %v; want the other 700", n, err)
			}
			if objs := w.objects(t); len(objs) != 3 {
				t.Errorf("%d objects, want 3", len(objs))
			}
			w.mustBeWhole(t, all)
		})
	}
}

// failSetOnce is a cursor whose first Set fails, as if jitbot died between
// the put and the cursor update.
type failSetOnce struct {
	s3export.Cursor
	failed bool
}

func (c *failSetOnce) Set(ctx context.Context, id string) error {
	if !c.failed {
		c.failed = true
		return errors.New("redis went away")
	}
	return c.Cursor.Set(ctx, id)
}

func TestCrashBetweenPutAndCursorReputsTheSameObject(t *testing.T) {
	t.Run("restarted process", func(t *testing.T) {
		w := newWorld(t)
		first := w.start(t, func(c s3export.Cursor) s3export.Cursor { return &failSetOnce{Cursor: c} })
		all := first.fill(t, 600)
		if n, err := first.exp.ExportOnce(t.Context()); err == nil || n != 0 {
			t.Fatalf("export whose cursor update failed = %d, %v; want 0 and an error", n, err)
		}
		if cur, _ := first.cursor.Get(t.Context()); cur != "" {
			t.Fatalf("cursor moved to %q without a successful Set", cur)
		}
		before := w.objects(t)
		if len(before) != 1 {
			t.Fatalf("%d objects after the first put, want 1", len(before))
		}

		second := w.start(t, nil)
		if n, err := second.exp.ExportOnce(t.Context()); err != nil || n != 600 {
			t.Fatalf("export after restart = %d, %v; want 600 (the first batch again, at least once)", n, err)
		}
		if w.puts() != 3 {
			t.Errorf("%d puts, want 3: the first batch twice, then the rest", w.puts())
		}
		after := w.objects(t)
		if len(after) != 2 || after[0].key != before[0].key {
			t.Errorf("objects %v, want the first one overwritten at %s and one more", keys(after), before[0].key)
		}
		w.mustBeWhole(t, all)
	})

	// Entries appended before the retry would make a longer tail batch;
	// the exporter still re-puts the batch it had put, not a second copy.
	t.Run("retry with new entries", func(t *testing.T) {
		w := newWorld(t)
		p := w.start(t, func(c s3export.Cursor) s3export.Cursor { return &failSetOnce{Cursor: c} })
		p.fill(t, 100)
		if _, err := p.exp.ExportOnce(t.Context()); err == nil {
			t.Fatal("export whose cursor update failed returned no error")
		}
		before := w.objects(t)
		all := p.fill(t, 50)
		if n, err := p.exp.ExportOnce(t.Context()); err != nil || n != 150 {
			t.Fatalf("retry = %d, %v; want 150", n, err)
		}
		after := w.objects(t)
		if len(before) != 1 || len(after) != 2 || after[0].key != before[0].key {
			t.Errorf("objects %v then %v, want the first re-put at the same key and one for the 50 new entries", keys(before), keys(after))
		}
		w.mustBeWhole(t, all)
	})
}

func keys(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.key)
	}
	return out
}

func TestEmptyLogExportsNothing(t *testing.T) {
	w := newWorld(t)
	p := w.start(t, nil)
	n, err := p.exp.ExportOnce(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("ExportOnce of an empty log = %d, %v", n, err)
	}
	if calls := w.proxy.Calls(""); len(calls) != 0 {
		t.Errorf("%d S3 calls for an empty log, want none", len(calls))
	}
	if cur, _ := p.cursor.Get(t.Context()); cur != "" {
		t.Errorf("cursor %q, want none", cur)
	}
}

func TestS3ErrorKeepsTheCursor(t *testing.T) {
	w := newWorld(t)
	p := w.start(t, nil)
	done := p.fill(t, 10)
	if n, err := p.exp.ExportOnce(t.Context()); err != nil || n != 10 {
		t.Fatalf("ExportOnce = %d, %v", n, err)
	}
	all := p.fill(t, 10)

	w.proxy.Fail(true)
	n, err := p.exp.ExportOnce(t.Context())
	if err == nil || n != 0 || !strings.Contains(err.Error(), "put audit entries 11-20") {
		t.Fatalf("ExportOnce during an outage = %d, %v; want 0 and the put's error", n, err)
	}
	if cur, _ := p.cursor.Get(t.Context()); cur != done[9].StreamID {
		t.Fatalf("cursor at %q after a failed put, want %q", cur, done[9].StreamID)
	}

	w.proxy.Fail(false)
	if n, err := p.exp.ExportOnce(t.Context()); err != nil || n != 10 {
		t.Fatalf("ExportOnce after the outage = %d, %v; want the 10 new entries", n, err)
	}
	w.mustBeWhole(t, all)
}

func TestRunExportsNewEntriesAndStops(t *testing.T) {
	w := newWorld(t)
	p := w.start(t, nil)
	all := p.fill(t, 3)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.exp.Run(ctx, 20*time.Millisecond) }()

	waitCursor(t, p, all[2].StreamID) // exported at start
	all = p.fill(t, 4)
	waitCursor(t, p, all[6].StreamID) // and on a later round
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v when its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	w.mustBeWhole(t, all)
}

func waitCursor(t *testing.T, p *process, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, err := p.cursor.Get(t.Context())
		if err == nil && cur == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cursor at %q (err %v), want %q", cur, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadAllRefusesTwoDifferentEntriesWithOneSeq(t *testing.T) {
	w := newWorld(t)
	p := w.start(t, nil)
	all := p.fill(t, 3)
	if _, err := p.exp.ExportOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A forged copy of entry 2 in an object of its own.
	forged := bytes.Replace(all[1].Raw, []byte("fixing INC-42"), []byte("routine check"), 1)
	_, err := w.s3(t).PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(prefix + "/9999/12/31/forged.jsonl"), Body: bytes.NewReader(append(forged, '\n')),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s3export.ReadAll(t.Context(), w.s3(t), bucket, prefix)
	if err == nil || !strings.Contains(err.Error(), "forged.jsonl line 1: entry 2 differs") {
		t.Fatalf("ReadAll = %v, want the conflicting entry 2 named", err)
	}
}
