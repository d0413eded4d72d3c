package auditlog_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/auditlog"
)

var (
	keyOld = []byte("old-signing-key-0123456789abcdef-0000")
	keyNew = []byte("new-signing-key-0123456789abcdef-1111")
)

// TestKeyedChainAfterUnkeyedPrefix: a log written before the key existed
// and continued with it verifies with the key; a rotation verifies with
// the new key and the previous one; without the key, or with a wrong one,
// the keyed entries do not.
func TestKeyedChainAfterUnkeyedPrefix(t *testing.T) {
	l, _ := newLog(t)
	fill(t, l, 2)                            // before JIT_SIGNING_KEY
	fill(t, l.WithKey(keyOld), 2)            // then under a key
	entries := fill(t, l.WithKey(keyNew), 2) // and after a rotation
	seq, hash, err := l.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if entries[1].Entry.Keyed || !entries[2].Entry.Keyed {
		t.Fatalf("keyed flags: %v %v", entries[1].Entry.Keyed, entries[2].Entry.Keyed)
	}
	if n, br := auditlog.Verify(entries, seq, hash, keyNew, keyOld); br != nil || n != 6 {
		t.Errorf("verify with both keys: %d, %v", n, br)
	}
	tests := []struct {
		name string
		keys [][]byte
		at   int
	}{
		{name: "no key", keys: nil, at: 2},
		{name: "previous key missing", keys: [][]byte{keyNew}, at: 2},
		{name: "wrong key", keys: [][]byte{[]byte("wrong-signing-key-0123456789abcdef")}, at: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, br := auditlog.Verify(entries, seq, hash, tt.keys...)
			if br == nil || br.At != entries[tt.at].StreamID {
				t.Errorf("break %v, want at %s", br, entries[tt.at].StreamID)
			}
		})
	}
}

// TestDowngradeAfterKeyedEntryBreaks: an attacker re-chains the entries
// after a keyed one with plain SHA-256, which needs no key: the first
// unkeyed entry after a keyed one is the break.
func TestDowngradeAfterKeyedEntryBreaks(t *testing.T) {
	l, _ := newLog(t)
	entries := fill(t, l.WithKey(keyNew), 3)
	prev := entries[0].Entry.Hash
	for i := 1; i < len(entries); i++ {
		e := entries[i].Entry
		e.Prev = prev
		raw, err := auditlog.Rehash(mustJSON(t, e), nil)
		if err != nil {
			t.Fatal(err)
		}
		entries[i].Raw = raw
		prev = hashOf(t, raw)
		entries[i].Entry.Hash = prev
	}
	_, br := auditlog.Verify(entries, 3, prev, keyNew)
	if br == nil || br.At != entries[1].StreamID || !strings.Contains(br.Reason, "unkeyed entry after a keyed one") {
		t.Errorf("break %v, want the downgrade at %s", br, entries[1].StreamID)
	}
}

// TestCheckAnchorsNamesFirstMismatch: the lowest anchored entry that
// differs is named; a log shorter than its anchors is cut at the end.
func TestCheckAnchorsNamesFirstMismatch(t *testing.T) {
	l, _ := newLog(t)
	entries := fill(t, l.WithKey(keyNew), 3)
	good := []auditlog.Anchor{{Seq: 1, Hash: entries[0].Entry.Hash, Where: "a"}, {Seq: 3, Hash: entries[2].Entry.Hash, Where: "b"}}
	if br := auditlog.CheckAnchors(entries, good); br != nil {
		t.Errorf("matching anchors: %v", br)
	}
	bad := []auditlog.Anchor{{Seq: 3, Hash: "00", Where: "b"}, {Seq: 2, Hash: "00", Where: "a"}}
	if br := auditlog.CheckAnchors(entries, bad); br == nil || br.At != entries[1].StreamID {
		t.Errorf("break %v, want at %s", br, entries[1].StreamID)
	}
	if br := auditlog.CheckAnchors(entries[:2], good); br == nil || !strings.Contains(br.Reason, "entries at the end were deleted") {
		t.Errorf("cut log: %v", br)
	}
}

func mustJSON(t *testing.T, e auditlog.Entry) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hashOf(t *testing.T, raw []byte) string {
	t.Helper()
	var e auditlog.Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return e.Hash
}
