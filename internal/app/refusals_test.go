package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/workloadapi"
)

// digestClock is a refusalDigest whose clock the test moves and whose
// posts it reads.
func digestClock() (*refusalDigest, *time.Time, *[]string) {
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	var posts []string
	d := newRefusalDigest(time.Minute, func(s string) { posts = append(posts, s) })
	d.now = func() time.Time { return now }
	return d, &now, &posts
}

func refusal(ip, reason string) workloadapi.Refusal {
	return workloadapi.Refusal{ClientIP: ip, Method: "GET", Path: "/v1/requests/JIT-AAAAAA", Reason: reason}
}

func TestRefusalDigestFolds(t *testing.T) {
	d, now, posts := digestClock()

	d.add(refusal("10.0.0.5", "signature"))
	if len(*posts) != 1 || !strings.Contains((*posts)[0], "from 10.0.0.5 on GET /v1/requests/JIT-AAAAAA: signature") {
		t.Fatalf("the first refusal after a quiet window was not posted at once: %q", *posts)
	}
	// A flood within the window: nothing more until it closes.
	for i := range 500 {
		d.add(refusal("10.0.0.5", "signature"))
		if i%50 == 0 {
			d.add(refusal("10.0.0.9", "audience"))
		}
	}
	if len(*posts) != 1 {
		t.Fatalf("%d posts during the window, want the first only", len(*posts))
	}
	*now = now.Add(time.Minute)
	d.flush()
	if len(*posts) != 2 {
		t.Fatalf("%d posts after the window, want one more", len(*posts))
	}
	folded := (*posts)[1]
	for _, want := range []string{"refused 510 more tokens", "• 500 from 10.0.0.5: signature", "• 10 from 10.0.0.9: audience"} {
		if !strings.Contains(folded, want) {
			t.Errorf("folded post %q does not say %q", folded, want)
		}
	}
	if strings.Index(folded, "10.0.0.5") > strings.Index(folded, "10.0.0.9") {
		t.Errorf("folded post does not put the most refused first: %q", folded)
	}

	// A window with nothing posts nothing; then a refusal right after a
	// folded post waits for the next window; one after a quiet window is
	// posted at once again.
	d.flush()
	d.add(refusal("10.0.0.7", "expired"))
	if len(*posts) != 2 {
		t.Errorf("a refusal right after a post was posted at once")
	}
	*now = now.Add(time.Minute)
	d.flush()
	*now = now.Add(2 * time.Minute)
	d.add(refusal("10.0.0.8", "issuer"))
	if len(*posts) != 4 || !strings.Contains((*posts)[3], "from 10.0.0.8") {
		t.Errorf("posts %q; want the folded 10.0.0.7 and then 10.0.0.8 at once", *posts)
	}
}

func TestRefusalDigestBoundsItsPost(t *testing.T) {
	d, now, posts := digestClock()
	d.add(refusal("10.0.0.1", "first"))
	for i := range 100 {
		d.add(refusal(fmt.Sprintf("10.0.1.%d", i), strings.Repeat("x", 5000)))
	}
	*now = now.Add(time.Minute)
	d.flush()
	folded := (*posts)[1]
	if n := strings.Count(folded, "\n• "); n != maxKinds+1 {
		t.Errorf("%d lines, want %d and a line for the rest", n, maxKinds+1)
	}
	if !strings.Contains(folded, "and 92 other kinds") || len(folded) > 4000 {
		t.Errorf("folded post of %d bytes: %.300q…", len(folded), folded)
	}
}

func TestRefusalDigestPostsWhatIsLeftAtShutdown(t *testing.T) {
	d, _, posts := digestClock()
	d.add(refusal("10.0.0.1", "first"))
	d.add(refusal("10.0.0.1", "second"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(*posts) != 2 || !strings.Contains((*posts)[1], "1 from 10.0.0.1: second") {
		t.Errorf("posts at shutdown %q", *posts)
	}
}
