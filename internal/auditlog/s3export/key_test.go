package s3export

import (
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/testenv"
)

// Keys must sort in the log's order, or a concatenation of the objects in
// key order would not verify.
func TestObjectKeysSortInStreamOrder(t *testing.T) {
	batches := [][2]string{
		{"1795427999999-0", "1795427999999-8"},
		{"1795427999999-9", "1795428000000-3"}, // Redis's form would sort "-10" before "-9"
		{"1795428000000-4", "1795428000000-9"},
		{"1795428000000-10", "1795428000000-99"},
		{"1795428000000-100", "1795428000001-0"},
		{"1795514400000-0", "1795514400000-0"}, // the next day
	}
	var keys []string
	for _, b := range batches {
		k, err := objectKey("audit", b[0], b[1])
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("keys do not sort in stream order:\n%q", keys)
	}
	if want := "audit/2026/11/23/1795427999999-00000000000000000000-1795427999999-00000000000000000008.jsonl"; keys[0] != want {
		t.Errorf("key %q, want %q", keys[0], want)
	}
	if k, _ := objectKey("", "1795428000000-0", "1795428000000-1"); k != "2026/11/23/1795428000000-00000000000000000000-1795428000000-00000000000000000001.jsonl" {
		t.Errorf("key without prefix %q", k)
	}
	if _, err := objectKey("audit", "bogus", "1-1"); err == nil {
		t.Error("a bad stream ID made a key")
	}
}

func TestNextIDIsJustAfter(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "same millisecond", in: "1795428000000-9", want: "1795428000000-10"},
		{name: "counter at its end", in: "1795428000000-18446744073709551615", want: "1795428000001-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := nextID(tt.in); err != nil || got != tt.want {
				t.Errorf("nextID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestRedisCursorOnlyMovesForward(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	cur := NewRedisCursor(c, "{jitbot}:audit:s3cursor")
	ctx := t.Context()
	if got, err := cur.Get(ctx); err != nil || got != "" {
		t.Fatalf("new cursor = %q, %v; want empty", got, err)
	}
	steps := []struct{ set, want string }{
		{set: "1795428000000-9", want: "1795428000000-9"},
		{set: "1795428000000-10", want: "1795428000000-10"}, // numerically after, though not as text
		{set: "1795428000000-2", want: "1795428000000-10"},  // a slower replica does not rewind it
		{set: "1795427999999-50", want: "1795428000000-10"},
		{set: "1795428000001-0", want: "1795428000001-0"},
	}
	for _, s := range steps {
		if err := cur.Set(ctx, s.set); err != nil {
			t.Fatal(err)
		}
		if got, _ := cur.Get(ctx); got != s.want {
			t.Errorf("after Set(%s) cursor = %s, want %s", s.set, got, s.want)
		}
	}
	if err := cur.Set(ctx, "not-an-id"); err == nil {
		t.Error("Set accepted a value that is no stream ID")
	}
}
