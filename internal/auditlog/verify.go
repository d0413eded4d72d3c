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
func Verify(entries []Stored, headSeq int64, headHash string) (int, *Break) {
	prev := ""
	var seq int64
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
		case e.sum() != e.Hash:
			return i, &Break{At: at, Seq: e.Seq, Reason: "its content does not match its hash: it was edited"}
		}
		prev = e.Hash
	}
	if headSeq > 0 && (seq != headSeq || prev != headHash) {
		return len(entries), &Break{At: fmt.Sprintf("after entry %d", seq), Seq: seq, Reason: fmt.Sprintf("the log ends at entry %d but Redis recorded %d entries: entries at the end were deleted", seq, headSeq)}
	}
	return len(entries), nil
}
