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
// in force stays. It also reads the catalog's organizational units again
// every ouRefresh and on SIGHUP, whether or not the file changed: one
// goroutine does both, so they never race.
func (a *App) watchCatalog(ctx context.Context, loaded string) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(catalogPoll)
	defer tick.Stop()
	ouTick := time.NewTicker(ouRefresh)
	defer ouTick.Stop()
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
		case <-ouTick.C:
			a.refreshOUs(ctx)
			continue
		}
		sum, err := fileSHA256(path)
		if err != nil {
			if force {
				a.log.Error("catalog reload failed", "catalog", path, "err", err)
				a.refreshOUs(ctx)
			}
			continue
		}
		if sum == tried && !force {
			continue
		}
		tried = sum
		if !a.reloadCatalog(ctx, path) && force {
			a.refreshOUs(ctx)
		}
	}
}

// reloadCatalog loads the catalog at path and puts it in force, with the
// accounts of its OUs, if it loads and differs from the one in force;
// either way the audit channel is told. It reports whether it put one in
// force.
func (a *App) reloadCatalog(ctx context.Context, path string) bool {
	c, err := rules.Load(path)
	if err != nil {
		a.log.Error("new catalog rejected; the previous one stays in force", "catalog", path, "err", err)
		a.trail.Announce(fmt.Sprintf("Role catalog %s was changed but does not load, so the previous one (sha256 %.12s) stays in force:\n%v", path, a.svc.Catalog().SHA256, err))
		return false
	}
	if c.SHA256 == a.svc.Catalog().SHA256 {
		return false
	}
	a.catalog = c
	a.svc.SetCatalog(a.withOUs(ctx, c))
	a.reloadWorkloadIssuers(ctx, c)
	a.log.Info("catalog reloaded", "catalog", path, "catalog_sha256", c.SHA256, "roles", len(c.Roles))
	a.trail.Announce(fmt.Sprintf("Role catalog reloaded: %d roles, sha256 %s.", len(c.Roles), c.SHA256))
	return true
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
