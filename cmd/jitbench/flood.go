package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// The incident flood: -flood-requests /jit request commands sent evenly
// over -flood-window, with the Slack fake enforcing Slack's published
// limits (chat.postMessage about once a second per channel, the tiers per
// method, 429 with Retry-After), each approval clicked as soon as its DM
// arrives. Measured: request sent → approval DM in the approver's DM (the
// fake's own time of the message); and that nothing is lost: every
// request granted, the audit channel showing every grant (in its thread or
// in a digest), and the durable log holding each request's requested,
// approved and granted entries. The requests go to floodRoles roles with an
// approver each (catalog.go says why).

// floodReason marks request i in its reason, which the approval DM quotes.
var floodReason = regexp.MustCompile(`flood request (\d+):`)

func (b *bench) incidentFlood(ctx context.Context) error {
	n, window := b.cfg.floodRequests, b.cfg.floodWindow
	if err := b.quiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	b.st.slack.Forget()
	b.st.slack.EnforceRateLimits(true)
	defer b.st.slack.EnforceRateLimits(false)
	b.profileCPU("incident-flood", window+10*time.Second)

	fl := &flood{sent: make([]time.Time, n), dmAt: make([]time.Time, n), ids: make([]string, n)}
	approving, stop := context.WithCancel(ctx)
	defer stop()
	var clicker sync.WaitGroup
	clicker.Go(func() { b.approveAsDMsCome(approving, fl) })

	start := time.Now()
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Until(start.Add(time.Duration(int64(window) * int64(i) / int64(n)))))
		text := fmt.Sprintf("request %s 15m --incident INC-9001 flood request %d: the payments database is down", floodRole(i%floodRoles), i)
		fl.mu.Lock()
		fl.sent[i] = time.Now()
		fl.mu.Unlock()
		if _, err := b.st.slack.SendSlashCommand(userID(i%b.st.lay.users), benchChannel, text); err != nil {
			return err
		}
	}
	sentIn := time.Since(start)
	b.logf("incident flood: %d requests sent in %v", n, sentIn.Round(time.Millisecond))
	dmsErr := waitFor(ctx, "every approval DM of the flood", 3*time.Minute, func() bool { return fl.clicked() == n })
	grantsErr := waitFor(ctx, "every flood request granted", 10*time.Minute, func() bool { return b.floodGranted(ctx, fl) == n })
	stop()
	clicker.Wait()
	allGranted := time.Since(start)
	auditErr := waitFor(ctx, "every flood grant shown in the audit channel", 5*time.Minute, func() bool {
		return len(floodUnshown(b.st.slack.Messages(auditChannel), fl.requestIDs())) == 0
	})
	return b.addFlood(ctx, fl, floodOutcome{sentIn: sentIn, allGranted: allGranted, errs: []error{dmsErr, grantsErr, auditErr}})
}

// flood is what the flood phase learns as it goes.
type flood struct {
	mu   sync.Mutex
	sent []time.Time // when request i was sent
	dmAt []time.Time // when its approval DM reached the fake; zero until then
	ids  []string    // its request ID, from the DM
}

func (fl *flood) clicked() int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	n := 0
	for _, id := range fl.ids {
		if id != "" {
			n++
		}
	}
	return n
}

