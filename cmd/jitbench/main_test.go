package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTinyRun runs the whole bench end to end on a tiny configuration (the
// real bot, redis-server, moto and the Slack fake, a restart included) and
// checks what it writes: every figure, well-formed, in the JSON and in
// BENCHMARKS.md, with the text around the generated block kept.
func TestTinyRun(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "BENCHMARKS.md")
	js := filepath.Join(dir, "bench", "latest.json")
	const intro, outro = "# jitbot benchmarks\n\nHand-written analysis.\n\n", "\n\n## Scale model\n\nKept.\n"
	if err := os.WriteFile(md, []byte(intro+beginMarker+"\nold table\n"+endMarker+outro), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"-grants", "60", "-window", "3s", "-restart-at", "-1", "-burst", "40",
		"-requests", "20", "-request-window", "1s", "-approvals", "3", "-roles", "12", "-roles-runs", "5",
		"-lifecycles", "1", "-rtt-samples", "5", "-sso-grants", "20", "-sso-window", "2s", "-open-records", "300", "-throttled-burst", "50", "-flood-requests", "30", "-flood-window", "2s", "-grants-100k", "200", "-window-100k", "3s", "-work", filepath.Join(dir, "work"), "-out", md, "-json", js,
	}
	var stdout, stderr bytes.Buffer
	start := time.Now()
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	t.Logf("tiny run took %v", time.Since(start))

	want := []string{
		"moto_rtt", "slack_rtt", "redis_rtt", "store_open", "revocation_lag", "rss_10k_grants", "burst_revocation_lag", "revocation_lag_sso",
		"roles_answer", "roles_ack", "approve_to_credentials_own", "approve_to_credentials_total",
		"redis_round_trips_per_lifecycle", "slash_ack", "slash_answer", "takeover", "iam_throttled_burst", "incident_flood", "revocation_lag_100k", "list_100k", "scrape_100k", "rss_100k",
	}
	targets := map[string]string{ // docs/design.md §6: figure → its JSON target field
		"revocation_lag": "target_ms", "revocation_lag_sso": "target_ms", "slash_ack": "target_ms", "approve_to_credentials_own": "target_ms",
		"roles_answer": "target_ms", "rss_10k_grants": "target_mib", "takeover": "target_ms", "iam_throttled_burst": "target_ms", "incident_flood": "target_ms", "revocation_lag_100k": "target_ms", "list_100k": "target_ms", "scrape_100k": "target_ms", "rss_100k": "target_mib",
	}
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Figures map[string]map[string]any `json:"figures"`
		Machine map[string]any            `json:"machine"`
		Command string                    `json:"command"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("latest.json is not JSON: %v\n%s", err, data)
	}
	if doc.Machine["cpus"] == nil || doc.Machine["memory_mib"] == nil || !strings.Contains(doc.Command, "-grants 60") {
		t.Errorf("machine %v, command %q", doc.Machine, doc.Command)
	}
	for _, name := range want {
		f, ok := doc.Figures[name]
		if !ok {
			t.Errorf("figure %s missing from latest.json", name)
			continue
		}
		suffix := "_ms"
		switch f["unit"] {
		case unitMiB:
			suffix = "_mib"
		case unitCount:
			suffix = ""
		}
		var p50, max float64
		for _, p := range []string{"p50", "p95", "p99", "max"} {
			v, ok := f[p+suffix].(float64)
			if !ok || v <= 0 {
				t.Errorf("%s: %s%s = %v, want a positive number", name, p, suffix, f[p+suffix])
			}
			switch p {
			case "p50":
				p50 = v
			case "max":
				max = v
			}
		}
		if p50 > max {
			t.Errorf("%s: p50 %v above max %v", name, p50, max)
		}
		if field, ok := targets[name]; ok {
			if _, ok := f[field].(float64); !ok {
				t.Errorf("%s has no %s: %v", name, field, f)
			}
			if _, ok := f["met"].(bool); !ok {
				t.Errorf("%s has no met: %v", name, f)
			}
		}
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("the printed table has no %s", name)
		}
	}
	if n := doc.Figures["revocation_lag"]["n"]; n != float64(60) {
		t.Errorf("revocation_lag measured %v grants, want 60", n)
	}
	if sso := doc.Figures["revocation_lag_sso"]; sso["n"] != float64(20) || sso["aws_calls_per_revocation"] == nil {
		t.Errorf("revocation_lag_sso = %v, want 20 grants and their AWS calls counted", sso)
	}
	if n := doc.Figures["revocation_lag_100k"]["n"]; n != float64(200) {
		t.Errorf("revocation_lag_100k measured %v grants, want 200", n)
	}
	if fl := doc.Figures["incident_flood"]; fl["requests"] != float64(30) || fl["granted"] != float64(30) || fl["audit_grants_not_shown"] != float64(0) || fl["log_entries_missing"] != float64(0) {
		t.Errorf("incident_flood = %v, want 30 requests, all granted, shown and logged", fl)
	}
	if m := doc.Figures["burst_revocation_lag"]["max_in_flight_remove"]; m == nil || m.(float64) < 1 {
		t.Errorf("burst: max_in_flight_remove = %v", m)
	}

	out, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.HasPrefix(s, intro+beginMarker) || !strings.HasSuffix(s, endMarker+outro) || strings.Contains(s, "old table") {
		t.Errorf("BENCHMARKS.md did not keep the text around the generated block or kept the old one:\n%s", s)
	}
	for _, name := range want {
		if !strings.Contains(s, "`"+name+"`") {
			t.Errorf("BENCHMARKS.md has no row for %s", name)
		}
	}
}

func TestLagSecondsGroupsByExpiry(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	gs := []seeded{
		{expires: t0.Add(1500 * time.Millisecond)},
		{expires: t0.Add(100 * time.Millisecond)},
		{expires: t0.Add(1900 * time.Millisecond)},
		{expires: t0.Add(1200 * time.Millisecond)},
	}
	secs := lagSeconds(gs, []float64{300, 5, 20, 1000}, 250)
	if len(secs) != 2 {
		t.Fatalf("%d seconds, want 2: %+v", len(secs), secs)
	}
	if s := secs[0]; !s.at.Equal(t0) || s.n != 1 || s.late != 0 || s.maxLag != 5 {
		t.Errorf("first second %+v, want 1 grant at %v, none late, max 5", s, t0)
	}
	if s := secs[1]; !s.at.Equal(t0.Add(time.Second)) || s.n != 3 || s.late != 2 || s.maxLag != 1000 {
		t.Errorf("second second %+v, want 3 grants, 2 over 250 ms, max 1000", s)
	}
}

func TestSlowestNamesTheLargestWithTheirPlaces(t *testing.T) {
	if got, want := slowest([]float64{1, 9, 3, 9.5, 2}, 2), "#3 9.50, #1 9.00"; got != want {
		t.Errorf("slowest = %q, want %q", got, want)
	}
}
