package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jitbot/jitbot/internal/rules"
)

// reconcileLoop compares reconciled IAM groups with the grants, and runs
// the lifecycle pass (requesters deactivated in Slack, extensions of ended
// grants: a Slack event missed is caught here), at start and then every
// interval.
func (a *App) reconcileLoop(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := a.svc.Reconcile(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("reconciliation failed; will try again", "err", err, "retry_in", every)
		}
		if err := a.svc.Sweep(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("lifecycle pass failed; will try again", "err", err, "retry_in", every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// catalogPoll is how often the catalog file is checked for changes.
const catalogPoll = 2 * time.Second

// watchCatalog reloads the role catalog on SIGHUP and when the file's
// content changes from loaded (its SHA-256). A catalog that does not load
// is rejected, with its problems posted to the audit channel, and the one
// in force stays.
func (a *App) watchCatalog(ctx context.Context, loaded string) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(catalogPoll)
	defer tick.Stop()
	path := a.cfg.Rules
	tried := loaded // the content last tried, so a bad file is reported once
	for {
		force := false
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			force = true
		case <-tick.C:
		}
		sum, err := fileSHA256(path)
		if err != nil {
			if force {
				a.log.Error("catalog reload failed", "catalog", path, "err", err)
			}
			continue
		}
		if sum == tried && !force {
			continue
		}
		tried = sum
		a.reloadCatalog(path)
	}
}

// reloadCatalog loads the catalog at path and puts it in force if it
// loads and differs from the one in force; either way the audit channel
// is told.
func (a *App) reloadCatalog(path string) {
	c, err := rules.Load(path)
	if err != nil {
		a.log.Error("new catalog rejected; the previous one stays in force", "catalog", path, "err", err)
		a.trail.Announce(fmt.Sprintf("Role catalog %s was changed but does not load, so the previous one (sha256 %.12s) stays in force:\n%v", path, a.svc.Catalog().SHA256, err))
		return
	}
	if c.SHA256 == a.svc.Catalog().SHA256 {
		return
	}
	a.svc.SetCatalog(c)
	a.log.Info("catalog reloaded", "catalog", path, "catalog_sha256", c.SHA256, "roles", len(c.Roles))
	a.trail.Announce(fmt.Sprintf("Role catalog reloaded: %d roles, sha256 %s.", len(c.Roles), c.SHA256))
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
