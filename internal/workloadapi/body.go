package workloadapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// requestBody is POST /v1/requests's body. Who asks is never in it: that
// is the token's.
type requestBody struct {
	Role     string `json:"role"`
	Duration string `json:"duration"` // jitbot's syntax ("30m", "1h30m", "1d"); "" for the role's default
	Reason   string `json:"reason"`
	Account  string `json:"account"`
}

// parsedRequest is a requestBody checked and with its duration parsed.
type parsedRequest struct {
	Role, Reason, Account string
	Duration              time.Duration // zero: the role's default_duration
}

// httpError is an error the API answers with its status and message.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// parseRequestBody reads one JSON object with only the known fields, a
// role and a reason, and nothing after it. A body cut short by
// http.MaxBytesReader is a 413, any other fault a 400 that says what to
// fix.
func parseRequestBody(r io.Reader) (parsedRequest, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var b requestBody
	if err := dec.Decode(&b); err != nil {
		return parsedRequest{}, bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if tooLarge(err) {
			return parsedRequest{}, bodyError(err)
		}
		return parsedRequest{}, badRequest("the body must be one JSON object and nothing after it")
	}
	b.Role, b.Reason, b.Account = strings.TrimSpace(b.Role), strings.TrimSpace(b.Reason), strings.TrimSpace(b.Account)
	if b.Role == "" {
		return parsedRequest{}, badRequest(`"role" is required: the name of the role to request`)
	}
	if b.Reason == "" {
		return parsedRequest{}, badRequest(`"reason" is required: say what the job needs the access for`)
	}
	p := parsedRequest{Role: b.Role, Reason: b.Reason, Account: b.Account}
	if b.Duration != "" {
		d, err := rules.ParseDuration(b.Duration)
		if err != nil {
			return parsedRequest{}, badRequest(`"duration": %v`, err)
		}
		if d == 0 {
			return parsedRequest{}, badRequest(`"duration" must be more than 0; leave it out for the role's default`)
		}
		p.Duration = d
	}
	return p, nil
}

// bodyError turns a decoding error into what the caller should fix.
func bodyError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case tooLarge(err):
		return &httpError{status: http.StatusRequestEntityTooLarge, msg: "the body is too large; a request is a few short strings"}
	case errors.Is(err, io.EOF):
		return badRequest(`the body is empty; send {"role": …, "reason": …}`)
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body is not valid JSON: %v", err)
	case errors.As(err, &typ):
		return badRequest("%q must be a string", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		// encoding/json has no type for it; its text names the field.
		return badRequest(`%s; the fields are "role", "duration", "reason" and "account"`, strings.TrimPrefix(err.Error(), "json: "))
	}
	return badRequest("the body is not a request: %v", err)
}

func tooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// parseWait reads GET's ?wait=, a Go duration; more than max is max, so a
// client asking for long polls gets the longest there is rather than an
// error.
func parseWait(r *http.Request, limit time.Duration) (time.Duration, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, badRequest("wait=%q is not a duration; use seconds, as in wait=60s", s)
	}
	return min(d, limit), nil
}
