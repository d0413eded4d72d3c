package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Rewrite makes every successful JSON answer to action (an X-Amz-Target
// operation) pass through fix before the caller sees it; nil stops it.
// It shows a caller what moto never says: an Identity Center assignment
// still IN_PROGRESS, one that FAILED, no instance or two.
func (p *Proxy) Rewrite(action string, fix func(body map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fix == nil {
		delete(p.rewrite, action)
		return
	}
	p.rewrite[action] = fix
}

// Hold makes calls of action wait at the proxy, unforwarded, until the
// returned release is called (or the caller gives up, or the proxy is
// closed): a process can be caught, and killed, in the middle of
// following an asynchronous AWS request. Held says how many wait.
func (p *Proxy) Hold(action string) (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.hold[action] = ch
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.hold[action] == ch {
			delete(p.hold, action)
			close(ch)
		}
	}
}

// injected is an AWS error the proxy answers the next n calls of an
// action with.
type injected struct {
	n      int
	status int
	code   string
}

// ErrorNext makes the proxy answer the next n calls of action itself,
// unforwarded, with the AWS error code (e.g. ConflictException) and HTTP
// status: what AWS says and moto never does.
func (p *Proxy) ErrorNext(action string, n, status int, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errNext[action] = injected{n: n, status: status, code: code}
}

// answerError answers r with the error ErrorNext set for action, if one
// is left, in the JSON protocols' form when r is one of theirs and in the
// query protocol's XML otherwise.
func (p *Proxy) answerError(w http.ResponseWriter, r *http.Request, action string) (status int, ok bool) {
	p.mu.Lock()
	inj := p.errNext[action]
	if inj.n > 0 {
		p.errNext[action] = injected{n: inj.n - 1, status: inj.status, code: inj.code}
	}
	p.mu.Unlock()
	if inj.n <= 0 {
		return 0, false
	}
	const msg = "injected by testenv.Proxy"
	if r.Header.Get("X-Amz-Target") != "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", inj.code)
		w.WriteHeader(inj.status)
		fmt.Fprintf(w, `{"__type":%q,"Message":%q}`, inj.code, msg)
		return inj.status, true
	}
	awsError(w, inj.status, "Sender", inj.code, msg, "proxy-fault")
	return inj.status, true
}

// Held is how many calls of action are waiting at the proxy now.
func (p *Proxy) Held(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held[action]
}

// wait blocks a call of action while it is held; false means the caller
// gave up or the proxy closed, and the call is not to be forwarded.
func (p *Proxy) wait(r *http.Request, action string) bool {
	p.mu.Lock()
	ch := p.hold[action]
	if ch == nil {
		p.mu.Unlock()
		return true
	}
	p.held[action]++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.held[action]--
		p.mu.Unlock()
	}()
	select {
	case <-ch:
		return true
	case <-r.Context().Done():
	case <-p.done:
	}
	return false
}

// modify is the reverse proxy's ModifyResponse: it applies the Rewrite
// of the answer's operation, if any.
func (p *Proxy) modify(resp *http.Response) error {
	target := resp.Request.Header.Get("X-Amz-Target")
	op := target[strings.LastIndex(target, ".")+1:]
	p.mu.Lock()
	fix := p.rewrite[op]
	p.mu.Unlock()
	if fix == nil || target == "" || resp.StatusCode != http.StatusOK {
		return nil
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read the answer to %s: %w", op, err)
	}
	body := map[string]any{}
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("decode the answer to %s: %w", op, err)
	}
	fix(body)
	if raw, err = json.Marshal(body); err != nil {
		return fmt.Errorf("encode the rewritten answer to %s: %w", op, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	resp.ContentLength = int64(len(raw))
	resp.Header.Set("Content-Length", strconv.Itoa(len(raw)))
	// The checksum is of moto's body, which the caller no longer gets.
	resp.Header.Del("X-Amz-Crc32")
	return nil
}
