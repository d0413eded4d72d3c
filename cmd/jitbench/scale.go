package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// The scale phase: the per-person views and the metrics scrape with
// docs/design.md §6's 100,000 open records in the store. The records are
// seeded active grants of 5,000 engineers (20 each, as an organisation of
// 5,000 engineers granting 100,000 a day would have), expiring hours
// after the run, with IAM users that do not exist: nothing here calls
// AWS. The first engineers whose /jit list is timed, one each (jitbot
// answers one person's reads a few times a minute), are users of the
// Slack fake; the others exist only in the store. It runs last: the
// records stay until the bench's Redis goes.

// scaleEngineers is how many engineers the open records belong to.
const scaleEngineers = 5000

// engineers are the scaleEngineers engineers of the scale model, the
// first inSlack of them also users of the Slack fake.
func (b *bench) engineers(inSlack int) []rules.User {
	requesters := make([]rules.User, scaleEngineers)
	for i := range scaleEngineers {
		requesters[i] = rules.User{ID: fmt.Sprintf("US%05d", i), Name: fmt.Sprintf("s%05d", i), Email: fmt.Sprintf("s%05d@example.com", i)}
		if i < inSlack {
			b.st.slack.AddUser(slackfake.User{ID: requesters[i].ID, Name: requesters[i].Name, RealName: "Engineer " + requesters[i].Name, Email: requesters[i].Email})
		}
	}
	return requesters
}

func (b *bench) scale(ctx context.Context) error {
	n := b.cfg.openRecords
	requesters := b.engineers(b.cfg.rolesRuns)
	kind := b.iamGrants()
	kind.spec = func(k int) grantSpec {
		g := k % b.st.lay.groups
		return grantSpec{role: groupRole(g), requester: k % scaleEngineers, principal: fmt.Sprintf("s%06d", k), target: groupName(g)}
	}
	expires, awsIDs := make([]time.Time, n), make([]string, n)
	at := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	for k := range n {
		expires[k], awsIDs[k] = at.Add(time.Duration(k)*time.Millisecond), "bench-scale-"+strconv.Itoa(k)
	}
	// What the earlier phases recorded (hundreds of thousands of calls and
	// messages after revocation_lag_100k) is the bench's own heap: its
	// collector would take the CPU that the figures here measure.
	if err := b.quiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	b.forgetSlack()
	b.st.aws.Reset()
	runtime.GC()
	before, err := b.scrapeTimes(ctx, 20)
	if err != nil {
		return err
	}
	b.logf("scale: seeding %d open records of %d engineers", n, scaleEngineers)
	mem := b.sampleMemory()
	start := time.Now()
	if _, err := b.st.seed(ctx, kind, b.cat, requesters, expires, awsIDs); err != nil {
		return err
	}
	b.logf("scale: seeded in %v", time.Since(start).Round(time.Second))
	if err := b.quiet(ctx, 2*time.Minute); err != nil {
		return err
	}
	b.settle(ctx, time.Minute)
	// The seeding left the bench's heap full of garbage: its collection
	// would run in the bench's own process (the Slack fake that stamps
	// each answer) while the answers are timed.
	runtime.GC()
	if err := b.listAtScale(ctx, n, (n+scaleEngineers-1)/scaleEngineers); err != nil {
		return err
	}
	if err := b.scrapeAtScale(ctx, n, summarize(before)); err != nil {
		return err
	}
	rss := mem.stop()
	b.add(figure{Name: "rss_100k", Unit: unitMiB, Sum: summarize(rss), Target: 150, TargetOnMax: true,
		What: fmt.Sprintf("VmRSS of jitbot sampled every 250 ms from the seeding of %d open records through the list and scrape measurements (max = peak seen); the records expire after the run, so no revocation runs", n)})
	return nil
}

// listAtScale times /jit list for engineers with mine of the n open
// records each, who approve none of them.
func (b *bench) listAtScale(ctx context.Context, n, mine int) error {
	b.profileCPU("list-100k", 5*time.Second)
	var answers []float64
	for i := range b.cfg.rolesRuns {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Finding the answer copies every call the fake recorded, at each
		// look (50 a second): kept from the earlier answers, each a few
		// hundred flattened fields, that made the bench's own collector
		// run, on the process that stamps the answers, more often with
		// each answer (the slowest answers gathered late in the run).
		b.st.slack.Forget()
		user := fmt.Sprintf("US%05d", i%scaleEngineers)
		env, err := b.st.slack.SendSlashCommand(user, benchChannel, "list")
		if err != nil {
			return err
		}
		at, err := b.answer(ctx, env, 10*time.Second)
		if err != nil {
			return fmt.Errorf("/jit list: %w", err)
		}
		e := b.st.slack.Ephemerals(user)
		if len(e) == 0 {
			return fmt.Errorf("/jit list: %s was not answered", user)
		}
		if last := e[len(e)-1]; !strings.Contains(string(last.Blocks), "*Your access*") {
			return fmt.Errorf("/jit list: %s was answered %.400q, not with their access", user, last.Text+string(last.Blocks))
		}
		answers = append(answers, ms(at.Sub(env.SentAt())))
	}
	b.logf("list_100k: slowest answers (by order measured): %s", slowest(answers, 5))
	b.add(figure{Name: "list_100k", Unit: unitMS, Sum: summarize(answers), Target: 5, Emulator: b.slackRTT,
		What: fmt.Sprintf("/jit list by engineers holding %d of %d open records each: envelope sent → answer posted to the response URL", mine, n)})
	return nil
}

// scrapeAtScale times GET /metrics with n open records; before is the
// same with the store as the earlier phases left it, for comparison.
func (b *bench) scrapeAtScale(ctx context.Context, n int, before summary) error {
	b.profileCPU("scrape-100k", 5*time.Second)
	took, err := b.scrapeTimes(ctx, 50)
	if err != nil {
		return err
	}
	f := figure{Name: "scrape_100k", Unit: unitMS, Sum: summarize(took), Target: 20,
		What: fmt.Sprintf("GET /metrics, request sent → body read, with %d open records and the %d-role catalog", n, b.st.lay.roles)}
	f.addExtra("before_seeding_p50_ms", before.P50)
	f.addExtra("before_seeding_p99_ms", before.P99)
	b.add(f)
	return nil
}

// scrapeTimes times n scrapes of the bot's /metrics.
func (b *bench) scrapeTimes(ctx context.Context, n int) ([]float64, error) {
	var took []float64
	for range n {
		start := time.Now()
		body, err := b.scrape(ctx)
		if err != nil {
			return nil, err
		}
		took = append(took, ms(time.Since(start)))
		if !strings.Contains(body, "jitbot_store_up 1") {
			return nil, fmt.Errorf("scrape: the store was not read: %.300s", body)
		}
	}
	return took, nil
}

// scrape reads the bot's /metrics.
func (b *bench) scrape(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(b.httpPort)+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape: status %d, %v", resp.StatusCode, err)
	}
	return string(body), nil
}
