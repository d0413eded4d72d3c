package testenv_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/testenv"
)

// echo is an upstream that answers 200 with the body it received.
func echo(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// post sends a query-protocol call and returns the status and body; a
// status of 0 means the connection failed.
func post(ctx context.Context, t *testing.T, url string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProxyRecordsAndForwards(t *testing.T) {
	p := testenv.StartProxy(t, echo(t).URL)
	form := url.Values{"Action": {"AssumeRole"}, "Tags.member.1.Key": {"jit-request"}, "Tags.member.1.Value": {"JIT-7K3QX2"}}
	status, body := post(t.Context(), t, p.URL(), form)
	if status != http.StatusOK || body != form.Encode() {
		t.Fatalf("forwarded call = %d %q, want 200 and the body unchanged", status, body)
	}
	post(t.Context(), t, p.URL(), url.Values{"Action": {"GetRole"}})

	calls := p.Calls("AssumeRole")
	if len(calls) != 1 || p.Count("AssumeRole") != 1 || p.Count("GetRole") != 1 || len(p.Calls("")) != 2 {
		t.Fatalf("recorded %+v", p.Calls(""))
	}
	if c := calls[0]; c.Status != http.StatusOK || c.Params.Get("Tags.member.1.Value") != "JIT-7K3QX2" {
		t.Errorf("recorded call = %+v", c)
	}

	if after := p.CallsAfter(1); len(after) != 1 || after[0].Action != "GetRole" {
		t.Errorf("CallsAfter(1) = %+v, want the GetRole call alone", after)
	}
	if after := p.CallsAfter(2); after != nil {
		t.Errorf("CallsAfter(2) = %+v, want none", after)
	}
	if last := p.LastEnd(); !last.Equal(p.Calls("GetRole")[0].End) {
		t.Errorf("LastEnd = %v, want the end of the last call, %v", last, p.Calls("GetRole")[0].End)
	}

	p.Reset()
	if n := len(p.Calls("")); n != 0 || !p.LastEnd().IsZero() {
		t.Errorf("%d calls recorded after Reset, the last ending %v", n, p.LastEnd())
	}
}

func TestProxyFaults(t *testing.T) {
	p := testenv.StartProxy(t, echo(t).URL)
	call := url.Values{"Action": {"RemoveUserFromGroup"}}

	p.Fail(true)
	s1, _ := post(t.Context(), t, p.URL(), call)
	s2, _ := post(t.Context(), t, p.URL(), call)
	if s1 != http.StatusServiceUnavailable || s2 != 0 {
		t.Errorf("calls during Fail = %d, %d; want 503, then a dropped connection", s1, s2)
	}
	p.Fail(false)
	if s, _ := post(t.Context(), t, p.URL(), call); s != http.StatusOK {
		t.Errorf("call after Fail(false) = %d, want 200", s)
	}
	var statuses []int
	for _, c := range p.Calls("RemoveUserFromGroup") {
		statuses = append(statuses, c.Status)
	}
	if want := []int{503, 0, 200}; !slices.Equal(statuses, want) {
		t.Errorf("recorded statuses %v, want %v", statuses, want)
	}

	p.FailNext("AddUserToGroup", 1)
	other, _ := post(t.Context(), t, p.URL(), call)
	first, _ := post(t.Context(), t, p.URL(), url.Values{"Action": {"AddUserToGroup"}})
	second, _ := post(t.Context(), t, p.URL(), url.Values{"Action": {"AddUserToGroup"}})
	if other != 200 || first != 503 || second != 200 {
		t.Errorf("FailNext: other action %d, first %d, second %d; want 200, 503, 200", other, first, second)
	}
}

func TestProxyStall(t *testing.T) {
	p := testenv.StartProxy(t, echo(t).URL)
	p.Stall(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if s, msg := post(ctx, t, p.URL(), url.Values{"Action": {"GetRole"}}); s != 0 || !strings.Contains(msg, "deadline") {
		t.Errorf("stalled call = %d %q, want the caller's deadline", s, msg)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stalled call took %v against a 100ms deadline", took)
	}

	p.Stall(50 * time.Millisecond)
	start = time.Now()
	if s, _ := post(t.Context(), t, p.URL(), url.Values{"Action": {"GetRole"}}); s != 200 {
		t.Errorf("call after a short stall = %d, want 200", s)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("call took %v, want at least the 50ms stall", took)
	}
}

// TestProxyStallEndsAtCleanup checks that a call stalled for an hour does
// not hold the test up when the proxy is closed.
func TestProxyStallEndsAtCleanup(t *testing.T) {
	upstream := echo(t).URL
	errc := make(chan error, 1)
	start := time.Now()
	t.Run("stalled", func(t *testing.T) {
		p := testenv.StartProxy(t, upstream)
		p.Stall(time.Hour)
		go func() {
			resp, err := http.Post(p.URL(), "application/x-www-form-urlencoded", strings.NewReader("Action=GetRole"))
			if err == nil {
				resp.Body.Close()
				err = errors.New(resp.Status)
			}
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond) // let the call reach the proxy
	})
	select {
	case <-errc:
	case <-time.After(10 * time.Second):
		t.Fatalf("stalled call still blocked 10s after the proxy closed")
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("closing a proxy with a stalled call took %v", took)
	}
}

func TestProxyConcurrentCalls(t *testing.T) {
	p := testenv.StartProxy(t, echo(t).URL)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if i == 10 {
				p.Fail(true)
				p.Fail(false)
				p.Stall(0)
			}
			post(t.Context(), t, p.URL(), url.Values{"Action": {"GetGroup"}})
		})
	}
	wg.Wait()
	if n := p.Count("GetGroup"); n != 20 {
		t.Errorf("Count = %d after 20 concurrent calls", n)
	}
}

