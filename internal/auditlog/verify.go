package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Break is where the chain is broken.
type Break struct {
	At     string // stream ID, or "line N" for an exported file
	Seq    int64  // the entry's own claim, if readable
	Reason string
}

func (b *Break) Error() string {
	return fmt.Sprintf("audit chain broken at %s: %s", b.At, b.Reason)
}

// Verify recomputes the chain over entries in order: each entry's hash
// over its canonical JSON, each link to the previous hash, consecutive
// sequence numbers from 1, and, when headSeq > 0, that the last entry is
// the head Redis recorded (so a deleted last entry shows too). It returns
// the number of entries checked and the first break, if any.
//
// A keyed entry verifies under any of keys (JIT_SIGNING_KEY, then
// JIT_SIGNING_KEY_PREVIOUS during a rotation). Unkeyed entries (plain
// SHA-256, written before the key existed) are accepted only as the
// prefix of the log: one after a keyed entry is a break, so nobody can
// downgrade part of a keyed log to hashes they can compute. Replacing the
// whole log by an unkeyed one is caught by the anchors (CheckAnchors).
func Verify(entries []Stored, headSeq int64, headHash string, keys ...[]byte) (int, *Break) {
	prev := ""
	var seq int64
	keyed := false
	for i, s := range entries {
		at := s.StreamID
		if at == "" {
			at = fmt.Sprintf("line %d", i+1)
		}
		var e Entry
		dec := json.NewDecoder(bytes.NewReader(s.Raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return i, &Break{At: at, Reason: "not an audit entry: " + err.Error()}
		}
		seq++
		switch {
		case e.Seq != seq:
			return i, &Break{At: at, Seq: e.Seq, Reason: fmt.Sprintf("sequence %d where %d was due: an entry was deleted, added or moved", e.Seq, seq)}
		case e.Prev != prev:
			return i, &Break{At: at, Seq: e.Seq, Reason: "it does not link to the entry before it: that entry was edited, deleted or moved"}
		case !e.Keyed && keyed:
			return i, &Break{At: at, Seq: e.Seq, Reason: "an unkeyed entry after a keyed one: it was re-chained without the signing key"}
		case e.Keyed && len(keys) == 0:
			return i, &Break{At: at, Seq: e.Seq, Reason: "a keyed entry, and no JIT_SIGNING_KEY to check it with"}
		case !e.Keyed && e.sum(nil) != e.Hash:
			return i, &Break{At: at, Seq: e.Seq, Reason: "its content does not match its hash: it was edited"}
		case e.Keyed && !e.macOK(keys):
			return i, &Break{At: at, Seq: e.Seq, Reason: "its content does not match its HMAC under JIT_SIGNING_KEY or JIT_SIGNING_KEY_PREVIOUS: it was edited, or chained under another key"}
		}
		keyed = keyed || e.Keyed
		prev = e.Hash
	}
	if headSeq > 0 && (seq != headSeq || prev != headHash) {
		return len(entries), &Break{At: fmt.Sprintf("after entry %d", seq), Seq: seq, Reason: fmt.Sprintf("the log ends at entry %d but Redis recorded %d entries: entries at the end were deleted", seq, headSeq)}
	}
	return len(entries), nil
}

func (e Entry) macOK(keys [][]byte) bool {
	for _, k := range keys {
		if len(k) > 0 && e.sum(k) == e.Hash {
			return true
		}
	}
	return false
}

// Anchor is an entry's seq and chain value recorded where a Redis writer
// cannot reach: an entry exported to S3, or an anchor post in the audit
// channel. Where names it for a Break.
type Anchor struct {
	Seq   int64
	Hash  string
	Where string
}

// CheckAnchors compares a log that Verify accepted with the anchors: the
// entry at each anchor's seq must carry the anchor's hash, and the log must
// reach the highest anchored seq. It returns the break at the lowest seq
// that does not match, naming the entry, or nil.
func CheckAnchors(entries []Stored, anchors []Anchor) *Break {
	var first *Break
	for _, a := range anchors {
		if first != nil && a.Seq >= first.Seq {
			continue
		}
		if a.Seq < 1 || a.Seq > int64(len(entries)) {
			first = &Break{At: fmt.Sprintf("after entry %d", len(entries)), Seq: a.Seq,
				Reason: fmt.Sprintf("the log ends at entry %d but %s anchors entry %d: entries at the end were deleted", len(entries), a.Where, a.Seq)}
			continue
		}
		s := entries[a.Seq-1]
		at := s.StreamID
		if at == "" {
			at = fmt.Sprintf("line %d", a.Seq)
		}
		if s.Entry.Hash != a.Hash {
			first = &Break{At: at, Seq: a.Seq,
				Reason: fmt.Sprintf("entry %d does not match its anchor in %s: the log was rewritten from here on", a.Seq, a.Where)}
		}
	}
	return first
}
