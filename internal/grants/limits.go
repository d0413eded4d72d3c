package grants

import (
	"strings"
	"unicode/utf8"
)

// Limits on what a requester may write, from docs/design.md §2.2. All
// count runes.
const (
	MinReason   = 10
	MaxReason   = 500
	MaxIncident = 100
)

// Fit is how a requester's text measures against its limits.
type Fit int

const (
	Fits     Fit = iota
	TooShort     // under the minimum
	TooLong      // over the maximum
)

// MeasureReason measures a reason, trimmed of white space at its ends,
// against MinReason and MaxReason, and returns its length in runes for the
// message. The service and the /jit parser (internal/command) both ask it,
// so they refuse the same reasons; each words the refusal for where the
// user typed it.
func MeasureReason(reason string) (n int, fit Fit) {
	n = utf8.RuneCountInString(strings.TrimSpace(reason))
	switch {
	case n < MinReason:
		return n, TooShort
	case n > MaxReason:
		return n, TooLong
	}
	return n, Fits
}

// MeasureIncident measures an incident reference, trimmed of white space
// at its ends, against MaxIncident, like MeasureReason. No reference at all
// fits: the incident is optional.
func MeasureIncident(incident string) (n int, fit Fit) {
	n = utf8.RuneCountInString(strings.TrimSpace(incident))
	if n > MaxIncident {
		return n, TooLong
	}
	return n, Fits
}
