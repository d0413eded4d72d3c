package auditlog

import (
	"fmt"
	"regexp"
	"strconv"
)

// anchorPattern is the text of an anchor post in the audit channel: the
// head entry's seq and its chain value in full. FormatAnchor writes it,
// ParseAnchor reads it back; the rest of a message is not an anchor.
var anchorPattern = regexp.MustCompile(`^Audit anchor: entry ([1-9][0-9]{0,18}), hash ([0-9a-f]{64})$`)

// FormatAnchor is the audit channel post that anchors the entry seq with
// chain value hash.
func FormatAnchor(seq int64, hash string) string {
	return fmt.Sprintf("Audit anchor: entry %d, hash %s", seq, hash)
}

// ParseAnchor reads an anchor post; ok is false for any other text.
func ParseAnchor(text string) (seq int64, hash string, ok bool) {
	m := anchorPattern.FindStringSubmatch(text)
	if m == nil {
		return 0, "", false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return n, m[2], true
}
