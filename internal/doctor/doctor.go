// Package doctor checks the posture jitbot depends on but cannot see from
// its own requests: that the roles of the catalog exist in AWS and give no
// standing path around jitbot (a second principal in a trust policy, a
// group member or an Identity Center assignment without a live grant), and
// that jitbot itself is set up as deployed (Slack scopes, audit channel,
// Redis persistence, signing key). It only reads; every fix is a sentence
// for a person to carry out.
package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jitbot/jitbot/internal/grants"
	"github.com/jitbot/jitbot/internal/rules"
)

// Status is how a finding stands.
type Status string

const (
	OK    Status = "ok"    // as it should be
	Info  Status = "info"  // worth knowing; nothing to fix
	Warn  Status = "warn"  // likely to matter, but not a standing path or a failure
	Wrong Status = "wrong" // a standing path, or something that makes grants fail
	// Error is a check that could not run (AWS out of reach, no
	// permission): the posture it covers is unknown, so it fails the run
	// as Wrong does.
	Error Status = "error"
)

// Finding is one line of the report. The JSON field names are stable:
// scripts read them.
type Finding struct {
	Status Status `json:"status"`
	// Subject is what the finding is about: "role <name>" for a role of
	// the catalog, or a part of jitbot ("slack", "redis", "signing key").
	Subject string `json:"subject"`
	Finding string `json:"finding"`
	// Fix says in one sentence what to do; empty when there is nothing
	// (present all the same, so every object has the same keys).
	Fix string `json:"fix"`
}

// Failed reports whether any finding is Wrong or Error: the run exits 1.
// Warnings alone do not fail it, so a CI job can run doctor on every
// change without breaking on advice.
func Failed(fs []Finding) bool {
	for _, f := range fs {
		if f.Status == Wrong || f.Status == Error {
			return true
		}
	}
	return false
}

// Checker holds what the checks read. A nil part is reported as a check
// that could not run, never skipped in silence.
type Checker struct {
	Catalog *rules.Catalog
	AWS     AWS
	// Members lists who holds a group or an assignment, by backend
	// (grants.BackendGroup, BackendSSO, BackendSSOGroup): the backends
	// jitbot grants with implement it.
	Members map[string]grants.Lister
	// Records are the open records of the store jitbot uses; nil when
	// REDIS_URL is not set, so no grant can be known.
	Records Records
	Redis   Redis // nil when REDIS_URL is not set
	Slack   Slack
	// AuditChannel is JIT_AUDIT_CHANNEL; SigningKeySet whether
	// JIT_SIGNING_KEY is set (the key itself never reaches doctor).
	AuditChannel  string
	SigningKeySet bool
}

// Records reads the open records of jitbot's store (grants.Store.Open).
type Records interface {
	Open(ctx context.Context) ([]*grants.Request, error)
}

// Run runs every check: jitbot's own first, then each role of the
// catalog by name (Catalog.Names).
func (c *Checker) Run(ctx context.Context) []Finding {
	var fs []Finding
	fs = append(fs, c.checkSigningKey()...)
	fs = append(fs, c.checkRedis(ctx)...)
	fs = append(fs, c.checkSlack(ctx)...)
	fs = append(fs, c.checkRoles(ctx)...)
	return fs
}

// WriteTable writes the findings as aligned columns, one finding a line.
func WriteTable(w io.Writer, fs []Finding) error {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSUBJECT\tFINDING\tFIX")
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(f.Status)), f.Subject, oneLine(f.Finding), oneLine(f.Fix))
	}
	tw.Flush()
	// A finding without a fix would end in the padding of its column.
	for line := range strings.Lines(b.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the findings as a JSON array; an empty run is [].
func WriteJSON(w io.Writer, fs []Finding) error {
	if fs == nil {
		fs = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fs)
}

// oneLine keeps a table row on one line whatever an error message holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// errorFinding is a check that could not run, with the error that
// stopped it.
func errorFinding(subject, what string, err error, fix string) Finding {
	return Finding{Status: Error, Subject: subject, Finding: fmt.Sprintf("cannot check %s: %v", what, err), Fix: fix}
}