func (fl *flood) requestIDs() []string {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	var ids []string
	for _, id := range fl.ids {
		if id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// approveAsDMsCome watches the flood approvers' DMs and clicks Approve on
// each approval DM as it arrives, until ctx ends.
func (b *bench) approveAsDMsCome(ctx context.Context, fl *flood) {
	seen := map[string]bool{}
	for ctx.Err() == nil {
		for k := range floodRoles {
			for _, m := range b.st.slack.DMs(floodApprover(k)) {
				if seen[m.TS] || !strings.Contains(string(m.Blocks), "jit_approve") {
					continue
				}
				seen[m.TS] = true
				i, id, ok := floodRequestOf(m)
				if !ok || i >= len(fl.ids) {
					continue
				}
				fl.mu.Lock()
				fl.dmAt[i], fl.ids[i] = m.Time(), id
				fl.mu.Unlock()
				if _, err := b.st.slack.SendClick(floodApprover(k), m.Channel, m.TS, "jit_approve", id); err != nil {
					b.logf("incident flood: click on %s: %v", id, err)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// floodRequestOf reads which flood request an approval DM is about.
func floodRequestOf(m slackfake.Message) (i int, id string, ok bool) {
	text := m.Text + string(m.Blocks)
	match := floodReason.FindStringSubmatch(text)
	id = requestIDPattern.FindString(text)
	if match == nil || id == "" {
		return 0, "", false
	}
	i, err := strconv.Atoi(match[1])
	return i, id, err == nil
}

// floodGranted counts the flood's requests that are active (or already
// expired or ended: granted once).
func (b *bench) floodGranted(ctx context.Context, fl *flood) int {
	n := 0
	for _, id := range fl.requestIDs() {
		r, err := b.st.store.Get(ctx, grants.RequestID(id))
		if err == nil && !r.GrantedAt.IsZero() {
			n++
		}
	}
	return n
}

// floodUnshown are the request IDs whose grant the audit channel does not
// show: neither in a reply in the request's thread nor in a digest's
// section about it.
func floodUnshown(msgs []slackfake.Message, ids []string) []string {
	parentOf := map[string]string{}  // request ID → parent ts
	replies := map[string][]string{} // parent ts → reply texts
	digested := map[string]bool{}    // request IDs a digest shows granted
	for _, m := range msgs {
		switch {
		case strings.HasPrefix(m.Text, "Audit digest"):
			for _, section := range strings.Split(m.Text, "\n\n") {
				if id := requestIDPattern.FindString(section); id != "" && strings.HasPrefix(section, "`"+id+"`") && strings.Contains(section, "granted") {
					digested[id] = true
				}
			}
		case m.ThreadTS == "" || m.ThreadTS == m.TS:
			if id := requestIDPattern.FindString(m.Text + string(m.Blocks)); id != "" {
				parentOf[id] = m.TS
			}
		default:
			replies[m.ThreadTS] = append(replies[m.ThreadTS], m.Text)
		}
	}
	var unshown []string
	for _, id := range ids {
		if digested[id] || strings.Contains(strings.Join(replies[parentOf[id]], "\n"), "granted") {
			continue
		}
		unshown = append(unshown, id)
	}
	return unshown
}

// floodOutcome is how the flood's waits ended.
type floodOutcome struct {
	sentIn, allGranted time.Duration
	errs               []error
}

func (b *bench) addFlood(ctx context.Context, fl *flood, out floodOutcome) error {
	fl.mu.Lock()
	var lags []float64
	missingDMs := 0
	for i := range fl.sent {
		if fl.dmAt[i].IsZero() {
			missingDMs++
			continue
		}
		lags = append(lags, ms(fl.dmAt[i].Sub(fl.sent[i])))
	}
	fl.mu.Unlock()
	ids := fl.requestIDs()
	msgs := b.st.slack.Messages(auditChannel)
	unshown := floodUnshown(msgs, ids)
	unlogged, err := b.floodUnlogged(ctx, ids)
	if err != nil {
		return err
	}
	posts, limited := 0, 0
	for _, c := range b.st.slack.Calls("") {
		switch {
		case c.Error == "ratelimited":
			limited++
		case c.Method == "chat.postMessage" && c.Params.Get("channel") == auditChannel:
			posts++
		}
	}
	n := len(fl.sent)
	f := figure{Name: "incident_flood", Unit: unitMS, Sum: summarize(lags), Target: 2000,
		What: fmt.Sprintf("%d /jit request over %v (%d roles, an approver each) with the Slack fake enforcing Slack's limits, each approved as its DM came: request sent → approval DM at the fake", n, out.sentIn.Round(time.Second), floodRoles)}
	f.Extra = map[string]float64{
		"requests": float64(n), "approval_dms_missing": float64(missingDMs),
		"granted": float64(b.floodGranted(ctx, fl)), "all_granted_after_s": out.allGranted.Seconds(),
		"audit_posts": float64(posts), "audit_grants_not_shown": float64(len(unshown)),
		"log_entries_missing": float64(unlogged), "slack_calls_answered_429": float64(limited),
	}
	var problems []string
	for _, err := range out.errs {
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	if missingDMs > 0 || len(unshown) > 0 || unlogged > 0 || len(problems) > 0 {
		f.Lost, b.keepWork = true, true
		f.Note = fmt.Sprintf("lost: %d approval DMs, %d grants not in the audit channel, %d durable log entries; %s", missingDMs, len(unshown), unlogged, strings.Join(problems, "; "))
		b.findings = append(b.findings, "incident_flood: "+f.Note)
	}
	b.add(f)
	return nil
}

// floodUnlogged counts the requested, approved and granted entries the
// durable audit log lacks for ids.
func (b *bench) floodUnlogged(ctx context.Context, ids []string) (int, error) {
	opts, err := redis.ParseURL(b.st.redis.URL())
	if err != nil {
		return 0, err
	}
	client := redis.NewClient(opts)
	defer client.Close()
	entries, err := auditlog.New(client, "jitbot", nil).Read(ctx, "-", 0)
	if err != nil {
		return 0, err
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Entry.RequestID+" "+e.Entry.Type] = true
	}
	missing := 0
	for _, id := range ids {
		for _, typ := range []grants.EventType{grants.EventRequested, grants.EventApproved, grants.EventGranted} {
			if !have[id+" "+string(typ)] {
				missing++
			}
		}
	}
	return missing, nil
}