// TestProxyHoldAndRewrite: a held action waits, unforwarded, until it is
// released, while other actions pass; a rewritten JSON answer reaches the
// caller changed, and only for its operation; a JSON call's top-level
// strings are its recorded parameters.
func TestProxyHoldAndRewrite(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"Status":"SUCCEEDED"}`)
	}))
	t.Cleanup(upstream.Close)
	p := testenv.StartProxy(t, upstream.URL)
	call := func(op string) (string, error) {
		_, body, err := jsonCall(t, p, op)
		return body, err
	}

	release := p.Hold("DescribeStatus")
	got := make(chan string, 1)
	go func() { body, _ := call("DescribeStatus"); got <- body }()
	deadline := time.Now().Add(5 * time.Second)
	for p.Held("DescribeStatus") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the held call never reached the proxy")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if body, err := call("Other"); err != nil || body != `{"Status":"SUCCEEDED"}` {
		t.Errorf("another action while one is held = %q, %v", body, err)
	}
	select {
	case body := <-got:
		t.Fatalf("the held call was answered before its release: %q", body)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if body := <-got; body != `{"Status":"SUCCEEDED"}` {
		t.Errorf("the released call = %q", body)
	}
	if n := p.Held("DescribeStatus"); n != 0 {
		t.Errorf("Held = %d after the release", n)
	}
	if c := p.Calls("DescribeStatus"); len(c) != 1 || c[0].Params.Get("PrincipalId") != "u-1" || c[0].Params.Has("MaxResults") {
		t.Errorf("recorded JSON call = %+v, want PrincipalId u-1 and no MaxResults (not a string)", c)
	}

	p.Rewrite("Create", func(body map[string]any) { body["Status"] = "IN_PROGRESS" })
	if body, _ := call("Create"); body != `{"Status":"IN_PROGRESS"}` {
		t.Errorf("rewritten answer = %q", body)
	}
	if body, _ := call("Other"); body != `{"Status":"SUCCEEDED"}` {
		t.Errorf("an answer not rewritten = %q", body)
	}
	p.Rewrite("Create", nil)
	if body, _ := call("Create"); body != `{"Status":"SUCCEEDED"}` {
		t.Errorf("answer after Rewrite(nil) = %q", body)
	}
}

// TestProxyErrorNext: the next n calls of an action get the chosen AWS
// error, unforwarded, in the form of the call's protocol; the call after
// them and other actions are forwarded.
func TestProxyErrorNext(t *testing.T) {
	p := testenv.StartProxy(t, echo(t).URL)
	p.ErrorNext("DeleteAccountAssignment", 1, http.StatusBadRequest, "ConflictException")
	call := func(op string) (int, string) {
		resp, body, err := jsonCall(t, p, op)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType") + " " + body
	}
	if s, body := call("Other"); s != http.StatusOK {
		t.Errorf("another action = %d %s, want it forwarded", s, body)
	}
	if s, body := call("DeleteAccountAssignment"); s != http.StatusBadRequest || !strings.Contains(body, `ConflictException {"__type":"ConflictException"`) {
		t.Errorf("first call = %d %s, want 400 ConflictException", s, body)
	}
	if s, body := call("DeleteAccountAssignment"); s != http.StatusOK || body != ` {"PrincipalId":"u-1","MaxResults":2}` {
		t.Errorf("second call = %d %q, want it forwarded", s, body)
	}
	if st := p.Calls("DeleteAccountAssignment"); len(st) != 2 || st[0].Status != http.StatusBadRequest {
		t.Errorf("recorded %+v", st)
	}
	p.ErrorNext("RemoveUserFromGroup", 1, http.StatusConflict, "ConcurrentModification")
	if s, body := post(t.Context(), t, p.URL(), url.Values{"Action": {"RemoveUserFromGroup"}}); s != http.StatusConflict || !strings.Contains(body, "<Code>ConcurrentModification</Code>") {
		t.Errorf("query-protocol call = %d %q, want 409 and the code in AWS's XML", s, body)
	}
}

// jsonCall sends p a call of operation op as the JSON protocols do, and
// returns the answer and its body.
func jsonCall(t *testing.T, p *testenv.Proxy, op string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.URL(), strings.NewReader(`{"PrincipalId":"u-1","MaxResults":2}`))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("X-Amz-Target", "SWBExternalService."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestProxyRefuse: only the matching calls of the action are refused,
// with AWS's AccessDenied, recorded and not forwarded.
func TestProxyRefuse(t *testing.T) {
	p := testenv.StartProxy(t, echo(t).URL)
	p.Refuse("AssumeRole", func(v url.Values) bool { return strings.HasSuffix(v.Get("RoleArn"), ":role/jitbot-member") })
	member := url.Values{"Action": {"AssumeRole"}, "RoleArn": {"arn:aws:iam::222222222222:role/jitbot-member"}}
	if status, body := post(t.Context(), t, p.URL(), member); status != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Errorf("refused call = %d %q, want 403 AccessDenied", status, body)
	}
	other := url.Values{"Action": {"AssumeRole"}, "RoleArn": {"arn:aws:iam::222222222222:role/jit-x"}}
	if status, body := post(t.Context(), t, p.URL(), other); status != http.StatusOK || body != other.Encode() {
		t.Errorf("another role's AssumeRole = %d %q, want it forwarded", status, body)
	}
	if status, _ := post(t.Context(), t, p.URL(), url.Values{"Action": {"GetRole"}, "RoleArn": member["RoleArn"]}); status != http.StatusOK {
		t.Errorf("another action = %d, want it forwarded", status)
	}
	calls := p.Calls("AssumeRole")
	if len(calls) != 2 || calls[0].Status != http.StatusForbidden || calls[1].Status != http.StatusOK {
		t.Errorf("recorded %+v", calls)
	}
}

// TestProxyThrottle: above its burst, a throttled service's calls are
// answered as AWS answers a throttled call, in each protocol's form,
// recorded and not forwarded; other services pass.
func TestProxyThrottle(t *testing.T) {
	p := testenv.StartProxy(t, echo(t).URL)
	p.Throttle("iam", 0.01, 3) // a token per 100 s: none comes back during the test
	p.Throttle("sso", 0.01, 1)
	signed := func(service string, req *http.Request) *http.Request {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/"+service+"/aws4_request, SignedHeaders=host, Signature=0")
		return req
	}
	call := func(service, action string) (int, string) {
		req := signed(service, must(http.NewRequestWithContext(t.Context(), http.MethodPost, p.URL(), strings.NewReader("Action="+action))))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var got []int
	for range 5 {
		s, _ := call("iam", "AddUserToGroup")
		got = append(got, s)
	}
	if !slices.Equal(got, []int{200, 200, 200, 400, 400}) {
		t.Errorf("5 IAM calls at once answered %v; want the burst of 3 forwarded, then 400s", got)
	}
	if s, body := call("iam", "RemoveUserFromGroup"); s != 400 || !strings.Contains(body, "<Code>Throttling</Code><Message>Rate exceeded</Message>") {
		t.Errorf("throttled IAM call = %d %q; want IAM's 400 Throttling, Rate exceeded", s, body)
	}
	if s, _ := call("sts", "AssumeRole"); s != 200 {
		t.Errorf("STS call = %d; want it forwarded, STS is not throttled", s)
	}
	if p.Throttled("AddUserToGroup") != 2 || p.Throttled("") != 3 || p.Count("AddUserToGroup") != 5 {
		t.Errorf("throttled %d AddUserToGroup of %d, %d in all; want 2 of 5, 3", p.Throttled("AddUserToGroup"), p.Count("AddUserToGroup"), p.Throttled(""))
	}

	json := func() *http.Response {
		req := signed("sso", must(http.NewRequestWithContext(t.Context(), http.MethodPost, p.URL(), strings.NewReader(`{}`))))
		req.Header.Set("X-Amz-Target", "SWBExternalService.CreateAccountAssignment")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	json().Body.Close()
	resp := json()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != "ThrottlingException" || string(body) != `{"__type":"ThrottlingException","Message":"Rate exceeded"}` {
		t.Errorf("throttled JSON call = %d %s %s; want 400 ThrottlingException", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}

	p.Throttle("iam", 0, 0)
	if s, _ := call("iam", "AddUserToGroup"); s != 200 {
		t.Errorf("IAM call after Throttle(iam, 0) = %d; want it forwarded", s)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
