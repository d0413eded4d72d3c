package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// progressEvery is how often at most the waiting line is printed again: a
// CI log is read by people, and one line a poll would bury the rest.
const progressEvery = 30 * time.Second

// waiter follows a request until it is decided.
type waiter struct {
	c         *apiClient
	stderr    io.Writer
	approvers []string
	start     time.Time
	said      time.Time // when the progress line was last printed
}

// wait polls the request with ?wait= until it is active or has ended, and
// returns it when active; any other end is an exitError with its code, the
// reason printed. Interrupted, it says the id so the job can release it.
//
// r is the POST's answer, which never carries credentials: a request the
// catalog approved at once may already be active in it, and is read once
// more for them.
func (w *waiter) wait(ctx context.Context, r *apiRequest) (*apiRequest, error) {
	w.start = time.Now()
	for read := false; ; read = true {
		done, err := w.settled(r)
		if done && (read || err != nil) {
			return r, err
		}
		if !done {
			w.progress(r)
		}
		next, err := w.c.get(ctx, r.ID)
		if ctx.Err() != nil {
			fmt.Fprintf(w.stderr, "jitbot: interrupted while waiting for request %s; it may still be granted: end it with jitbot release %s\n", r.ID, r.ID)
			return nil, exitError{1}
		}
		if err != nil {
			return nil, fmt.Errorf("following request %s: %w (it may still be granted: end it with jitbot release %s)", r.ID, err, r.ID)
		}
		r = next
	}
}

// settled reports whether r's state ends the wait, and how.
func (w *waiter) settled(r *apiRequest) (bool, error) {
	switch r.State {
	case "pending", "granting", "revoking":
		return false, nil
	case "active":
		return true, nil
	case "denied":
		fmt.Fprintf(w.stderr, "jitbot: request %s was denied%s\n", r.ID, because(r.DenyReason))
		return true, exitError{3}
	case "timed_out":
		fmt.Fprintf(w.stderr, "jitbot: request %s timed out: nobody decided in time\n", r.ID)
		return true, exitError{4}
	}
	why := cmp.Or(r.Failure, r.RevokeReason, r.Notice)
	fmt.Fprintf(w.stderr, "jitbot: request %s is %s%s\n", r.ID, r.State, because(why))
	return true, exitError{1}
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

// progress prints the waiting line, at most every progressEvery.
func (w *waiter) progress(r *apiRequest) {
	now := time.Now()
	if !w.said.IsZero() && now.Sub(w.said) < progressEvery {
		return
	}
	w.said = now
	elapsed := now.Sub(w.start).Truncate(time.Minute)
	what := "for " + r.ID + " to be " + r.State
	if r.State == "pending" {
		what = "for approval of " + r.ID
		if len(w.approvers) > 0 {
			what += " by " + strings.Join(w.approvers, ", ")
		}
	}
	fmt.Fprintf(w.stderr, "jitbot: waiting %s (%s elapsed)\n", what, minutes(elapsed))
}

func minutes(d time.Duration) string {
	return fmt.Sprintf("%dm", int(d.Minutes()))
}

// awsCredentials is the credentials object of the API's answer, which is
// already what an AWS credential_process prints.
type awsCredentials struct {
	Version         int       `json:"Version"`
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expiration      time.Time `json:"Expiration"`
}

// printGrant prints an active request's credentials in format.
func printGrant(r *apiRequest, format string, stdout io.Writer) error {
	if format == "json" {
		_, err := stdout.Write(r.raw)
		return err
	}
	var c awsCredentials
	if len(r.Credentials) == 0 || json.Unmarshal(r.Credentials, &c) != nil || c.AccessKeyID == "" {
		return errors.New("request " + r.ID + " is active but jitbot handed out no credentials: its role grants access another way (group membership, SSO), so there is nothing to print")
	}
	if format == "credential_process" {
		return json.NewEncoder(stdout).Encode(c)
	}
	vars := map[string]string{
		"AWS_ACCESS_KEY_ID":     c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": c.SecretAccessKey,
		"AWS_SESSION_TOKEN":     c.SessionToken,
	}
	if !c.Expiration.IsZero() {
		vars["AWS_CREDENTIAL_EXPIRATION"] = c.Expiration.UTC().Format(time.RFC3339)
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "export %s=%s\n", n, shellQuote(vars[n]))
	}
	_, err := io.WriteString(stdout, b.String())
	return err
}

// shellQuote quotes s for a POSIX shell: inside single quotes nothing is
// special but the single quote itself.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
