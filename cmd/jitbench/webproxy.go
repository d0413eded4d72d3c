package main

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// webCall is one Slack Web API call as the timing proxy saw it.
type webCall struct {
	method     string // e.g. chat.postMessage
	start, end time.Time
	// creds is the request ID whose credentials DM this call posts, or "".
	// The credentials themselves are never kept.
	creds string
}

// webProxy sits between the bot and the Slack fake's Web API and records
// when each call started and ended, so that the time the bot spends
// waiting on Slack can be told from its own.
type webProxy struct {
	srv *httptest.Server
	rp  *httputil.ReverseProxy

	mu       sync.Mutex
	calls    []webCall
	inFlight int
	last     time.Time // the last time a call started or ended
}

// requestIDPattern finds a request ID such as JIT-7K3QX2.
var requestIDPattern = regexp.MustCompile(`JIT-[2-9A-Z]{6}`)

// newWebProxy forwards to the fake's base API URL (ending in /api/).
func newWebProxy(apiURL string) *webProxy {
	target, _ := url.Parse(strings.TrimSuffix(apiURL, "/api/"))
	p := &webProxy{rp: httputil.NewSingleHostReverseProxy(target)}
	p.rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	// A call cut off by the bot's SIGKILL is expected, not worth a line.
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

// URL is the proxy's base URL; the bot's SLACK_API_URL is URL()+"/api/".
func (p *webProxy) URL() string { return p.srv.URL }

func (p *webProxy) Close() { p.srv.Close() }

func (p *webProxy) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p.mu.Lock()
	p.inFlight++
	p.last = start
	p.mu.Unlock()
	c := webCall{method: strings.TrimPrefix(r.URL.Path, "/api/"), start: start}
	if c.method == "chat.postMessage" {
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.creds = credentialsFor(r.Header.Get("Content-Type"), body)
	}
	p.rp.ServeHTTP(w, r)
	c.end = time.Now()
	p.mu.Lock()
	p.calls = append(p.calls, c)
	p.inFlight--
	p.last = c.end
	p.mu.Unlock()
}

// credentialsFor returns the request ID of a message that carries STS
// credentials (the requester's DM of a granted aws_sts request), or "".
func credentialsFor(contentType string, body []byte) string {
	text := string(body)
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(text); err == nil {
			text = v.Get("text") + v.Get("blocks")
		}
	}
	if !strings.Contains(text, "AWS_SESSION_TOKEN") {
		return ""
	}
	return requestIDPattern.FindString(text)
}

// Calls returns the calls recorded so far.
func (p *webProxy) Calls() []webCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]webCall(nil), p.calls...)
}

// Reset forgets the recorded calls.
func (p *webProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// quietFor reports whether no call is in flight and none has started or
// ended for d.
func (p *webProxy) quietFor(d time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inFlight == 0 && time.Since(p.last) >= d
}

// awsRequestID is the request ID AWS gave a call, as awsgrant reads it.
func awsRequestID(md middleware.Metadata) string {
	id, _ := awsmiddleware.GetRequestIDMetadata(md)
	return id
}
