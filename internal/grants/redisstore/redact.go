package redisstore

import (
	"errors"
	"net/url"
	"strings"
)

// secretParams are the query options of a Redis URL that hold passwords.
var secretParams = []string{"password", "sentinel_password"}

// redact hides the passwords in a URL so it can go into an error message:
// the password of the userinfo (a lone userinfo may be a password given
// without a user name) and the values of secretParams.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.Contains(raw, "@") || strings.Contains(raw, "password") {
			return "(unparseable URL)"
		}
		return raw
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, _, hasPassword := strings.Cut(authority[:at], ":")
		if !hasPassword {
			user = ""
		}
		authority = user + ":xxxxx" + authority[at:]
	}
	path, query, hasQuery := strings.Cut(tail, "?")
	if !hasQuery {
		return scheme + "://" + authority + path
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, _, _ := strings.Cut(p, "="); isSecretParam(k) {
			params[i] = k + "=xxxxx"
		}
	}
	return scheme + "://" + authority + path + "?" + strings.Join(params, "&")
}

func isSecretParam(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	for _, s := range secretParams {
		if strings.EqualFold(key, s) {
			return true
		}
	}
	return false
}

// secrets returns the passwords raw holds, as written and unescaped: the
// userinfo's and the values of secretParams.
func secrets(raw string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if u, err := url.PathUnescape(s); err == nil && u != s && u != "" {
			out = append(out, u)
		}
		if u, err := url.QueryUnescape(s); err == nil && u != s && u != "" {
			out = append(out, u)
		}
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		rest = raw
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, password, hasPassword := strings.Cut(authority[:at], ":")
		if hasPassword {
			add(password)
		} else {
			add(user)
		}
	}
	_, query, _ := strings.Cut(tail, "?")
	for p := range strings.SplitSeq(query, "&") {
		if k, v, _ := strings.Cut(p, "="); isSecretParam(k) {
			add(v)
		}
	}
	return out
}

// scrubbed is an error of the parse and open path with every password of
// the URL replaced, wherever go-redis or net/url quoted it.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// scrub returns err with the passwords of raw hidden from its message.
// Errors are built from the redacted URL already; this catches what a
// library quotes of the value it could not use.
func scrub(raw string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets(raw) {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

// redactErr strips the URL from net/url's errors, which quote it whole,
// password included.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
