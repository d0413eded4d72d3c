package pace_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/slackapp/pace"
)

// slack is a stand-in for the Web API that answers 429 (Retry-After 1)
// to the calls it is told to refuse, and records when each call came.
type slack struct {
	mu     sync.Mutex
	refuse map[string]int // key → how many more calls to refuse
	calls  map[string][]time.Time
}

func (s *slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	key := path.Base(r.URL.Path)
	if ch := r.Form.Get("channel"); ch != "" {
		key += " " + ch
	}
	s.mu.Lock()
	s.calls[key] = append(s.calls[key], time.Now())
	refuse := s.refuse[key] > 0
	if refuse {
		s.refuse[key]--
	}
	s.mu.Unlock()
	if refuse {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	w.Write([]byte(`{"ok":true}`))
}

func (s *slack) times(key string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls[key])
}

func start(t *testing.T) (*slack, *http.Client, string) {
	s := &slack{refuse: map[string]int{}, calls: map[string][]time.Time{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, &http.Client{Transport: pace.New(nil)}, srv.URL + "/api/"
}

func post(t *testing.T, c *http.Client, base, method string, form url.Values) int {
	t.Helper()
	resp, err := c.Post(base+method, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCallsWaitOutA429Together: after Slack answers a method 429 with
// Retry-After 1, no call of that method goes for a second, and then they
// go one at a time at the method's rate (users.info: 100 a minute), not
// all at once; another method, and the first call, are not held.
func TestCallsWaitOutA429Together(t *testing.T) {
	s, c, base := start(t)
	s.refuse["users.info"] = 1
	limitedAt := time.Now()
	if code := post(t, c, base, "users.info", url.Values{"user": {"U1"}}); code != http.StatusTooManyRequests {
		t.Fatalf("first call: %d, want the 429 given back to the caller", code)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if code := post(t, c, base, "users.info", url.Values{"user": {"U1"}}); code != http.StatusOK {
				t.Errorf("a call after the limit: %d", code)
			}
		})
	}
	post(t, c, base, "chat.update", nil)
	wg.Wait()
	calls := s.times("users.info")[1:]
	if len(calls) != 4 {
		t.Fatalf("%d calls after the 429, want 4", len(calls))
	}
	if first := calls[0].Sub(limitedAt); first < time.Second {
		t.Errorf("a call went %v after a 429 asking for 1s", first)
	}
	if update := s.times("chat.update")[0]; !update.Before(calls[0]) {
		t.Errorf("chat.update reached Slack after the held users.info calls: it waited behind another method's limit")
	}
	// Each call waits for its turn, so the last cannot come before three
	// turns after the first, however late the first was sent.
	step := time.Minute / 100
	if span := calls[3].Sub(calls[0]); span < 3*step-20*time.Millisecond {
		t.Errorf("4 calls within %v, want at least %v apart in all (100 a minute)", span, 3*step)
	}
}

// TestPostMessageIsPacedPerChannel: a 429 on one channel holds back the
// posts to that channel only; a DM never waits behind the audit channel.
func TestPostMessageIsPacedPerChannel(t *testing.T) {
	s, c, base := start(t)
	s.refuse["chat.postMessage CAUDIT"] = 1
	post(t, c, base, "chat.postMessage", url.Values{"channel": {"CAUDIT"}, "text": {"a"}})
	if code := post(t, c, base, "chat.postMessage", url.Values{"channel": {"D123"}, "text": {"b"}}); code != http.StatusOK {
		t.Fatalf("DM: %d", code)
	}
	post(t, c, base, "chat.postMessage", url.Values{"channel": {"CAUDIT"}, "text": {"c"}})
	audit, dm := s.times("chat.postMessage CAUDIT"), s.times("chat.postMessage D123")
	if !dm[0].Before(audit[0].Add(time.Second)) {
		t.Errorf("the DM went %v after the audit channel's 429: it waited behind that channel's limit", dm[0].Sub(audit[0]))
	}
	if len(audit) == 2 && audit[1].Sub(audit[0]) < time.Second {
		t.Errorf("the audit channel's next post went %v after its 429, inside Retry-After", audit[1].Sub(audit[0]))
	}
	if n := len(s.times("chat.postMessage CAUDIT")); n != 2 {
		t.Errorf("%d posts reached the audit channel, want 2", n)
	}
}

// TestHolding: a method is held from its 429 for Window, and no other.
func TestHolding(t *testing.T) {
	s, c, base := start(t)
	tr := c.Transport.(*pace.Transport)
	if tr.Holding("users.info") {
		t.Fatal("users.info held before any 429")
	}
	s.refuse["users.info"] = 1
	post(t, c, base, "users.info", nil)
	if !tr.Holding("users.info") || tr.Holding("users.list") || tr.Holding("users") {
		t.Errorf("after a 429 on users.info: Holding users.info %v, users.list %v, users %v; want true, false, false",
			tr.Holding("users.info"), tr.Holding("users.list"), tr.Holding("users"))
	}
}

// TestNoWaitIsAnsweredAtOnce: while chat.update is paced, a call marked
// NoWait does not queue: the Transport answers it 429 at once, with the
// time to a turn as Retry-After, and Slack is not called; calls queued
// before it keep their turns, and when nothing is paced it goes as usual.
func TestNoWaitIsAnsweredAtOnce(t *testing.T) {
	s, c, base := start(t)
	noWait := func() (int, string, time.Duration) {
		t.Helper()
		req, err := http.NewRequestWithContext(pace.NoWait(context.Background()), http.MethodPost, base+"chat.update", strings.NewReader("channel=CAUDIT&ts=1.1"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		sent := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(sent)
	}
	if code, _, _ := noWait(); code != http.StatusOK {
		t.Fatalf("NoWait call with nothing paced: %d, want it made", code)
	}
	s.refuse["chat.update CAUDIT"] = 1
	post(t, c, base, "chat.update", url.Values{"channel": {"CAUDIT"}, "ts": {"1.1"}})

	code, retry, took := noWait()
	if code != http.StatusTooManyRequests || retry != "1" || took > 200*time.Millisecond {
		t.Errorf("NoWait call inside Retry-After: %d, Retry-After %q, after %v; want 429, 1, at once", code, retry, took)
	}
	time.Sleep(time.Second)
	// Two calls queue for their turns (chat.update: 50 a minute); the
	// NoWait call that comes after them is told to come back later.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if code := post(t, c, base, "chat.update", url.Values{"channel": {"CAUDIT"}, "ts": {"1.1"}}); code != http.StatusOK {
				t.Errorf("queued call: %d", code)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	code, retry, took = noWait()
	if code != http.StatusTooManyRequests || retry == "" || retry == "0" || took > 200*time.Millisecond {
		t.Errorf("NoWait call behind queued ones: %d, Retry-After %q, after %v; want 429 at once", code, retry, took)
	}
	wg.Wait()
	if n := len(s.times("chat.update CAUDIT")); n != 4 {
		t.Errorf("Slack got %d chat.update calls, want 4: the first NoWait call, the refused one and the two queued", n)
	}
}
