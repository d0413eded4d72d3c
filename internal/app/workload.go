package app

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/jitbot/jitbot/internal/auditlog"
	"github.com/jitbot/jitbot/internal/credvault"
	"github.com/jitbot/jitbot/internal/rules"
	"github.com/jitbot/jitbot/internal/tokenuse"
	"github.com/jitbot/jitbot/internal/workload"
	"github.com/jitbot/jitbot/internal/workloadapi"
)

// The workload API (JIT_API_ADDR) lets CI jobs and agents request roles
// with an OIDC token instead of a Slack account. It is off unless the
// address is set; then the issuers it trusts are the catalog's
// workload_issuers, and the credentials of its grants wait, sealed, in
// the credential vault for the workload's poll.

// issuerVerifier verifies workload tokens against the issuers of the
// catalog in force. A reload swaps the verifier whole, so a request never
// sees half of one catalog's issuers and half of another's.
type issuerVerifier struct {
	v atomic.Pointer[workload.Verifier]
}

// Verify verifies raw with the current catalog's issuers.
func (iv *issuerVerifier) Verify(ctx context.Context, raw string) (workload.Identity, error) {
	return iv.v.Load().Verify(ctx, raw)
}

// newWorkloadVerifier builds a verifier for c's workload_issuers.
func newWorkloadVerifier(ctx context.Context, c *rules.Catalog) (*workload.Verifier, error) {
	var issuers []workload.Issuer
	for _, is := range c.WorkloadIssuers() {
		issuers = append(issuers, workload.Issuer{Name: is.Name, URL: is.URL, Audience: is.Audience})
	}
	return workload.NewVerifier(ctx, issuers)
}

// openWorkloadAPI builds the vault and the verifier when JIT_API_ADDR is
// set; the vault must exist before subscribe, which puts it ahead of the
// Slack notifiers.
func (a *App) openWorkloadAPI(ctx context.Context) error {
	if a.cfg.APIAddr == "" {
		return nil
	}
	vault, err := credvault.New(a.store.Client(), a.cfg.RedisPrefix, a.cfg.SigningKey.Bytes(), a.log)
	if err != nil {
		return err
	}
	v, err := newWorkloadVerifier(ctx, a.catalog)
	if err != nil {
		return &ConfigError{Err: fmt.Errorf("%s: workload_issuers: %w", a.cfg.Rules, err)}
	}
	a.vault, a.verifier = vault, &issuerVerifier{}
	// a.trail is made later, by subscribe; refusals reach it only once
	// the API serves.
	a.refusals = newRefusalDigest(refusalFold, func(text string) { a.trail.Announce(text) })
	a.verifier.v.Store(v)
	a.warnNoIssuers(a.catalog)
	return nil
}

// warnNoIssuers says at start (and at each reload) why every token is
// refused, instead of leaving it to be found from 401s.
func (a *App) warnNoIssuers(c *rules.Catalog) {
	if len(c.WorkloadIssuers()) == 0 {
		a.log.Warn("JIT_API_ADDR is set but the catalog has no workload_issuers: the workload API refuses every token", "catalog", a.cfg.Rules)
	}
}

// reloadWorkloadIssuers puts c's workload_issuers in force. A catalog
// whose issuers do not build keeps the previous ones, and says so.
func (a *App) reloadWorkloadIssuers(ctx context.Context, c *rules.Catalog) {
	if a.verifier == nil {
		return
	}
	v, err := newWorkloadVerifier(ctx, c)
	if err != nil {
		a.log.Error("workload_issuers of the new catalog rejected; the previous issuers stay trusted", "catalog", a.cfg.Rules, "err", err)
		return
	}
	a.verifier.v.Store(v)
	a.warnNoIssuers(c)
}

// listenWorkloadAPI opens JIT_API_ADDR, so a port in use fails the start
// like the other listeners.
func (a *App) listenWorkloadAPI() error {
	if a.cfg.APIAddr == "" {
		return nil
	}
	var err error
	if a.apiLn, err = net.Listen("tcp", a.cfg.APIAddr); err != nil {
		return fmt.Errorf("listen on JIT_API_ADDR %s: %w", a.cfg.APIAddr, err)
	}
	return nil
}

// serveWorkloadAPI serves the workload API until ctx is done. It is a
// producer: its requests make approval DMs, so it stops before the Slack
// write queue closes.
func (a *App) serveWorkloadAPI(ctx context.Context) error {
	h := workloadapi.New(workloadapi.Options{Verifier: a.verifier, Service: a.svc, Credentials: a.vault,
		Tokens: tokenuse.New(a.store.Client(), a.cfg.RedisPrefix), Logger: a.log, OnRefused: a.auditRefusal})
	a.log.Info("workload API listening", "api_addr", a.apiLn.Addr().String())
	return workloadapi.NewServer(a.cfg.APIAddr, h, 0).Serve(ctx, a.apiLn)
}

// auditRefusal keeps a refused workload token in the durable audit log:
// who tried (the client address), what, and which check failed, and tells
// the audit channel, folded. The API's limit on failed authentications per
// address bounds how many one caller can write.
func (a *App) auditRefusal(ctx context.Context, r workloadapi.Refusal) {
	en := auditlog.Entry{Type: auditlog.TypeTokenRefused, At: r.At.UTC(), Actor: "ip:" + r.ClientIP,
		Outcome: fmt.Sprintf("workload API %s %s: %s", r.Method, r.Path, r.Reason)}
	if _, err := a.evidence.Append(context.WithoutCancel(ctx), en); err != nil {
		a.log.Error("AUDIT ENTRY NOT WRITTEN", "type", en.Type, "client_ip", r.ClientIP, "err", err)
	}
	a.refusals.add(r)
}
